"""A real forward HTTP proxy on loopback for the tests, recording every request it relays.

`ForwardProxy` runs an aiohttp server in its own thread and event loop and
relays absolute-form requests (`GET http://127.0.0.2:PORT/path HTTP/1.1`, as
clients send them to an HTTP proxy) to the origin with aiohttp, bytes as
they are (no decompression, no redirects, no cookies of its own). It drops
hop-by-hop headers both ways, as RFC 9110 §7.6.1 asks. With `credentials`
it answers 407 to a request without the right `Proxy-Authorization`. It only
binds loopback addresses. (No CONNECT: the tests crawl plain-http origins.)
"""

from __future__ import annotations

import asyncio
import base64
import threading
from dataclasses import dataclass

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

_HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "content-length",
})


def basic(user: str, password: str) -> str:
    """The `Basic` credentials header value (RFC 7617)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@dataclass(frozen=True)
class Relayed:
    """One request the proxy received."""

    method: str
    url: str  # absolute, as the client asked for it
    headers: dict[str, str]  # lower-case names, as received (Proxy-Authorization included)
    status: int  # what the proxy answered


class ForwardProxy:
    """`with ForwardProxy() as proxy:` ... `proxy.url`, `proxy.requests`."""

    def __init__(self, *, host: str = "127.0.0.1",
                 credentials: tuple[str, str] | None = None) -> None:
        if not host.startswith("127."):
            raise ValueError(f"tests only listen on loopback addresses, not {host!r}")
        self.host = host
        self.port = 0
        self.credentials = credentials
        self._expected = basic(*credentials) if credentials else None
        self._lock = threading.Lock()
        self._requests: list[Relayed] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.ServerRunner | None = None
        self._client: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        """The proxy's URL, with its credentials when it wants some."""
        auth = f"{self.credentials[0]}:{self.credentials[1]}@" if self.credentials else ""
        return f"http://{auth}{self.host}:{self.port}"

    @property
    def requests(self) -> list[Relayed]:
        with self._lock:
            return list(self._requests)

    @property
    def urls(self) -> list[str]:
        return [r.url for r in self.requests]

    def start(self) -> ForwardProxy:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"proxy-{self.host}")
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._loop is None:
            return
        loop, self._loop = self._loop, None
        asyncio.run_coroutine_threadsafe(self._stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()

    def __enter__(self) -> ForwardProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _start(self) -> None:
        self._client = aiohttp.ClientSession(
            auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=30))
        self._runner = web.ServerRunner(web.Server(self._relay, access_log=None),
                                        shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, 0).start()
        self.port = self._runner.addresses[0][1]

    async def _stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._client is not None:
            await self._client.close()

    async def _relay(self, request: web.BaseRequest) -> web.StreamResponse:
        headers = {k.lower(): v for k, v in request.headers.items()}
        if self._expected is not None and headers.get("proxy-authorization") != self._expected:
            self._record(request, headers, 407)
            return web.Response(status=407, text="proxy credentials, please",
                                headers={"Proxy-Authenticate": 'Basic realm="tests"'})
        if not request.url.is_absolute() or request.url.scheme != "http":
            self._record(request, headers, 400)
            return web.Response(status=400, text="absolute http:// URLs only")
        assert self._client is not None
        sent = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP]
        async with self._client.request(request.method, request.url, headers=sent,
                                        data=await request.read(),
                                        allow_redirects=False) as answer:
            body = await answer.read()
            back = [(k, v) for k, v in answer.headers.items() if k.lower() not in _HOP_BY_HOP]
            self._record(request, headers, answer.status)
            return web.Response(body=body, status=answer.status, headers=CIMultiDict(back))

    def _record(self, request: web.BaseRequest, headers: dict[str, str], status: int) -> None:
        with self._lock:
            self._requests.append(Relayed(request.method, str(request.url), headers, status))
