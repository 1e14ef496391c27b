"""The fetcher seam: a request goes in, a response comes out, bounded in time and size.

Everything that asks the network for something (pages, robots.txt, sitemaps)
goes through a `Fetcher`, so an HTTP client, a browser or an in-memory fake
can stand behind it, alone or mounted by URL pattern (`crawler.fetch.mounts`).

The contract every fetcher keeps:

- `fetch` returns a `Response` or raises `FetchError` whose `kind` is the
  `errors.kind` to record (`connection`, `timeout`, `redirect`,
  `invalid_url`, `proxy`). It never raises anything else for a bad server.
- It is bounded: no request costs more than the fetcher's timeouts, and no
  body more than `FetchOptions.max_body_size` bytes (after content
  decoding). A body over the cap is not an exception: the response comes
  back with its status and headers, an empty body and `too_large` set to
  why (or, with `truncate`, with the body cut at the cap).
- `want_body(response)` sees the status and headers first; when it says no,
  the body is not read (the response comes back with `b""`).
- Redirects are returned as they are (`max_redirects=0`, the engine follows
  them hop by hop) unless the caller asks the fetcher to follow some.
- `stream` hands a body over in chunks (sitemaps, which may be 50 MB), and
  `open`/`close` bracket the fetcher's life: the crawl opens the fetcher it
  is given and closes it at the end.
- Optionally, it tells when each request leaves for the server (`tell_sent`
  below): a host's delay counts from then. A fetcher that cannot tell (the
  fake, one of your own) need do nothing: the delay counts from when the
  fetch began.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from crawler.models import Request, Response

CHUNK = 64 * 1024  # bytes a stream hands out at a time

# sent(request, url, at): `request` left for the server at `at` (time.monotonic()); for a
# redirect the fetcher followed inside the fetch, `url` is the hop's.
Sent = Callable[[Request, str, float], None]


@dataclass(frozen=True, slots=True)
class FetchOptions:
    """How one fetch is bounded and what of it to read."""

    max_body_size: int | None = None  # bytes after decoding; None: the fetcher's own cap
    truncate: bool = False  # over the cap: keep the first max_body_size bytes (robots.txt)
    max_redirects: int = 0  # followed inside the fetch; 0: a 3xx is returned as it is
    want_body: Callable[[Response], bool] | None = None  # None: always read the body


PAGE = FetchOptions()  # what the engine asks for a page


class BodyStream(Protocol):
    """A response whose body is read in chunks: `while chunk := await body.read(): ...`."""

    # Read-only (properties), so an implementation may hold a narrower type
    # (aiohttp's CIMultiDictProxy for the headers, say).
    @property
    def url(self) -> str:
        """The URL that answered, after the redirects the fetcher followed."""

    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content_type(self) -> str | None:
        """The media type, lower case; None when the header is missing."""

    @property
    def encoded(self) -> bool:
        """The body came with a Content-Encoding the fetcher undoes as it reads."""

    @property
    def raw_bytes(self) -> int:
        """Body bytes as sent so far (compressed ones when `encoded`)."""

    async def read(self, size: int = CHUNK) -> bytes:
        """The next chunk of at most `size` bytes; b"" at the end. Raises FetchError."""


class Fetcher(Protocol):
    """What the crawl needs of anything that fetches."""

    async def open(self) -> None:
        """Get ready (a connection pool, a browser); called once before the first fetch."""

    async def close(self) -> None:
        """Release what `open` took; called once at the end of the crawl."""

    async def fetch(self, request: Request, options: FetchOptions = PAGE) -> Response:
        """GET `request.url` within the bounds of `options`; raises FetchError."""

    def stream(self, request: Request, *,
               max_redirects: int = 5) -> AbstractAsyncContextManager[BodyStream]:
        """GET `request.url` and hand the body over chunk by chunk; raises FetchError."""


class BufferedStream:
    """A `BodyStream` over a response already in memory.

    For fetchers that cannot stream (a browser, the fake): `stream` can be
    `buffered_stream(self, request)`, bounded by the fetcher's own body cap.
    """

    def __init__(self, response: Response) -> None:
        self.url = response.url
        self.status = response.status
        self.headers = response.headers
        self.content_type = response.content_type
        self.encoded = False
        self.received = 0
        self._body = response.body

    @property
    def raw_bytes(self) -> int:
        return self.received

    async def read(self, size: int = CHUNK) -> bytes:
        chunk = self._body[self.received:self.received + size]
        self.received += len(chunk)
        return chunk


def tell_sent(fetcher: Fetcher, sent: Sent | None) -> bool:
    """Ask `fetcher` to call `sent` as each of its requests leaves, from its next `open`
    on (None: stop); False when it cannot tell.

    A fetcher that can has a method `tell_sent(sent) -> bool` doing just that;
    one that wraps others asks them (`Mounts`: True only if all of them can).
    The crawl asks before it opens the fetcher, and then holds a host's next
    request until the previous one was sent, so a request held up between the
    start of its fetch and the wire (a pooled connection, a busy event loop)
    does not shorten the gap the server sees.
    """
    tell = getattr(fetcher, "tell_sent", None)
    return bool(tell(sent)) if tell is not None else False


@contextlib.asynccontextmanager
async def buffered_stream(fetcher: Fetcher, request: Request, *,
                          max_redirects: int = 5) -> AsyncIterator[BodyStream]:
    """`fetcher.stream` for a fetcher that can only fetch whole bodies."""
    response = await fetcher.fetch(request, FetchOptions(max_redirects=max_redirects,
                                                         truncate=True))
    yield BufferedStream(response)
