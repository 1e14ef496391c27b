"""The fetcher a crawl's settings ask for: HTTP, with a browser behind it for rendering."""

from __future__ import annotations

from crawler.config import CrawlConfig
from crawler.fetch.browser import Chromium
from crawler.fetch.http import HttpFetcher, ProxyFailure
from crawler.fetch.render import Interact, Renderer
from crawler.fetch.rendering import RenderingFetcher


def build_fetcher(config: CrawlConfig, *, interact: Interact | None = None,
                  chromium: Chromium | None = None,
                  on_proxy_failure: ProxyFailure | None = None) -> RenderingFetcher:
    """HTTP for every request, and the browser for the pages to render.

    Also when `fetch.render` is `never`: a spider's request may still ask
    for rendering (`meta={"render": True}`); the browser (and Playwright) is
    then started on that first page, never before (the check costs ~1 us a
    request). `chromium`: a browser started by the caller, which the crawl
    uses and leaves running (tests share one between crawls).
    """
    screenshot = None
    if config.store.screenshot:
        screenshot = "full" if config.store.screenshot_full_page else "viewport"
    renderer = Renderer(config.fetch, chromium=chromium, interact=interact,
                        screenshot=screenshot)
    http = HttpFetcher(config.fetch, on_proxy_failure=on_proxy_failure)
    return RenderingFetcher(http, renderer, config.fetch)
