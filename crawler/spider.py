"""The Spider base class, the spider a YAML config describes, and loading spiders from files."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from crawler.config import CrawlConfig
from crawler.errors import SpiderLoadError
from crawler.html.parser import LinkColumns, extract_item, rules_for
from crawler.models import Item, Request, Response


class Spider:
    """Subclass to crawl with Python.

    Override `start_requests()` and/or `parse(response)`; `parse` (and any
    per-request callback) may be a plain or async generator, or return a list
    or None. It yields dicts or `Item`s (stored in `items`), `Request`s
    (usually `response.follow(href, callback=...)`) and plain URL strings
    (followed with the default callback). The default `parse` follows every
    link; the engine drops those out of scope. Callbacks see responses below
    400 unless `handle_http_errors` is true.
    """

    name: ClassVar[str] = "spider"
    start_urls: ClassVar[Sequence[str]] = ()
    allowed_domains: ClassVar[Sequence[str]] = ()
    custom_settings: ClassVar[Mapping[str, Any]] = {}
    # True: callbacks also see 4xx/5xx responses (after retries); they are still
    # stored and recorded in `errors` (kind http) as usual.
    handle_http_errors: ClassVar[bool] = False

    def __init__(self, config: CrawlConfig | None = None) -> None:
        self.config = config

    @property
    def item_type(self) -> str:
        """The type given to plain dict items."""
        return self.name

    def start_requests(self) -> Iterable[Request]:
        urls = list(self.start_urls) or list(self.config.start_urls if self.config else ())
        for url in urls:
            yield Request(url)

    def parse(self, response: Response) -> Any:
        yield from follow_all(response)

    async def interact(self, page: Any, request: Request) -> None:
        """Act on a rendered page before its DOM is captured: `page` is Playwright's live
        Page (click "load more", scroll, fill a form). Runs for every rendered page;
        a request can name another method instead: `meta={"interact": "load_more"}`."""


def page_action(spider: Spider) -> Callable[[Any, Request], Awaitable[None]]:
    """What the browser runs on each rendered page of `spider`: the method a request
    names in `meta["interact"]`, else its `interact` if it has its own."""
    overridden = type(spider).interact is not Spider.interact

    async def act(page: Any, request: Request) -> None:
        name = request.meta.get("interact") if request.meta else None
        if name is None and not overridden:
            return
        method = getattr(spider, name) if name else spider.interact
        result = method(page, request)
        if inspect.isawaitable(result):
            await result
    return act


class ConfigSpider(Spider):
    """The spider of a YAML config: `extract:` rules make items, every link is followed."""

    def __init__(self, config: CrawlConfig) -> None:
        super().__init__(config)
        self.name = config.name  # type: ignore[misc]  # instance name from the config

    def parse(self, response: Response) -> Any:
        assert self.config is not None
        page = response.parsed_page
        if page is not None and page.extracted is not None:  # a reader process applied them
            for kind, data in page.extracted:
                yield Item(kind or self.name, data)
            yield from super().parse(response)
            return
        rules = self.config.extract if response.is_html else ()  # only HTML is parsed
        for rule in rules_for(response.url, rules):
            yield Item(rule.type or self.name, extract_item(response.tree, rule))
        yield from super().parse(response)


def follow_all(response: Response) -> Iterable[str]:
    """Every distinct `<a href>` target of the page, as URL strings to follow.

    Hrefs that are not crawlable (mailto:, javascript:, malformed) are yielded
    too, as written, so the scheduler counts each under its drop reason.
    """
    page = response.parsed_page
    if page is None:
        return ()
    if isinstance(page.links, LinkColumns):
        return page.links.targets
    return dict.fromkeys(link.url or link.href for link in page.links)


def values_of(result: Any) -> Iterable[Any]:
    """What a callback that is not an async generator returned (awaited if it was
    awaitable), as an iterable of yielded values."""
    if result is None:
        return ()
    if isinstance(result, (Request, Item, Mapping, str)):
        return (result,)
    return result  # type: ignore[no-any-return]


def load_spider(target: str) -> type[Spider]:
    """Load `path/to/file.py` or `path/to/file.py:ClassName`; raises SpiderLoadError."""
    path_text, _, class_name = target.partition(":")
    path = Path(path_text)
    if not path.is_file():
        raise SpiderLoadError(f"{path}: no such file")
    module = _import_file(path)
    candidates = {
        name: obj for name, obj in vars(module).items()
        if inspect.isclass(obj) and issubclass(obj, Spider) and obj not in (Spider, ConfigSpider)
        and obj.__module__ == module.__name__
    }
    if class_name:
        if class_name not in candidates:
            raise SpiderLoadError(f"{path}: no Spider subclass named {class_name!r} "
                                  f"(found: {', '.join(sorted(candidates)) or 'none'})")
        return candidates[class_name]
    if len(candidates) != 1:
        found = ", ".join(sorted(candidates)) or "none"
        raise SpiderLoadError(f"{path}: expected exactly one Spider subclass, found {found}; "
                              f"name one with {path}:ClassName")
    return next(iter(candidates.values()))


def _import_file(path: Path) -> Any:
    module_name = f"crawler_spider_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SpiderLoadError(f"{path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise SpiderLoadError(f"{path}: import failed: {type(exc).__name__}: {exc}") from exc
    return module
