"""The fetcher that renders: HTTP first, then the browser for the pages that need it.

    RenderingFetcher(http, renderer, config)

Every request is fetched over HTTP (redirects hop by hop, robots.txt,
sitemaps and the body cap exactly as without a browser). A page is then
rendered when it can be (a 2xx HTML page body, not robots.txt) and its mode
says so:

- `meta["render"]` of the request: true renders it, false never;
- else `fetch.render_match` (a URL that matches none is not rendered),
- else `fetch.render_hosts` by host, else `fetch.render`:
  `always`, `never`, or `auto` (`crawler.fetch.auto`: only pages that look
  built by scripts, learning per URL pattern whether rendering finds more).

The browser starts with the crawl when rendering is configured, and on the
first page that asks for it otherwise (a spider's `meta={"render": True}`).
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from typing import Any

from crawler import urls
from crawler.config import FetchConfig
from crawler.errors import BrowserError, FetchError
from crawler.fetch.auto import Learner, has_scripts, shape_of
from crawler.fetch.base import PAGE, BodyStream, Fetcher, FetchOptions, Sent, tell_sent
from crawler.fetch.render import Renderer
from crawler.html.parser import ParsedPage
from crawler.models import Request, Response


class RenderingFetcher:
    """A `Fetcher`: `http` for every request, `renderer` for the pages that need it."""

    def __init__(self, http: Fetcher, renderer: Renderer, config: FetchConfig) -> None:
        self.http = http
        self.renderer = renderer
        self.config = config
        self.learner = Learner()
        # Start the browser with the crawl when any page may be rendered by config.
        self.eager = config.render != "never" or any(
            rule.render != "never" for rule in config.render_hosts)
        self._started = False

    # The HTTP fetcher's cookie jar and proxies: the crawl saves the one with each batch
    # and reports the other (neither is the browser's).
    @property
    def cookie_jar(self) -> Any:
        return getattr(self.http, "cookie_jar", None)

    @property
    def proxies(self) -> Any:
        return getattr(self.http, "proxies", None)

    def tell_sent(self, sent: Sent | None) -> bool:
        """The HTTP fetcher sends every request; the browser renders what came back."""
        return tell_sent(self.http, sent)

    async def open(self) -> None:
        await self.http.open()
        if self.eager:
            try:
                await self.renderer.open()
            except BaseException:
                await self.http.close()
                raise
            self._started = True

    async def close(self) -> None:
        try:
            await self.renderer.close()
        finally:
            await self.http.close()

    def stream(self, request: Request, *,
               max_redirects: int = 5) -> AbstractAsyncContextManager[BodyStream]:
        return self.http.stream(request, max_redirects=max_redirects)

    async def fetch(self, request: Request, options: FetchOptions = PAGE) -> Response:
        response = await self.http.fetch(request, options)
        mode = self.mode(request)
        if mode == "never" or not _renderable(request, response, options):
            return response
        if mode == "always":
            return await self._render(response)
        return await self._auto(response)

    def mode(self, request: Request) -> str:
        """never, always or auto for this request (its meta, render_match, the host)."""
        asked = request.meta.get("render") if request.meta else None
        if asked is not None:
            return "always" if asked else "never"
        config = self.config
        if config.render_match and not any(p.search(request.url) for p in config.render_match):
            return "never"
        if not config.render_hosts:
            return config.render
        return config.render_for(urls.host_of(request.url))

    async def _auto(self, response: Response) -> Response:
        """Render when the page looks script-built (or its pattern was learnt to need it)."""
        if not has_scripts(response.body):
            return response
        before = shape_of(await _parsed(response, self.config))
        if not self.learner.should_render(response.request.url, before):
            return response  # parsed already: the pipeline uses it as it is
        rendered = await self._render(response)
        after = shape_of(await _parsed(rendered, self.config))
        self.learner.learn(response.request.url, before, after)
        return rendered

    async def _render(self, response: Response) -> Response:
        if not self._started:  # a request asked for rendering in a crawl set to never
            try:
                await self.renderer.open()
            except BrowserError as exc:
                raise FetchError(str(exc), kind="browser") from None
            self._started = True
        return await self.renderer.render(response)


def _renderable(request: Request, response: Response, options: FetchOptions) -> bool:
    """A page (not robots.txt, not a sitemap) answered 2xx with an HTML body."""
    return (request.kind == "page" and options.max_redirects == 0
            and 200 <= response.status < 300 and response.too_large is None
            and bool(response.body) and response.is_html
            and not request.url.endswith("/robots.txt"))


async def _parsed(response: Response, config: FetchConfig) -> ParsedPage:
    """Parse now (in a thread when large, as the pipeline would); the pipeline reuses it."""
    if response.parsed_page is None and len(response.body) > config.parse_in_thread_above:
        response.parsed = await asyncio.to_thread(lambda: response.parsed)
    return response.parsed
