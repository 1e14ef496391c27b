"""A raw HTTP/1.1 server on loopback that misbehaves on purpose: it dribbles, hangs,
never ends, or sends compression bombs.

`tests/site.py` serves well-formed pages through aiohttp; this server writes
every byte of its answers itself, so a test controls each pause and each
header. Each path maps to a `Behaviour`, a coroutine that writes one whole
response. Every behaviour is bounded in bytes and in time (`MAX_SECONDS`), and
stops as soon as the client goes away; the `Tally` of each request says what
was sent and whether the client left first.

It only ever binds loopback addresses (127.0.0.0/8).
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

MAX_SECONDS = 20.0  # no behaviour runs longer than this, whatever it was asked to do
_CHUNK = 64 * 1024
_GONE = (ConnectionError, BrokenPipeError)


@dataclass
class Tally:
    """What the server did for one request."""

    path: str
    arrived: float  # time.monotonic()
    sent: int = 0  # body bytes written to the socket
    client_left: bool = False  # the client closed the connection before the answer ended
    ended: float | None = None  # when the behaviour stopped, for whatever reason

    @property
    def duration(self) -> float:
        return (self.ended or time.monotonic()) - self.arrived


Behaviour = Callable[[asyncio.StreamReader, asyncio.StreamWriter, Tally], Awaitable[None]]


def head(status: int = 200, headers: Mapping[str, str] | None = None, *,
         length: int | None = None) -> bytes:
    """A status line and headers; `Connection: close` so each request has its own socket."""
    lines = [f"HTTP/1.1 {status} X"]
    if length is not None:
        lines.append(f"Content-Length: {length}")
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _send(writer: asyncio.StreamWriter, tally: Tally, data: bytes) -> None:
    writer.write(data)
    await writer.drain()
    tally.sent += len(data)


def answer(body: bytes | str, *, status: int = 200,
           content_type: str | None = "text/html; charset=utf-8",
           headers: Mapping[str, str] | None = None) -> Behaviour:
    """A well-formed response (the page that links to the bad ones)."""
    data = body.encode() if isinstance(body, str) else body
    extra = {"Content-Type": content_type} if content_type else {}
    extra.update(headers or {})

    async def behave(_r: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     tally: Tally) -> None:
        writer.write(head(status, extra, length=len(data)))
        await _send(writer, tally, data)
    return behave


def dribble(size: int = 100_000, every: float = 0.1) -> Behaviour:
    """Announce `size` bytes, then send one every `every` seconds (never fast enough)."""
    async def behave(_r: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     tally: Tally) -> None:
        writer.write(head(200, {"Content-Type": "text/html"}, length=size))
        for _ in range(size):
            await _send(writer, tally, b" ")
            await asyncio.sleep(every)
    return behave


def hang(seconds: float = MAX_SECONDS) -> Behaviour:
    """Read the request, answer nothing; stop when the client gives up (or after `seconds`)."""
    async def behave(reader: asyncio.StreamReader, _w: asyncio.StreamWriter,
                     tally: Tally) -> None:
        with contextlib.suppress(TimeoutError):
            if await asyncio.wait_for(reader.read(1), seconds) == b"":
                tally.client_left = True
    return behave


def endless(limit: int = 2 * 1024**3, *, declare: bool = False,
            headers: Mapping[str, str] | None = None) -> Behaviour:
    """A body that goes on until the client leaves (or `limit` bytes); with `declare`
    its Content-Length says `limit`, else it has none (it ends when the socket does)."""
    chunk = b"<p>" + b"x" * (_CHUNK - 3)
    extra = {"Content-Type": "text/html", **(headers or {})}

    async def behave(_r: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     tally: Tally) -> None:
        writer.write(head(200, extra, length=limit if declare else None))
        while tally.sent < limit:
            await _send(writer, tally, chunk)
    return behave


def encoded(data: bytes, encoding: str, content_type: str = "text/html") -> Behaviour:
    """`data` as it is, labelled with Content-Encoding `encoding` (a bomb, for instance)."""
    async def behave(_r: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     tally: Tally) -> None:
        headers = {"Content-Type": content_type, "Content-Encoding": encoding}
        writer.write(head(200, headers, length=len(data)))
        for start in range(0, len(data), _CHUNK):
            await _send(writer, tally, data[start:start + _CHUNK])
    return behave


def gzip_bomb(size: int = 1024**3) -> bytes:
    """A valid gzip stream of `size` zero bytes (a multiple of 1 MiB), about size/1000 long.

    Built without compressing `size` bytes: after a full flush deflate starts
    afresh, so every MiB of zeros compresses to the same block, repeated.
    """
    mib = bytes(1024 * 1024)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = deflate.compress(mib) + deflate.flush(zlib.Z_FULL_FLUSH)
    assert deflate.compress(mib) + deflate.flush(zlib.Z_FULL_FLUSH) == block
    crc = 0
    for _ in range(size // len(mib)):
        crc = zlib.crc32(mib, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return header + block * (size // len(mib)) + deflate.flush() + trailer


def brotli_bomb(size: int = 1024**3) -> bytes:
    """A brotli stream of `size` zero bytes (needs the Brotli package); ~0.2 s to build."""
    import brotli

    mib = bytes(1024 * 1024)
    compressor = brotli.Compressor(quality=1)
    parts = [compressor.process(mib) for _ in range(size // len(mib))]
    return b"".join(parts) + compressor.finish()


async def _not_found(_r: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     tally: Tally) -> None:
    writer.write(head(404, {"Content-Type": "text/plain"}, length=9))
    await _send(writer, tally, b"not found")


class BadServer:
    """Serves `routes` ({path: Behaviour}) on one loopback host, in its own thread."""

    def __init__(self, routes: Mapping[str, Behaviour], *, host: str = "127.0.0.1") -> None:
        if not host.startswith("127."):
            raise ValueError(f"tests only serve on loopback addresses, not {host!r}")
        self.routes = dict(routes)
        self.host = host
        self.port = 0
        self._lock = threading.Lock()
        self._tallies: list[Tally] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/") -> str:
        return f"http://{self.host}:{self.port}{path}"

    @property
    def tallies(self) -> list[Tally]:
        with self._lock:
            return list(self._tallies)

    def tally(self, path: str, *, timeout: float = 5.0) -> Tally:
        """The (only) request made for `path`, once its behaviour has stopped.

        The server learns that a client left on its next write, a moment after
        the crawl has moved on: wait for that rather than read a tally mid-way.
        """
        deadline = time.monotonic() + timeout
        while True:
            (found,) = [t for t in self.tallies if t.path == path]
            if found.ended is not None or time.monotonic() > deadline:
                return found
            time.sleep(0.01)

    def start(self) -> BadServer:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"badserver-{self.host}")
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self._loop is None:
            return
        loop, self._loop = self._loop, None
        asyncio.run_coroutine_threadsafe(self._stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()

    async def _stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            request = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            path = request.split(b" ", 2)[1].decode("latin-1")
            tally = Tally(path, time.monotonic())
            with self._lock:
                self._tallies.append(tally)
            await self._behave(self.routes.get(path, _not_found), reader, writer, tally)
        except (TimeoutError, asyncio.IncompleteReadError, *_GONE):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _behave(self, behaviour: Behaviour, reader: asyncio.StreamReader,
                      writer: asyncio.StreamWriter, tally: Tally) -> None:
        try:
            await asyncio.wait_for(behaviour(reader, writer, tally), MAX_SECONDS)
        except _GONE:
            tally.client_left = True
        except TimeoutError:
            pass
        finally:
            tally.ended = time.monotonic()
