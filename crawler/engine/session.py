"""Which crawl a run is: a new one, the unfinished one it resumes, or a recrawl of the last.

Also where the spider and its settings become the run's config and spider
instance: the spider's class attributes, then the config, then explicit
settings, last wins.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crawler.config import CrawlConfig, apply_overrides, config_from_dict
from crawler.engine import recrawl
from crawler.engine.admission import url_form
from crawler.errors import CrawlerError
from crawler.fetch.base import Fetcher
from crawler.fetch.cookies import Jar
from crawler.frontier.base import Frontier
from crawler.frontier.codec import RequestCodec
from crawler.frontier.memory import MemoryFrontier
from crawler.frontier.sqlite import SqliteFrontier
from crawler.spider import ConfigSpider, Spider
from crawler.store import cookies as cookie_table
from crawler.store.cookies import CookieRows
from crawler.store.sqlite import Store
from crawler.urls import Canonicalizer


@dataclass(slots=True)
class Session:
    """The crawl this run works on."""

    crawl_id: int
    # The canonical URL form of the crawl, fixed when it begins: a resumed crawl keeps
    # its own (one begun before schema 7 keeps its query parameters as written), so the
    # URLs it has seen stay the ones it compares new links to.
    form: Canonicalizer
    resumed: dict[str, Any] | None = None  # the unfinished crawl it continues
    recrawl_of: dict[str, Any] | None = None  # the crawl a recrawl re-fetches
    recrawling: bool = False


async def open_crawl(store: Store, config: CrawlConfig, output: Path, *,
                     durable: bool) -> Session:
    """Start a new crawl row, or continue the unfinished one of this name (`config.resume`)."""
    if config.recrawl and not durable:
        raise CrawlerError("recrawl needs the SQLite frontier (frontier: sqlite)")
    previous = await store.latest_crawl(config.name) if durable else None
    resume = _should_resume(previous, config.resume)
    if config.resume == "always" and not resume:
        raise CrawlerError(f"{output}: no unfinished crawl named {config.name!r} to resume")
    if resume:
        assert previous is not None
        await store.resume_crawl(previous["id"], config.to_json_dict(redact=True))
        return Session(previous["id"], Canonicalizer.from_json(previous["url_form"]),
                       resumed=previous)
    recrawl_of = previous if previous is not None and config.recrawl else None
    form = url_form(config)
    crawl_id = await store.start_crawl(config.name, config.to_json_dict(redact=True),
                                       recrawl_of=recrawl_of["id"] if recrawl_of else None,
                                       url_form=form.to_json())
    return Session(crawl_id, form, recrawl_of=recrawl_of, recrawling=config.recrawl)


def form_note(session: Session, config: CrawlConfig) -> str | None:
    """What to say when a resumed crawl keeps a URL form other than the settings ask for."""
    if session.resumed is None or session.form == url_form(config):
        return None
    kept = ("query parameters as written (it began before they were sorted)"
            if session.resumed["url_form"] is None else
            f"sort_query: {str(session.form.sort_query).lower()}, "
            f"drop_params: {list(session.form.drop) or 'false'}")
    return (f"its URLs keep the canonical form it began with ({kept}), so no page is fetched "
            "twice; the urls settings apply to a new crawl (--fresh)")


async def seed_recrawl(store: Store, session: Session,
                       announce: Callable[[str], None]) -> None:
    """Queue the pages of the crawl a recrawl re-fetches (each with its validators)."""
    if session.recrawl_of is None:
        return
    previous = session.recrawl_of["id"]
    old_form = Canonicalizer.from_json(session.recrawl_of["url_form"])
    queued = await recrawl.seed(store, session.crawl_id, previous,
                                form=None if old_form == session.form else session.form)
    announce(f"recrawling {queued:,} pages of crawl #{previous}")


async def keep_cookies(store: Store, crawl_id: int, fetcher: Fetcher,
                       config: CrawlConfig) -> None:
    """With `fetch.cookies`, give the fetcher's jar what this crawl saved (a resumed
    session), then the config's presets, and save it with every batch that changed it."""
    jar = getattr(fetcher, "cookie_jar", None)
    if not isinstance(jar, Jar):
        return
    jar.restore(await cookie_table.load(store, crawl_id))
    jar.preset(config.fetch.preset_cookies)
    CookieRows(store, crawl_id, jar.rows)


def frontier_for(given: Frontier | None, config: CrawlConfig, store: Store, crawl_id: int,
                 spider: Spider) -> Frontier:
    """The frontier given to the Crawler, else the `frontier` setting's.

    The SQLite frontier stores a callback by the name of the spider method
    it is; any other callable cannot survive a restart (see frontier/codec.py).
    """
    if given is not None:
        return given
    if config.frontier == "memory":
        return MemoryFrontier()
    codec = RequestCodec.for_spider(spider)
    return SqliteFrontier(store, crawl_id, codec)


def _should_resume(previous: dict[str, Any] | None, mode: str) -> bool:
    """Resume the latest crawl of this name? Only if it has URLs left to fetch."""
    if previous is None or mode == "never" or not previous["to_fetch"]:
        return False
    return mode == "always" or previous["status"] != "finished"


def resolve_config(spider: Spider | type[Spider] | None, config: CrawlConfig | None,
                   settings: Mapping[str, Any] | None) -> CrawlConfig:
    """The spider's class attributes, then the config, then explicit settings (last wins)."""
    if config is None:
        base: dict[str, Any] = {}
        if spider is not None:
            base["name"] = spider.name
            if spider.start_urls:
                base["start_urls"] = list(spider.start_urls)
            if spider.allowed_domains:
                base["scope"] = {"allowed_domains": list(spider.allowed_domains)}
        config = config_from_dict(base, source=f"spider {getattr(spider, 'name', '')}".strip())
    merged = dict(getattr(spider, "custom_settings", None) or {})
    merged.update(settings or {})
    return apply_overrides(config, merged) if merged else config


def instantiate(spider: Spider | type[Spider] | None, config: CrawlConfig) -> Spider:
    """The spider instance of this run (a config's own spider when none is given)."""
    if spider is None:
        return ConfigSpider(config)
    if isinstance(spider, Spider):
        spider.config = config
        return spider
    return spider(config)
