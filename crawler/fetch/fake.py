"""An in-memory fetcher: answers from a dict, for tests without sockets or clocks.

    fake = FakeFetcher({
        "http://a.test/": "<html><a href='/b'>b</a></html>",  # 200 text/html
        "http://a.test/b": [503, 503, "<html>ok</html>"],  # one per fetch, the last repeats
        "http://a.test/old": redirect("/b"),
        "http://a.test/robots.txt": FakeAnswer(body="User-agent: *", content_type="text/plain"),
        "http://a.test/down": FetchError("refused", kind="connection"),
        "http://a.test/echo": lambda request: f"<html>{request.meta['q']}</html>",
    })
    async with fake:
        response = await fake.fetch(Request("http://a.test/"))
    assert fake.fetched("http://a.test/") == 1

URLs are compared in their canonical form, query parameters sorted (so
"http://a.test:80/robots.txt", which is how robots.txt is asked for, finds
"http://a.test/robots.txt", and "/v?b=1&a=2" finds "/v?a=2&b=1" whatever
form the crawl asks for);
an unknown URL answers 404, or the fake's `default` answer. The fake keeps the whole contract of
`crawler.fetch.base` (body cap, `want_body`, redirects, streaming, open/close)
so the page pipeline behaves as it would over HTTP, and it never sleeps: a
response's `elapsed` is 0.0.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from types import TracebackType
from typing import TypeAlias
from urllib.parse import urljoin

from multidict import CIMultiDict

from crawler.errors import FetchError, RedirectError
from crawler.fetch.base import PAGE, BodyStream, FetchOptions, buffered_stream
from crawler.models import Request, Response
from crawler.urls import DEFAULT_FORM, Rejected

MAX_BODY_SIZE = 10 * 1024 * 1024  # the HTTP fetcher's default (FetchConfig.max_body_size)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})  # those aiohttp follows


@dataclass(frozen=True, slots=True)
class FakeAnswer:
    """One response in full, when a body or a status alone is not enough."""

    status: int = 200
    body: bytes | str = b""  # a str is encoded with `charset` (UTF-8 when None)
    headers: Mapping[str, str] = field(default_factory=dict)  # Location, Retry-After, ...
    content_type: str | None = "text/html"  # None: no Content-Type header
    charset: str | None = None


def redirect(location: str, status: int = 301) -> FakeAnswer:
    """A redirect to `location` (absolute, or relative to the URL that answers it)."""
    return FakeAnswer(status=status, headers={"Location": location}, content_type=None)


# What a URL answers: a page body, a status, a FakeAnswer, an error to raise, or a
# callable that decides per request; a list of them answers one per fetch.
Answer: TypeAlias = "str | bytes | int | FakeAnswer | FetchError | Callable[[Request], Answer]"
Answers: TypeAlias = "Answer | list[Answer]"


class FakeFetcher:
    """A `Fetcher` over a mapping URL -> answer that records what it was asked.

    `requests` lists every request passed to `fetch` or `stream`, in order;
    `fetched(url)` counts the times `url` answered, redirect hops included
    (what a server's log would show).
    """

    def __init__(self, answers: Mapping[str, Answers] | None = None, *, default: Answer = 404,
                 max_body_size: int = MAX_BODY_SIZE) -> None:
        self.answers: dict[str, Answers] = {_key(u): a for u, a in (answers or {}).items()}
        empty = [url for url, answer in self.answers.items() if answer == []]
        if empty:
            raise ValueError(f"an empty list of answers for {empty}")
        self.default = default  # what a URL not in `answers` answers
        self.max_body_size = max_body_size  # when FetchOptions.max_body_size is None
        self.requests: list[Request] = []
        self.opened = 0  # times open() was called
        self.closed = 0  # times close() was called
        self._served: Counter[str] = Counter()

    def fetched(self, url: str) -> int:
        """How many times `url` answered."""
        return self._served[_key(url)]

    async def open(self) -> None:
        self.opened += 1

    async def close(self) -> None:
        self.closed += 1

    async def __aenter__(self) -> FakeFetcher:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def fetch(self, request: Request, options: FetchOptions = PAGE) -> Response:
        """The answer for `request.url` within the bounds of `options`; raises FetchError."""
        if not self.opened:
            raise RuntimeError("FakeFetcher is not open")
        if self.closed:
            raise RuntimeError("FakeFetcher is closed")
        self.requests.append(request)
        response, body = self._follow(request, options.max_redirects)
        if options.want_body is not None and not options.want_body(response):
            return response  # the body stays unread, as over HTTP
        limit = self.max_body_size if options.max_body_size is None else options.max_body_size
        if len(body) <= limit:
            response.body = body
        elif options.truncate:
            response.body = body[:limit]
        else:
            response.too_large = f"body exceeds max_body_size ({limit} bytes)"
        return response

    def stream(self, request: Request, *,
               max_redirects: int = 5) -> AbstractAsyncContextManager[BodyStream]:
        """The answer's body in chunks, cut at the fake's own `max_body_size`."""
        return buffered_stream(self, request, max_redirects=max_redirects)

    def _follow(self, request: Request, max_redirects: int) -> tuple[Response, bytes]:
        """The response (body still apart) after up to `max_redirects` hops."""
        url = request.url
        for _ in range(max_redirects + 1):
            response, body = self._serve(request, url)
            location = response.headers.get("Location")
            if not max_redirects or response.status not in REDIRECT_STATUSES or location is None:
                return response, body
            # urljoin keeps an absolute Location as it is written, as the map's keys are.
            url = urljoin(url, location)
        raise RedirectError(f"too many redirects: more than {max_redirects} from {request.url}")

    def _serve(self, request: Request, url: str) -> tuple[Response, bytes]:
        """What `url` answers this time, as a response without its body, and the body."""
        key = _key(url)
        self._served[key] += 1
        answer = self.answers.get(key, self.default)
        if isinstance(answer, list):
            answer = answer[min(self._served[key], len(answer)) - 1]
        # A callable answering a hop sees the hop's URL, as a server would.
        resolved = _resolve(answer, request if url == request.url else replace(request, url=url))
        return _response(request, url, resolved), _encoded(resolved)


def _key(url: str) -> str:
    """`url` canonical (default port dropped, ...), or as given when it is not a URL."""
    try:
        return DEFAULT_FORM.canonicalize(url)
    except Rejected:
        return url


def _resolve(answer: Answer, request: Request) -> FakeAnswer:
    """An answer as a FakeAnswer; an error answer is raised."""
    while callable(answer):
        answer = answer(request)
    if isinstance(answer, FetchError):
        raise answer.with_traceback(None)  # served again: no traceback piled on the last one
    if isinstance(answer, FakeAnswer):
        return answer
    if isinstance(answer, int):
        return FakeAnswer(status=answer)
    if isinstance(answer, str):
        return FakeAnswer(body=answer, charset="utf-8")
    if isinstance(answer, bytes):
        return FakeAnswer(body=answer)
    raise TypeError(f"not a fake answer: {answer!r}")


def _response(request: Request, url: str, answer: FakeAnswer) -> Response:
    media_type, charset = _content_type(answer)
    headers = CIMultiDict(answer.headers)
    if media_type is not None and "Content-Type" not in headers:
        headers["Content-Type"] = media_type + (f"; charset={charset}" if charset else "")
    return Response(url=url, request=request, status=answer.status, headers=headers, body=b"",
                    content_type=media_type, charset=charset, elapsed=0.0,
                    request_headers=request.headers)


def _content_type(answer: FakeAnswer) -> tuple[str | None, str | None]:
    """The media type, lower case, and the charset: FakeAnswer.charset, else a
    `charset=` written in content_type ("text/html; charset=iso-8859-1")."""
    media_type, _, params = (answer.content_type or "").partition(";")
    declared = None
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            declared = value.strip().strip('"') or None
    return media_type.strip().lower() or None, answer.charset or declared


def _encoded(answer: FakeAnswer) -> bytes:
    if isinstance(answer.body, bytes):
        return answer.body
    return answer.body.encode(_content_type(answer)[1] or "utf-8")
