"""The HTTP fetcher (aiohttp): one pooled session, bounded in time and size.

Implements the `Fetcher` Protocol of `crawler.fetch.base`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from types import SimpleNamespace, TracebackType

import aiohttp
from multidict import CIMultiDict
from yarl import URL

from crawler.config import FetchConfig, secrets
from crawler.errors import FetchError, InvalidURLError
from crawler.fetch.base import CHUNK, PAGE, FetchOptions, Sent
from crawler.fetch.cookies import Jar
from crawler.fetch.hosts import HostRules
from crawler.fetch.proxies import Proxies, Proxy
from crawler.models import Request, Response

log = logging.getLogger(__name__)

# on_proxy_failure(request, message): a proxy failed on this request (it is tried on another).
ProxyFailure = Callable[[Request, str], None]


class HttpFetcher:
    """Owns the aiohttp session: `open()` ... `close()`, or `async with HttpFetcher(config)`.

    With `fetch.cookies` it keeps a `cookie_jar` (`crawler.fetch.cookies.Jar`,
    made when it opens), which the crawl restores and saves; without, the
    cookies responses set are dropped. `on_proxy_failure(request, message)`
    hears of each proxy that failed (the crawl records it), and
    `proxies.summary()` counts what each proxy did. It can tell when each
    request leaves (`tell_sent`, through aiohttp's client tracing).
    """

    def __init__(self, config: FetchConfig, *,
                 on_proxy_failure: ProxyFailure | None = None) -> None:
        self.config = config
        self.cookie_jar: Jar | None = None
        self.on_proxy_failure = on_proxy_failure
        self.proxies: Proxies | None = None
        self._hosts: HostRules | None = None
        self._session: aiohttp.ClientSession | None = None
        self._sent: Sent | None = None

    def tell_sent(self, sent: Sent | None) -> bool:
        """Call `sent(request, url, at)` as each request's headers go out, redirect hops
        followed inside a fetch included (`crawler.fetch.base.tell_sent`).

        Asked before `open`: the session is made with the trace then, and
        without it otherwise, so nothing is traced when nobody listens.
        """
        if self._session is not None:
            return False  # open already, without the trace
        self._sent = sent
        return True

    async def __aenter__(self) -> HttpFetcher:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def open(self) -> None:
        """Start the session; secrets named in the config are read from the environment
        here (a ConfigError when one is not set)."""
        config = self.config
        self._hosts, self.proxies = HostRules(config), Proxies(config)
        self.cookie_jar = Jar() if config.cookies else None
        connector = aiohttp.TCPConnector(
            limit=config.concurrency, limit_per_host=0, ttl_dns_cache=300,
            enable_cleanup_closed=True,
        )
        headers = CIMultiDict((name, secrets.expand(value)) for name, value in config.headers)
        headers.setdefault("User-Agent", config.user_agent)
        headers.setdefault("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
        self._session = aiohttp.ClientSession(
            connector=connector, headers=headers,
            cookie_jar=aiohttp.DummyCookieJar() if self.cookie_jar is None else self.cookie_jar,
            # sock_read bounds each wait for bytes (a server that never answers);
            # total bounds the whole request, body included (one that dribbles).
            timeout=aiohttp.ClientTimeout(total=config.timeout,
                                          sock_connect=config.connect_timeout,
                                          sock_read=config.read_timeout),
            auto_decompress=True, raise_for_status=False,
            trace_configs=None if self._sent is None else [self._trace_sent(self._sent)],
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @staticmethod
    def _trace_sent(sent: Sent) -> aiohttp.TraceConfig:
        """aiohttp's hook for the moment a request's headers are written out (then at
        once, with no wait between, for a request without a body) as `sent`."""
        async def headers_sent(session: aiohttp.ClientSession, context: SimpleNamespace,
                               params: aiohttp.TraceRequestHeadersSentParams) -> None:
            request = context.trace_request_ctx
            if request is not None:  # a request of ours (the fetch passes itself)
                sent(request, str(params.url), time.monotonic())

        trace = aiohttp.TraceConfig()
        trace.on_request_headers_sent.append(headers_sent)
        return trace

    async def fetch(self, request: Request, options: FetchOptions = PAGE) -> Response:
        """Send `request`; raises FetchError (with its `kind`) when no response came.

        With `max_redirects` 0 (the engine's way) a 3xx comes back as it is, for
        the caller to follow hop by hop; above 0 aiohttp follows up to that many
        (robots.txt, sitemaps) and more is a FetchError of kind `redirect`.

        A body over the size limit comes back empty with `too_large` saying
        why, or with `truncate` cut there. The limit counts bytes after content
        decoding, and aiohttp decodes gzip, deflate and brotli incrementally
        under flow control, so a compression bomb stops at the limit too:
        neither its memory nor its decoding time goes past it.

        `want_body(response)` sees the status and headers first; when it says
        no, the response comes back with an empty body, which was never read
        (the connection is closed rather than drained).

        Through proxies, a proxy that fails is benched and the request sent
        again at once through the next (`crawler.fetch.proxies`).
        """
        session = self._open_session()
        url = URL(request.url, encoded=True)  # canonical URLs are encoded already
        headers, route = self._route(request, url)
        for proxy in route:
            started = time.monotonic()
            try:
                with _client_errors(started, self.config, proxy):
                    # aiohttp raises on its max_redirects-th redirect, so it follows one fewer.
                    async with session.request(
                            request.method, url, data=request.body, headers=headers,
                            proxy=proxy.url if proxy else None,
                            allow_redirects=options.max_redirects > 0,
                            max_redirects=options.max_redirects + 1,
                            trace_request_ctx=request) as resp:
                        _check_proxy_answer(resp, proxy)
                        return await _read(request, resp, options, self.config, started)
            except ProxyError as exc:
                self._proxy_failed(request, exc, route)
        raise AssertionError("unreachable: the last proxy's failure is raised")

    @contextlib.asynccontextmanager
    async def stream(self, request: Request, *, max_redirects: int = 5
                     ) -> AsyncIterator[HttpBodyStream]:
        """GET `request.url` and hand over its body chunk by chunk, never all of it at once.

        aiohttp follows up to `max_redirects` redirects and undoes
        Content-Encoding (in bounded pieces). Raises FetchError like `fetch`.
        """
        session = self._open_session()
        url = URL(request.url, encoded=True)
        headers, route = self._route(request, url)
        for proxy in route:
            started = time.monotonic()
            try:
                with _client_errors(started, self.config, proxy):
                    resp = await session.get(url, headers=headers, allow_redirects=True,
                                             proxy=proxy.url if proxy else None,
                                             max_redirects=max_redirects + 1,  # see fetch()
                                             trace_request_ctx=request)
                    _check_proxy_answer(resp, proxy)
                break
            except ProxyError as exc:
                self._proxy_failed(request, exc, route)
        try:
            yield HttpBodyStream(resp, started, self.config)
        finally:
            if resp.content.at_eof():
                resp.release()
            else:  # left unread (a cap, an error): the connection cannot be reused
                resp.close()

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("HttpFetcher is not open")
        return self._session

    def _route(self, request: Request, url: URL) -> tuple[Mapping[str, str] | None,
                                                           list[Proxy | None]]:
        """The request's headers (the host's from `fetch.hosts` under its own), and the
        proxies to try in order ([None]: direct)."""
        assert self._hosts is not None and self.proxies is not None
        if not self._hosts and not self.proxies:
            return request.headers, [None]
        host = self._hosts.for_host(url.host or "")
        headers = request.headers
        if host.headers:
            headers = {**host.headers, **(headers or {})}
        return headers, self.proxies.route(url, host.proxies)

    def _proxy_failed(self, request: Request, exc: ProxyError,
                      route: list[Proxy | None]) -> None:
        """Bench the proxy, tell the crawl, and raise if it was the last one to try."""
        assert self.proxies is not None and exc.proxy is not None
        self.proxies.failed(exc.proxy, str(exc))
        position = route.index(exc.proxy)
        following = route[position + 1] if position + 1 < len(route) else None
        message = f"{exc}; " + (f"trying {following.name}" if following else
                                f"no other proxy to try ({len(route)} tried)")
        log.warning("%s: %s", request.url, message)
        if self.on_proxy_failure is not None:
            self.on_proxy_failure(request, message)
        if following is None:
            raise FetchError(message, kind="proxy") from None


class HttpBodyStream:
    """A response whose body is read in chunks: `while chunk := await stream.read(): ...`."""

    def __init__(self, resp: aiohttp.ClientResponse, started: float,
                 config: FetchConfig) -> None:
        self._resp = resp
        self._started = started
        self._config = config
        self.url = str(resp.url)  # after redirects
        self.status = resp.status
        self.headers = resp.headers
        self.content_type = resp.content_type if "Content-Type" in resp.headers else None
        encoding = resp.headers.get("Content-Encoding", "").strip().lower()
        self.encoded = encoding not in ("", "identity")  # aiohttp undoes it as it reads
        self.received = 0  # body bytes handed out (after Content-Encoding is undone)

    @property
    def raw_bytes(self) -> int:
        """Body bytes as sent: `received`, or with Content-Encoding the compressed bytes
        aiohttp has taken in so far (a little ahead of what was handed out)."""
        if not self.encoded:
            return self.received
        return int(getattr(self._resp.content, "total_raw_bytes", self.received))

    async def read(self, size: int = CHUNK) -> bytes:
        """The next chunk of at most `size` bytes; b"" at the end."""
        with _client_errors(self._started, self._config):
            chunk = await self._resp.content.read(size)
        self.received += len(chunk)
        return chunk


class ProxyError(FetchError):
    """A proxy failed (unreachable, refused the tunnel, 407): try another."""

    kind = "proxy"

    def __init__(self, proxy: Proxy, message: str) -> None:
        super().__init__(f"proxy {proxy.name} failed: {message}")
        self.proxy = proxy


def _check_proxy_answer(resp: aiohttp.ClientResponse, proxy: Proxy | None) -> None:
    """A 407 from a plain-http proxy is the proxy refusing us, not the site answering."""
    if proxy is not None and resp.status == 407:
        resp.close()
        raise ProxyError(proxy, "407 Proxy Authentication Required")


@contextlib.contextmanager
def _client_errors(started: float, config: FetchConfig,
                   proxy: Proxy | None = None) -> Iterator[None]:
    """aiohttp's and the socket's exceptions as FetchError with the `kind` errors stores;
    through a proxy, the proxy's own failures as ProxyError."""
    if proxy is not None:
        proxy.requests += 1
    try:
        yield
    except ProxyError:
        raise
    except (aiohttp.ClientProxyConnectionError, aiohttp.ClientHttpProxyError) as exc:
        if proxy is None:
            raise FetchError(_describe(exc), kind="connection") from None
        raise ProxyError(proxy, _describe(exc)) from None
    except aiohttp.ConnectionTimeoutError as exc:
        if proxy is not None:  # the connection that timed out was to the proxy
            raise ProxyError(proxy, f"connect timed out after {config.connect_timeout:g}s"
                             ) from None
        raise FetchError(_timed_out(exc, time.monotonic() - started, config),
                         kind="timeout") from None
    except TimeoutError as exc:
        raise FetchError(_timed_out(exc, time.monotonic() - started, config),
                         kind="timeout") from None
    except aiohttp.InvalidURL as exc:
        raise InvalidURLError(f"invalid URL: {exc}") from None
    except aiohttp.TooManyRedirects as exc:
        raise FetchError(f"too many redirects: {exc}", kind="redirect") from None
    except (aiohttp.ClientError, OSError, ValueError, UnicodeError) as exc:
        raise FetchError(_describe(exc), kind="connection") from None


async def _read(request: Request, resp: aiohttp.ClientResponse, options: FetchOptions,
                config: FetchConfig, started: float) -> Response:
    """The response: headers always, the body if `want_body` wants it, within the cap."""
    response = _response(request, resp)
    want_body = options.want_body
    if want_body is None or want_body(response):
        limit = options.max_body_size or config.max_body_size
        await _read_body(resp, response, limit, truncate=options.truncate)
    response.elapsed = time.monotonic() - started
    return response


async def _read_body(resp: aiohttp.ClientResponse, response: Response, limit: int, *,
                     truncate: bool) -> None:
    """Read the body into `response`, never past `limit` (decoded) bytes.

    Leaving early is what bounds an endless body or a bomb: the caller's
    `async with` then closes the connection instead of reading the rest.
    """
    declared = resp.content_length  # of the encoded body, when it is not chunked
    if not truncate and declared is not None and declared > limit:
        response.too_large = (f"Content-Length {declared} exceeds max_body_size "
                              f"({limit} bytes)")
        return
    chunks: list[bytes] = []
    size = 0
    while chunk := await resp.content.read(CHUNK):
        size += len(chunk)
        if size > limit:
            if not truncate:
                response.too_large = _too_large(resp, limit)
                return
            chunks.append(chunk[: limit - (size - len(chunk))])
            break
        chunks.append(chunk)
    response.body = b"".join(chunks) if len(chunks) != 1 else chunks[0]


def _too_large(resp: aiohttp.ClientResponse, limit: int) -> str:
    encoding = resp.headers.get("Content-Encoding")
    decoded = f" once decoded from {encoding}" if encoding else ""
    return f"body exceeds max_body_size ({limit} bytes){decoded}"


def _response(request: Request, resp: aiohttp.ClientResponse) -> Response:
    """The response as far as the headers: the body and the elapsed time come later."""
    has_type = bool(resp.headers.get("Content-Type", "").strip())
    return Response(
        url=str(resp.url), request=request, status=resp.status, headers=resp.headers,
        body=b"", content_type=resp.content_type if has_type else None,
        charset=resp.charset, request_headers=resp.request_info.headers,
    )


def _timed_out(exc: TimeoutError, elapsed: float, config: FetchConfig) -> str:
    """Which of the three timeouts fired, for the errors row."""
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return f"connect timed out after {config.connect_timeout:g}s"
    if isinstance(exc, aiohttp.SocketTimeoutError):
        return f"read timed out: no data for {config.read_timeout:g}s"
    return f"timed out after {elapsed:.1f}s (fetch.timeout {config.timeout:g}s)"


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"

