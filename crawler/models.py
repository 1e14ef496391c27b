"""Request, Response and Item: the three things a spider sees."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import InitVar, dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

from multidict import CIMultiDict, CIMultiDictProxy
from selectolax.lexbor import LexborHTMLParser, LexborNode
from yarl import URL

from crawler import urls
from crawler.html import content
from crawler.html.parser import ParsedPage, css, css_first, parse_page

Callback = Callable[["Response"], Any]

SITEMAP = "sitemap"  # Request.kind of a sitemap fetch (see crawler/sitemaps/reader.py)


@dataclass(slots=True, eq=False)
class Request:
    """A URL to fetch, with the callback that will parse its response.

    `url` is whatever the spider gave; the scheduler replaces it with the
    canonical form (keeping the original in `href`) when it accepts the request.

    A GET unless told otherwise: `Request(url, form={"user": "me", ...})` is a
    POST of a form (a login), `method=` and `body=` say anything else. A
    request with a body is never written to the crawl file (it may hold a
    password): it lives in memory for the run, and dedupe knows only its URL,
    so give a login `dont_filter=True` when it posts to a page you also crawl.
    """

    url: str
    callback: Callback | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    headers: Mapping[str, str] | None = None
    priority: int = 0
    depth: int = 0
    referrer: str | None = None
    href: str | None = None
    dont_filter: bool = False  # bypass deduplication (still scoped)
    tries: int = 0  # failed attempts so far (retries are scheduled by the engine)
    failures: tuple[str, ...] = ()  # why each failed attempt failed
    last_hash: str | None = None  # a recrawl: the content hash of the body the last crawl got
    # What the response is read as: "page" (parsed, stored, called back) or
    # "sitemap" (streamed to crawler.sitemaps.reader; what it lists is scheduled).
    kind: str = "page"
    # The redirects that led here, as (status, URL that answered it) hops; plain
    # data so a frontier can store it. Set by the engine when it follows a 3xx.
    redirects: tuple[tuple[int, str], ...] = ()
    frontier_id: int | None = field(default=None, repr=False)  # its row in a durable frontier
    method: str = "GET"
    body: bytes | None = field(default=None, repr=False)
    form: InitVar[Mapping[str, str] | None] = None  # a form to POST, url-encoded into `body`

    def __post_init__(self, form: Mapping[str, str] | None) -> None:
        if form is not None:
            self.body = urlencode(form).encode()
            self.headers = {**(self.headers or {}),
                            "Content-Type": "application/x-www-form-urlencoded"}
            if self.method == "GET":
                self.method = "POST"
        if self.method != "GET":
            self.method = self.method.upper()


@dataclass(frozen=True, slots=True)
class Screenshot:
    """A PNG of a rendered page: the whole page, or the viewport only."""

    png: bytes
    full_page: bool


@dataclass(slots=True, frozen=True)
class Item:
    """What a spider yields besides requests: a typed JSON object."""

    type: str
    data: Mapping[str, Any]


class Response:
    """A fetched page. HTML is parsed lazily, once, the first time it is needed."""

    def __init__(self, *, url: str, request: Request, status: int,
                 headers: CIMultiDictProxy[str] | CIMultiDict[str], body: bytes,
                 content_type: str | None = None, charset: str | None = None,
                 elapsed: float = 0.0,
                 request_headers: Mapping[str, str] | None = None) -> None:
        self.url = url
        self.request = request
        self.status = status
        self.headers = headers
        self.body = body
        self.content_type = content_type
        self.elapsed = elapsed
        self.request_headers = request_headers
        # Set by the fetcher when the body passed its size cap: why, and the body is empty.
        self.too_large: str | None = None
        # "browser" when the body is the DOM a browser rendered (crawler.fetch.render).
        self.fetched_by = "http"
        self.screenshot: Screenshot | None = None  # a rendered page's, when asked for
        self._charset = charset
        self._parsed: ParsedPage | None = None

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.url}>"

    @property
    def meta(self) -> dict[str, Any]:
        return self.request.meta

    @property
    def is_html(self) -> bool:
        """text/html or application/xhtml+xml, or untyped with a body that looks like HTML."""
        return content.is_html(self.content_type, self.body)

    @cached_property
    def encoding(self) -> str:
        """The charset: a BOM, the header's, `<meta charset>`, else UTF-8 or a detected one."""
        return content.charset_of(self._charset, self.body)

    @cached_property
    def text(self) -> str:
        """The body decoded; undecodable bytes become U+FFFD, never an exception."""
        return content.decode(self.body, self.encoding)

    @property
    def parsed(self) -> ParsedPage:
        if self._parsed is None:
            self._parsed = parse_page(self.body, self.url, self.encoding)
        return self._parsed

    @property
    def parsed_page(self) -> ParsedPage | None:
        """The parsed page if the engine parsed it (HTML), without parsing anything."""
        return self._parsed

    @parsed.setter
    def parsed(self, page: ParsedPage) -> None:
        self._parsed = page

    @property
    def tree(self) -> LexborHTMLParser:
        return self.parsed.tree

    @property
    def title(self) -> str | None:
        return self.parsed.title

    def css(self, selector: str) -> list[LexborNode]:
        """Nodes matching a CSS selector (selectolax/Lexbor syntax)."""
        return css(self.tree, selector)

    def css_first(self, selector: str) -> LexborNode | None:
        """The first node matching a CSS selector, or None."""
        return css_first(self.tree, selector)

    def links(self) -> list[str]:
        """Canonical absolute URLs of the page's http(s) links, in page order, unique."""
        return list(dict.fromkeys(link.url for link in self.parsed.links if link.url))

    def urljoin(self, href: str) -> str:
        """`href` resolved against this page; left as it is when it cannot be (the
        scheduler then records it as an invalid URL instead of the spider crashing)."""
        try:
            return str(urls.parse_url(self.url).join(URL(href.strip())))
        except (ValueError, TypeError):
            return href

    def unparsed_copy(self) -> Response:
        """The same response (its body shared, not copied) without the parsed tree, which
        is parsed again if asked: for code that keeps a response after the engine is done."""
        copy = Response(url=self.url, request=self.request, status=self.status,
                        headers=self.headers, body=self.body, content_type=self.content_type,
                        charset=self._charset, elapsed=self.elapsed,
                        request_headers=self.request_headers)
        copy.too_large = self.too_large
        return copy

    def follow(self, href: str, callback: Callback | None = None,
               meta: dict[str, Any] | None = None, **kwargs: Any) -> Request:
        """A request for `href` (relative to this page) that continues this crawl path."""
        return Request(self.urljoin(href), callback=callback, meta=dict(meta or {}),
                       href=href, **kwargs)

