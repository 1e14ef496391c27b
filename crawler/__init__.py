"""crawler: an asynchronous, polite web crawler whose output is one queryable SQLite file.

    import crawler

    class Books(crawler.Spider):
        start_urls = ["https://books.toscrape.com/"]
        def parse(self, response):
            yield {"title": response.title}
            yield from super().parse(response)

    crawler.run(Books, output="books.db")
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from crawler.config import CrawlConfig, load_config
    from crawler.engine.crawler import Crawler
    from crawler.engine.fetchall import Fetching, fetch_all
    from crawler.errors import ConfigError, CrawlerError, FetchError, SpiderLoadError
    from crawler.models import Item, Request, Response
    from crawler.spider import Spider
    from crawler.stats import CrawlStats

# The public names load on first use (PEP 562): a reader process imports
# crawler.html.reading, and with it this package, so importing the engine,
# aiohttp and rich here cost each reader ~0.6 CPU-s at its start for nothing.
_LAZY = {
    "CrawlConfig": "crawler.config", "load_config": "crawler.config",
    "Crawler": "crawler.engine.crawler",
    "Fetching": "crawler.engine.fetchall", "fetch_all": "crawler.engine.fetchall",
    "ConfigError": "crawler.errors", "CrawlerError": "crawler.errors",
    "FetchError": "crawler.errors", "SpiderLoadError": "crawler.errors",
    "Item": "crawler.models", "Request": "crawler.models", "Response": "crawler.models",
    "Spider": "crawler.spider", "CrawlStats": "crawler.stats",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    else:  # a submodule (crawler.urls), which importing everything used to load too
        try:
            value = importlib.import_module(f"crawler.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"crawler.{name}":
                raise
            raise AttributeError(f"module 'crawler' has no attribute {name!r}") from None
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "CrawlConfig",
    "CrawlStats",
    "Crawler",
    "CrawlerError",
    "FetchError",
    "Fetching",
    "Item",
    "Request",
    "Response",
    "Spider",
    "SpiderLoadError",
    "crawl",
    "fetch_all",
    "load_config",
    "run",
]


async def crawl(spider: Spider | type[Spider] | None = None, *,
                config: CrawlConfig | None = None,
                settings: Mapping[str, Any] | None = None,
                output: str | Path | None = None) -> CrawlStats:
    """Run one crawl to its end and return its stats.

    `spider` defaults to the spider the config describes (`extract:` rules,
    follow every link). `settings` are dotted config keys
    (`{"fetch.concurrency": 8}`) applied over the config and the spider's
    `custom_settings`.
    """
    from crawler.engine.crawler import Crawler

    return await Crawler(spider, config, settings=settings, output=output).run()


def run(spider: Spider | type[Spider] | None = None, *, config: CrawlConfig | None = None,
        settings: Mapping[str, Any] | None = None,
        output: str | Path | None = None) -> CrawlStats:
    """`crawl()` from synchronous code; blocks until the crawl ends and returns its stats.

    Inside a running event loop (a Jupyter notebook) the crawl runs on its own
    loop in a thread, so this works there too (`await crawl(...)` does not
    block the notebook's loop). An interrupt stops the crawl gracefully; a
    second one abandons the requests in flight.
    """
    from crawler.engine.blocking import run_sync
    from crawler.engine.crawler import Crawler

    runner = Crawler(spider, config, settings=settings, output=output)
    return run_sync(runner.run, stop=runner.stop, abort=runner.abort)
