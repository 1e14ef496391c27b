"""Rendering a fetched page in Chromium: the DOM after its scripts ran, as a Response.

The document itself is never fetched twice: the page was fetched over HTTP
(hop by hop, within the body cap, by the same pipeline as every page), and
the browser is handed that response when it navigates to the URL, so its
status and headers are the ones the server sent. Scripts, styles and the
`fetch()` calls of the page go to the network from the browser; images,
media and fonts are not loaded unless `fetch.render_block` says otherwise.

A pool of tabs (`fetch.browser_concurrency`), each a page in its own
browser context replaced every `fetch.browser_recycle` renders, is shared by
every worker. A render is bounded by `fetch.render_timeout` as a whole;
a page that overran it, crashed or lost its browser is thrown away, never
reused. Dialogs are dismissed, popups closed and downloads refused, so no
page can hold a tab.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from multidict import CIMultiDict

from crawler.config import FetchConfig
from crawler.errors import FetchError
from crawler.fetch.browser import CLOSE_TIMEOUT, Chromium
from crawler.models import Request, Response, Screenshot

log = logging.getLogger(__name__)

# A spider's hook on the live page (a Playwright Page) before its DOM is captured.
Interact = Callable[[Any, Request], Awaitable[object]]

SETTLE_MAX = 3.0  # seconds the settle wait may take; then the DOM is captured as it is
VIEWPORT = {"width": 1280, "height": 800}
# Counts the page's pending fetch/XHR calls and notes when the DOM last changed, so a
# render can wait until the page is quiet (fetch.render_settle).
SETTLE_SCRIPT = """(() => {
  let pending = 0, last = performance.now();
  const touch = () => { last = performance.now(); };
  const nativeFetch = window.fetch;
  if (nativeFetch) window.fetch = function (...args) {
    pending++; touch();
    return nativeFetch.apply(this, args).finally(() => { pending--; touch(); });
  };
  const send = XMLHttpRequest.prototype.send;
  XMLHttpRequest.prototype.send = function (...args) {
    pending++; touch();
    this.addEventListener('loadend', () => { pending--; touch(); }, {once: true});
    return send.apply(this, args);
  };
  new MutationObserver(touch).observe(document,
    {subtree: true, childList: true, attributes: true, characterData: true});
  Object.defineProperty(window, '__crawlerQuiet', {value: (ms) =>
    pending <= 0 && document.readyState === 'complete' && performance.now() - last >= ms});
})();"""
QUIET = "ms => !window.__crawlerQuiet || window.__crawlerQuiet(ms)"
# Response headers that described the body as sent; the browser is handed it decoded.
_HOP_HEADERS = {"content-encoding", "content-length", "transfer-encoding", "connection",
                "keep-alive"}


class Tab:
    """One page in its own browser context, reused for up to `recycle` renders."""

    def __init__(self, context: Any, page: Any, generation: int, block: frozenset[str]) -> None:
        self.context, self.page, self.generation = context, page, generation
        self.block = block
        self.renders = 0
        self.document: Response | None = None  # what the next navigation is answered with
        self.last_document: Any = None  # the main frame's latest response from the network

    async def route(self, route: Any) -> None:
        """Every request of the page: the document from our response, blocked types, the rest."""
        request = route.request
        try:
            document = self.document
            if document is not None and _main_document(request):
                self.document = None
                # Decoded as the pipeline decodes it, handed over as UTF-8 (a header
                # charset beats <meta charset>, so the page reads the same).
                await route.fulfill(status=document.status, headers=_fulfil_headers(document),
                                    body=document.text.encode("utf-8"))
            elif request.resource_type in self.block:
                await route.abort("blockedbyclient")
            else:
                await route.continue_()
        except Exception as exc:  # the page closed under the request: nothing to answer
            log.debug("route of %s: %s", request.url, exc)

    def on_response(self, response: Any) -> None:
        """Note the main frame's documents: a script redirect's target answers here."""
        if _main_document(response.request):
            self.last_document = response

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.context.close(), CLOSE_TIMEOUT)


class Renderer:
    """Renders HTML responses in a shared Chromium through a pool of tabs."""

    def __init__(self, config: FetchConfig, *, chromium: Chromium | None = None,
                 interact: Interact | None = None, screenshot: str | None = None) -> None:
        self.config = config
        self.chromium = chromium or Chromium(config.browser_path)
        self._owns_chromium = chromium is None
        self.interact = interact
        self.screenshot = screenshot  # None, "full" or "viewport"
        self._idle: list[Tab] = []
        self._busy: set[Tab] = set()
        self._slots = asyncio.Semaphore(config.browser_concurrency)
        self._block = frozenset(config.render_block)
        self.renders = 0  # pages rendered
        self.contexts_opened = 0

    async def open(self) -> None:
        """Start the browser now, so a missing one is an error before the first page."""
        await self.chromium.start()

    async def close(self) -> None:
        tabs, self._idle = [*self._idle, *self._busy], []
        self._busy.clear()
        await asyncio.gather(*(tab.close() for tab in tabs))
        if self._owns_chromium:
            await self.chromium.close()

    async def render(self, response: Response) -> Response:
        """`response` (HTML, fetched over HTTP) after its scripts ran in the browser.

        Raises FetchError: `timeout` past `fetch.render_timeout`, `browser` when
        the browser failed or crashed (retried: it is started again), `callback`
        when the spider's `interact` raised.
        """
        started = time.monotonic()
        async with self._slots:
            tab = await self._tab()
            try:
                async with asyncio.timeout(self.config.render_timeout):
                    rendered = await self._render(tab, response)
                await self._release(tab)
            except BaseException as exc:
                await self._discard(tab)
                raise self._failure(exc, response) from None
        self.renders += 1
        rendered.elapsed = response.elapsed + time.monotonic() - started
        return rendered

    # ---- one render ----

    async def _render(self, tab: Tab, response: Response) -> Response:
        page, config = tab.page, self.config
        tab.document, tab.last_document = response, None
        await page.goto(response.url, wait_until=config.render_wait_until)
        if config.render_wait_for:
            await page.wait_for_selector(config.render_wait_for, state="attached")
        if self.interact is not None:
            try:
                await self.interact(page, response.request)
            except Exception as exc:
                raise _InteractFailed(exc) from exc
        if config.render_settle > 0:
            await self._settle(page)
        html = await page.content()
        shot = None
        if self.screenshot is not None:
            full = self.screenshot == "full"
            shot = Screenshot(await page.screenshot(full_page=full, type="png"), full)
        return await self._rendered(tab, response, html, shot)

    async def _settle(self, page: Any) -> None:
        """Wait until no fetch/XHR is pending and the DOM was still for render_settle."""
        wait = page.wait_for_function(QUIET, arg=self.config.render_settle * 1000, polling=50)
        try:
            await asyncio.wait_for(wait, SETTLE_MAX)
        except TimeoutError:  # a page that never rests (a ticker, an animation) is taken as is
            log.debug("%s did not settle in %ss", page.url, SETTLE_MAX)

    async def _rendered(self, tab: Tab, response: Response, html: str,
                        shot: Screenshot | None) -> Response:
        """The rendered page as a Response: the final URL, the DOM as a UTF-8 body."""
        url, status, headers = tab.page.url, response.status, response.headers
        document = tab.last_document  # set when a script navigated to another document
        if document is not None and url != response.url:
            status = document.status
            headers = CIMultiDict((h["name"], h["value"]) for h in await document.headers_array())
        rendered = Response(url=url, request=response.request, status=status,
                            headers=headers, body=html.encode("utf-8"),
                            content_type=response.content_type or "text/html", charset="utf-8",
                            request_headers=response.request_headers)
        rendered.fetched_by = "browser"
        rendered.screenshot = shot
        return rendered

    # ---- the pool ----

    async def _tab(self) -> Tab:
        """An idle tab of the running browser, or a new one (in a new context)."""
        browser = await self.chromium.browser()
        while self._idle:
            tab = self._idle.pop()
            if tab.generation == self.chromium.generation:
                self._busy.add(tab)
                return tab
            await tab.close()  # of a browser that crashed
        context = await browser.new_context(
            user_agent=self.config.user_agent, viewport=VIEWPORT, accept_downloads=False,
            service_workers="block", extra_http_headers=dict(self.config.headers) or None)
        self.contexts_opened += 1
        try:
            if self.config.render_settle > 0:
                await context.add_init_script(SETTLE_SCRIPT)
            # Our own bound (render_timeout) comes first; Playwright's is a backstop.
            context.set_default_timeout(self.config.render_timeout * 1000 + 5000)
            page = await context.new_page()
            tab = Tab(context, page, self.chromium.generation, self._block)
            context.on("page", _close_popup)  # only popups: our page exists already
            page.on("response", tab.on_response)
            await page.route("**/*", tab.route)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(context.close(), CLOSE_TIMEOUT)
            raise
        self._busy.add(tab)
        return tab

    async def _release(self, tab: Tab) -> None:
        """Back to the pool, on a blank page so nothing of the last one runs on;
        a tab that has rendered `browser_recycle` pages is replaced."""
        self._busy.discard(tab)
        tab.renders += 1
        if tab.renders >= self.config.browser_recycle:
            await tab.close()
            return
        try:
            await asyncio.wait_for(tab.page.goto("about:blank"), CLOSE_TIMEOUT)
        except Exception:
            await self._discard(tab)
            return
        self._idle.append(tab)

    async def _discard(self, tab: Tab) -> None:
        self._busy.discard(tab)
        await asyncio.shield(tab.close())

    def _failure(self, exc: BaseException, response: Response) -> BaseException:
        """What a failed render raises: a FetchError of the right kind, or `exc` itself."""
        if isinstance(exc, TimeoutError):
            return FetchError(f"render timed out after {self.config.render_timeout:g}s "
                              "(fetch.render_timeout)", kind="timeout")
        if isinstance(exc, FetchError) or not isinstance(exc, Exception):
            return exc  # cancelled, or already said
        cause = exc.__cause__ if isinstance(exc, _InteractFailed) else exc
        if not self.chromium.connected or type(cause).__name__ == "TargetClosedError":
            return FetchError("the browser crashed or was killed while rendering; it is "
                              "started again and the page retried", kind="browser")
        if isinstance(exc, _InteractFailed):
            return FetchError(f"interact raised {type(cause).__name__}: {cause}",
                              kind="callback")
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return FetchError(f"render failed: {first}", kind="browser")


class _InteractFailed(Exception):
    """The spider's `interact` raised (its exception is the cause)."""


def _fulfil_headers(response: Response) -> dict[str, str]:
    """The document's headers for the browser, less those that described the encoded body."""
    headers: dict[str, str] = {}
    for name, value in response.headers.items():
        key = name.lower()
        if key in _HOP_HEADERS:
            continue
        headers[key] = f"{headers[key]}\n{value}" if key in headers else value
    headers["content-type"] = f"{response.content_type or 'text/html'}; charset=utf-8"
    return headers


def _main_document(request: Any) -> bool:
    """A navigation of the page's main frame (not an iframe's, not a worker's request)."""
    try:
        return bool(request.is_navigation_request() and request.frame.parent_frame is None)
    except Exception:  # a service worker's request has no frame
        return False


async def _close_popup(page: Any) -> None:
    """A window the page opened (window.open, target=_blank): closed at once."""
    with contextlib.suppress(Exception):
        await page.close()
