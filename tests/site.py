"""A real loopback HTTP server for the tests, and builders for the sites it serves.

`SiteServer` runs an aiohttp low-level server in its own thread and event
loop, so what it measures (arrival times, concurrency) does not depend on how
busy the crawler's loop is, and so synchronous tests (`crawler.run`, the CLI in
a subprocess) can use it as well as async ones.

It only ever binds loopback addresses (127.0.0.1, 127.0.0.2, ...), each on a
random port. A site is a dict `{path: page}` where a page is an HTML string,
a `(status, html)` tuple or a `Page`; `path` may carry a query string
(`/list?page=2`). Anything else is a 404.
"""

from __future__ import annotations

import asyncio
import html as html_lib
import itertools
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Union
from urllib.parse import urlsplit

from aiohttp import web

LOOPBACK_PREFIX = "127."


@dataclass(frozen=True)
class Page:
    """One resource of a site, when a plain HTML string is not enough."""

    body: str | bytes = ""
    status: int = 200
    content_type: str = "text/html; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # extra latency for this path only, in seconds


PageSpec = Union[str, tuple[int, str], Page, list]  # noqa: UP007 (a runtime alias)
# A list of specs answers the n-th request to its path with the n-th spec; the
# last one repeats (e.g. [503, 503, 200] behaviour for retry tests).
Site = dict[str, PageSpec]


@dataclass(frozen=True)
class RequestRecord:
    """One request as the server saw it."""

    arrived: float  # time.monotonic() when the handler started
    host: str  # "127.0.0.1:PORT" (the address the request reached)
    path: str  # decoded path plus "?query" when there is one
    raw_path: str  # path and query exactly as sent on the request line
    method: str
    headers: dict[str, str]
    body: bytes = b""  # what a POST sent


@dataclass(frozen=True)
class Answer:
    """A request the server finished answering."""

    path: str
    status: int
    finished: float  # time.monotonic() when the handler returned


def as_page(spec: PageSpec) -> Page:
    if isinstance(spec, Page):
        return spec
    if isinstance(spec, tuple):
        status, body = spec
        return Page(body=body, status=status)
    return Page(body=spec)


def path_of(url: str) -> str:
    """The path (and ?query) of a URL, as the server logs it."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


class SiteServer:
    """An HTTP server on one loopback host that serves `site` and records requests."""

    def __init__(self, site: Site | None = None, *, host: str = "127.0.0.1",
                 latency: float = 0.0, tls: ssl.SSLContext | None = None) -> None:
        if not host.startswith(LOOPBACK_PREFIX):
            raise ValueError(f"tests only serve on loopback addresses, not {host!r}")
        self.site: Site = dict(site or {})
        self.host = host
        self.port = 0
        self.latency = latency  # seconds every request waits before it is answered
        self.tls = tls  # serve https with this context
        self._lock = threading.Lock()
        self._requests: list[RequestRecord] = []
        self._served: dict[str, int] = {}  # requests answered per path, for list specs
        self._answers: list[Answer] = []
        self._in_flight = 0
        self._max_in_flight = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.ServerRunner | None = None
        self._open: asyncio.Event | None = None  # cleared by hold(): requests wait for it

    # -- what the tests read ------------------------------------------------

    @property
    def base(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return self.base + path

    @property
    def requests(self) -> list[RequestRecord]:
        """Every request so far, in arrival order (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def answers(self) -> list[Answer]:
        """Every request the server has finished answering (a copy)."""
        with self._lock:
            return list(self._answers)

    @property
    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    @property
    def max_concurrency(self) -> int:
        """The most requests this server was handling at one moment."""
        with self._lock:
            return self._max_in_flight

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def arrival_gaps(self) -> list[float]:
        """Seconds between consecutive request arrivals."""
        times = [r.arrived for r in self.requests]
        return [b - a for a, b in itertools.pairwise(times)]

    def reset_log(self) -> None:
        with self._lock:
            self._requests.clear()
            self._answers.clear()
            self._max_in_flight = self._in_flight

    def hold(self) -> None:
        """Make requests wait, recorded but unanswered, until `release()`."""
        assert self._loop is not None and self._open is not None
        self._loop.call_soon_threadsafe(self._open.clear)

    def release(self) -> None:
        assert self._loop is not None and self._open is not None
        self._loop.call_soon_threadsafe(self._open.set)

    # -- lifecycle ----------------------------------------------------------

    def start(self) -> SiteServer:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"site-{self.host}", daemon=True)
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._open = asyncio.Event()
        self._open.set()
        server = web.Server(self._handle, handler_cancellation=True, access_log=None)
        self._runner = web.ServerRunner(server, shutdown_timeout=1.0)
        await self._runner.setup()
        tcp = web.TCPSite(self._runner, self.host, 0, ssl_context=self.tls)
        await tcp.start()
        self.port = self._runner.addresses[0][1]

    def stop(self) -> None:
        if self._loop is None:
            return
        loop, self._loop = self._loop, None
        if self._runner is not None:
            runner, self._runner = self._runner, None
            asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        loop.close()

    def __enter__(self) -> SiteServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the handler --------------------------------------------------------

    def _record_arrival(self, request: web.BaseRequest, path: str,
                        body: bytes = b"") -> RequestRecord:
        record = RequestRecord(
            arrived=time.monotonic(),
            host=self.netloc,
            path=path,
            raw_path=request.raw_path,
            method=request.method,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
        )
        with self._lock:
            self._requests.append(record)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        return record

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        path = request.path + (f"?{request.query_string}" if request.query_string else "")
        body = await request.read() if request.can_read_body else b""
        record = self._record_arrival(request, path, body)
        status = 0
        try:
            respond = getattr(self.site, "respond", None)  # a dynamic site that reads headers
            answer = getattr(self.site, "answer", None)  # ... or the whole request
            if answer is not None:
                spec = answer(record)
            else:
                spec = respond(path, request.headers) if respond else self.site.get(path)
            if spec is None and request.query_string and respond is None and answer is None:
                spec = self.site.get(request.path)
            if isinstance(spec, list):
                with self._lock:
                    served = self._served[path] = self._served.get(path, 0) + 1
                spec = spec[min(served, len(spec)) - 1]
            page = as_page(spec) if spec is not None else Page(
                body="<html><head><title>Not found</title></head><body>nope</body></html>",
                status=404)
            assert self._open is not None
            await self._open.wait()
            wait = self.latency + page.delay
            if wait > 0:
                await asyncio.sleep(wait)
            body = page.body.encode() if isinstance(page.body, str) else page.body
            headers = {"Content-Type": page.content_type, **page.headers}
            status = page.status
            return web.Response(body=body, status=page.status, headers=headers)
        finally:
            with self._lock:
                self._in_flight -= 1
                if status:
                    self._answers.append(Answer(path, status, time.monotonic()))


