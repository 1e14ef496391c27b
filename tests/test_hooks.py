"""Hooks, extra sinks and a frontier of one's own: the extension seams, on the fake fetcher."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from crawler import Crawler, CrawlerError, Item, Spider
from crawler.fetch.fake import FakeFetcher
from crawler.frontier.base import State
from crawler.frontier.memory import MemoryFrontier
from crawler.hooks import Hooks
from crawler.models import Request, Response
from crawler.store.records import ErrorRecord, ItemRecord, PageRecord, Record
from tests.conftest import make_config, rows

pytestmark = pytest.mark.timeout(30)

SITE = "http://site.test"


def page(*links: str) -> str:
    return "<html><body>" + "".join(f'<a href="{h}">{h}</a>' for h in links) + "</body></html>"


def site() -> FakeFetcher:
    return FakeFetcher({
        f"{SITE}/": page("/a", "/b", "/a", "http://elsewhere.test/"),
        f"{SITE}/a": page("/missing"),
        f"{SITE}/b": page("/"),
        f"{SITE}/missing": 404,
    })


class Titles(Spider):
    """One item per page, and every link followed."""

    def parse(self, response: Response) -> Any:
        yield {"url": response.url}
        yield from super().parse(response)


def crawler_for(db: Path, fetcher: FakeFetcher | None = None, **kwargs: Any) -> Crawler:
    config = make_config([f"{SITE}/"])
    return Crawler(Titles, config, output=db, fetcher=fetcher or site(), **kwargs)


# -- hooks ------------------------------------------------------------------------------


async def test_hooks_hear_every_event_of_a_crawl(out_db) -> None:
    heard: list[tuple[str, Any]] = []

    def record(event: str) -> Any:
        return lambda *args: heard.append((event, args))

    crawler = crawler_for(out_db, hooks={event: record(event) for event in (
        "crawl_started", "crawl_finished", "request_scheduled", "request_dropped",
        "response_received", "page_stored", "item", "error")})
    await crawler.run()

    events = [event for event, _ in heard]
    assert events[0] == "crawl_started" and events[-1] == "crawl_finished"
    scheduled = {args[0].url for event, args in heard if event == "request_scheduled"}
    assert scheduled == {f"{SITE}/", f"{SITE}/a", f"{SITE}/b", f"{SITE}/missing"}
    dropped = {args for event, args in heard if event == "request_dropped"}
    assert ("http://elsewhere.test/", "offsite") in dropped
    assert (f"{SITE}/", "duplicate") in dropped
    assert events.count("response_received") == 4
    stored = [args[0] for event, args in heard if event == "page_stored"]
    assert sorted(p.url for p in stored) == sorted(scheduled)
    assert all(isinstance(p, PageRecord) and p.id for p in stored)
    items = [args for event, args in heard if event == "item"]
    assert sorted(item.data["url"] for item, _ in items) == sorted(scheduled - {f"{SITE}/missing"})
    errors = [args[0] for event, args in heard if event == "error"]
    assert [(e.url, e.kind) for e in errors] == [(f"{SITE}/missing", "http")]


async def test_async_hooks_are_awaited_before_the_crawl_ends(out_db) -> None:
    seen: list[str] = []

    async def slow(item: Item, response: Response) -> None:
        await asyncio.sleep(0.01)
        seen.append(response.url)

    await crawler_for(out_db, hooks={"item": slow}).run()

    assert len(seen) == 3


async def test_an_exception_in_a_hook_is_an_errors_row_and_the_crawl_goes_on(out_db) -> None:
    def broken(item: Item, response: Response) -> None:
        raise RuntimeError("webhook down")

    async def broken_later(page: PageRecord) -> None:
        raise ValueError("nope")

    stats = await crawler_for(out_db, hooks={"item": broken, "page_stored": broken_later}).run()

    assert stats.status == "finished" and stats.pages == 4
    hook_errors = rows(out_db, "SELECT url, message, traceback FROM errors WHERE kind = 'hook'")
    assert len(hook_errors) == 3 + 4
    item_error = next(e for e in hook_errors if e["message"].startswith("item hook"))
    assert "broken" in item_error["message"] and "RuntimeError: webhook down" in item_error[
        "message"]
    assert item_error["url"].startswith(SITE) and "Traceback" in item_error["traceback"]
    assert stats.errors_by_kind["hook"] == 7


async def test_a_hook_can_stop_the_crawl(out_db) -> None:
    pages = {f"{SITE}/": page(*(f"/p{i}" for i in range(20)))}
    pages.update({f"{SITE}/p{i}": page() for i in range(20)})
    items = 0

    def enough(item: Item, response: Response) -> None:
        nonlocal items
        items += 1
        if items == 3:
            crawler.stop("enough items")

    crawler = crawler_for(out_db, FakeFetcher(pages), hooks={"item": enough})
    stats = await crawler.run()

    assert stats.stop_reason == "enough items"
    assert 3 <= stats.pages < 21


def test_hooks_for_an_unknown_event_name_the_closest() -> None:
    with pytest.raises(CrawlerError, match=r"unknown hook event 'itme' \(did you mean 'item'"):
        Hooks.of({"itme": print})


# -- sinks ------------------------------------------------------------------------------


class Collecting:
    """A sink that keeps what it is given."""

    def __init__(self, fail_on: type | None = None) -> None:
        self.records: list[Record] = []
        self.flushes = 0
        self.fail_on = fail_on

    def write(self, record: Record) -> None:
        if self.fail_on is not None and isinstance(record, self.fail_on):
            raise OSError("disk on fire")
        self.records.append(record)

    async def flush(self) -> None:
        self.flushes += 1


async def test_a_sink_beside_sqlite_sees_every_record_with_page_ids(out_db) -> None:
    sink = Collecting()

    await crawler_for(out_db, sinks=[sink]).run()

    pages = [r for r in sink.records if isinstance(r, PageRecord)]
    items = [r for r in sink.records if isinstance(r, ItemRecord)]
    errors = [r for r in sink.records if isinstance(r, ErrorRecord)]
    assert sorted(p.id for p in pages) == [r["id"] for r in rows(out_db, "SELECT id FROM pages")]
    by_id = {p.id: p.url for p in pages}
    assert all(by_id[item.page_id] == item.data["url"] for item in items) and len(items) == 3
    assert [(e.url, e.kind) for e in errors] == [(f"{SITE}/missing", "http")]
    assert sink.flushes >= 1


async def test_a_failing_sink_is_an_errors_row_in_the_file_and_the_crawl_finishes(
        out_db) -> None:
    sink = Collecting(fail_on=ItemRecord)

    stats = await crawler_for(out_db, sinks=[sink]).run()

    assert stats.status == "finished" and stats.items == 3
    assert rows(out_db, "SELECT count(*) AS n FROM items")[0]["n"] == 3
    sink_errors = rows(out_db, "SELECT message FROM errors WHERE kind = 'sink'")
    assert len(sink_errors) == 3
    assert sink_errors[0]["message"] == "Collecting: OSError: disk on fire"


# -- a frontier of one's own ------------------------------------------------------------


class CheckingFrontier(MemoryFrontier):
    """A frontier elsewhere (shares_store False): each page must be committed before its
    request is settled, checked by reading the file from another connection."""

    def __init__(self, db: Path) -> None:
        super().__init__()
        self.db = db
        self.settled: list[tuple[str, State, bool]] = []
        self.leased: list[str] = []

    async def lease(self, host: str, limit: int) -> list[Request]:
        leased = await super().lease(host, limit)
        self.leased.extend(r.url for r in leased)
        return leased

    async def settle(self, settled: Sequence[tuple[Request, State]]) -> None:
        with sqlite3.connect(self.db) as con:
            stored = {url for (url,) in con.execute("SELECT url FROM pages")}
        self.settled.extend((r.url, state, r.url in stored) for r, state in settled)

    async def hosts(self) -> Mapping[str, int]:
        return await super().hosts()


async def test_a_frontier_elsewhere_settles_each_request_after_its_page_is_committed(
        out_db) -> None:
    frontier = CheckingFrontier(out_db)

    await crawler_for(out_db, frontier=frontier).run()

    assert sorted(frontier.leased) == [f"{SITE}/", f"{SITE}/a", f"{SITE}/b", f"{SITE}/missing"]
    assert sorted(url for url, _, _ in frontier.settled) == sorted(frontier.leased)
    assert all(state == "done" and committed for _, state, committed in frontier.settled)
    assert rows(out_db, "SELECT count(*) AS n FROM frontier")[0]["n"] == 0