# -- site builders ----------------------------------------------------------


def html_page(title: str, *, body: str = "", links: Iterable[str | tuple[str, str]] = ()) -> str:
    """An HTML page with a title, an h1, some text and `<a>` links (href or (href, text))."""
    anchors = []
    for link in links:
        href, text = link if isinstance(link, tuple) else (link, link)
        anchors.append(f'<li><a href="{html_lib.escape(href)}">{html_lib.escape(text)}</a></li>')
    return (
        "<!doctype html>\n<html><head><meta charset=\"utf-8\">"
        f"<title>{html_lib.escape(title)}</title></head>\n"
        f"<body><h1>{html_lib.escape(title)}</h1>\n<p>{body or 'Text of ' + title}</p>\n"
        f"<ul>{''.join(anchors)}</ul>\n</body></html>\n"
    )


def tree_path(i: int) -> str:
    return "/" if i == 0 else f"/p/{i}"


def tree_depth(i: int, fanout: int = 3) -> int:
    depth = 0
    while i > 0:
        i = (i - 1) // fanout
        depth += 1
    return depth


def tree_site(n: int, *, fanout: int = 3, prefix: str = "") -> Site:
    """n pages in a tree: page i links to its children fanout*i+1 .. fanout*i+fanout.

    Children are linked in alternating forms (relative to the page, root-relative);
    every page also links back to the root. Page i is at depth `tree_depth(i)`.
    `prefix` is put before every path ("/a" gives /a/, /a/p/1 ...).
    """
    site: Site = {}
    for i in range(n):
        links: list[str] = []
        for k, child in enumerate(range(fanout * i + 1, fanout * i + fanout + 1)):
            if child >= n:
                break
            target = prefix + tree_path(child)
            links.append(target if k % 2 == 0 else _relative(prefix + tree_path(i), target))
        links.append(prefix + "/")
        site[prefix + tree_path(i)] = html_page(f"Page {i}", links=links)
    return site


def _relative(from_path: str, to_path: str) -> str:
    """A relative reference from one absolute path to another (for /x/ and /x/p/i shapes)."""
    base_dir = from_path.rsplit("/", 1)[0] + "/"
    if to_path.startswith(base_dir):
        return to_path[len(base_dir):] or "./"
    ups = base_dir.count("/") - 1
    return "../" * ups + to_path.lstrip("/")


def chain_site(n: int, *, prefix: str = "/c") -> Site:
    """n pages in a line: / -> /c/1 -> /c/2 -> ... ; page i is at depth i."""
    site: Site = {}
    for i in range(n):
        path = "/" if i == 0 else f"{prefix}/{i}"
        links = [f"{prefix}/{i + 1}"] if i + 1 < n else []
        site[path] = html_page(f"Chain {i}", links=links)
    return site


def chain_path(i: int, prefix: str = "/c") -> str:
    return "/" if i == 0 else f"{prefix}/{i}"


def link_forms_site(base: str) -> tuple[Site, dict[str, list[str]]]:
    """A site whose pages link to the same few targets in many written forms.

    Returns (site, hrefs) where hrefs maps each page path to the hrefs written in
    it. `base` is "http://127.0.0.1:PORT". Reachable pages: /, /dir/, /a/b.html,
    /~user/.
    """
    scheme_upper = "HTTP" + base[len("http"):]
    root_hrefs = [
        "a/b.html",                       # relative
        "/a/b.html",                      # root-relative
        f"{base}/a/b.html",               # absolute
        "/a/b.html#section",              # fragment
        "./a/b.html",                     # dot segment
        "a/../a/b.html",                  # dot-dot inside
        f"{base}/a/./x/../b.html",        # absolute with dot segments
        f"{scheme_upper}/a/b.html",       # upper-case scheme
        "#top",                           # the page itself
        "/",                              # the page itself
        "dir/",
        "/dir/#part",
        "/~user/",
        "/%7Euser/",                      # percent-encoded unreserved character
        "/%7euser/",                      # ... with lower-case hex
    ]
    dir_hrefs = [
        "../a/b.html",
        "./../a/b.html",
        "../dir/",
        "./",
        f"{base}/dir/",
        "../",
    ]
    b_hrefs = ["../", "../dir/", "b.html#again", "../~user/"]
    user_hrefs = ["../a/b.html", "/%7Euser/"]
    hrefs = {"/": root_hrefs, "/dir/": dir_hrefs, "/a/b.html": b_hrefs, "/~user/": user_hrefs}
    site: Site = {path: html_page(f"Forms {path}", links=links) for path, links in hrefs.items()}
    return site, hrefs


@dataclass(frozen=True)
class Product:
    n: int
    name: str
    price: str
    tags: list[str]
    image: str


def product(n: int) -> Product:
    return Product(
        n=n,
        name=f"Product {n}",
        price=f"£{n}.99",
        tags=["sale", f"tag-{n}"] if n % 2 else [f"tag-{n}"],
        image=f"/img/{n}.jpg",
    )


def product_page(p: Product) -> str:
    tags = "".join(f'<li class="tag">{t}</li>' for t in p.tags)
    return (
        "<!doctype html><html><head><meta charset=\"utf-8\">"
        f"<title>{p.name} | Shop</title></head><body>\n"
        f"<h1>{p.name}</h1>\n"
        f'<p>Price: <span class="price">{p.price}</span></p>\n'
        f'<img src="{p.image}" alt="{p.name}">\n'
        f'<ul class="tags">{tags}</ul>\n'
        '<a href="/">Home</a> <a href="/category/all">All</a>\n'
        "</body></html>\n"
    )


def catalogue_site(n: int) -> tuple[Site, list[Product]]:
    """A shop: / and /category/all list /product/1..n; /about has an h1 but no product.

    Non-product pages also carry an h1, a span.price and li.tag elements so that
    only the extract rule's `match` can keep them out of the items.
    """
    products = [product(i) for i in range(1, n + 1)]
    listing = "".join(f'<li><a href="/product/{p.n}">{p.name}</a></li>' for p in products)
    decoy = ('<span class="price">£0.00</span><ul><li class="tag">decoy</li></ul>'
             '<img src="/img/banner.jpg">')

    def listing_page(title: str) -> str:
        return (
            "<!doctype html><html><head><meta charset=\"utf-8\">"
            f"<title>{title}</title></head><body><h1>{title}</h1>{decoy}\n"
            f'<ul class="products">{listing}</ul>\n'
            '<a href="/about">About</a> <a href="/category/all">All</a></body></html>\n'
        )

    site: Site = {
        "/": listing_page("Shop"),
        "/category/all": listing_page("All products"),
        "/about": html_page("About us", body=f"We sell things. {decoy}", links=["/"]),
    }
    for p in products:
        site[f"/product/{p.n}"] = product_page(p)
    return site, products


def reachable(site: Mapping[str, Any]) -> set[str]:
    """Every path of a site that is a real page (status < 400)."""
    return {path for path, spec in site.items() if as_page(spec).status < 400}


def refused_port(host: str = "127.0.0.1") -> int:
    """A port on `host` that was bound and closed again, so nothing listens on it."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


ServerFactory = Callable[..., SiteServer]
