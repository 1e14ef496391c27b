"""The durable frontier: URL states on disk, windows refilled, resumes that refetch nothing."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter
from pathlib import Path
from typing import Any

import aiosqlite
import pytest

from crawler import Crawler, Request, Spider, crawl
from crawler.errors import CrawlerError, StorageError
from crawler.frontier import codec as codec_module
from crawler.frontier import windows as windows_module
from crawler.frontier.codec import RequestCodec
from crawler.frontier.sqlite import ADD_ROWS, SqliteFrontier
from crawler.frontier.windows import Windows
from crawler.store.records import PageRecord, iso_time
from crawler.store.schema import SCHEMA_VERSION
from crawler.store.sqlite import Store
from tests.conftest import FAST_SETTINGS, assert_fetched_once, make_config, rows, scalar
from tests.site import html_page, path_of, reachable, tree_site

pytestmark = pytest.mark.timeout(60)


def frontier_states(db: Path) -> Counter[str]:
    return Counter({r["state"]: r["n"] for r in rows(
        db, "SELECT state, count(*) AS n FROM frontier GROUP BY state")})


async def test_every_url_has_one_frontier_row_with_its_final_state(site_server, out_db,
                                                                   refused_url) -> None:
    site = tree_site(30)
    site["/"] = html_page("Home", links=["/p/1", "/p/2", "/p/3", "/missing", refused_url])
    server = site_server(site)

    await crawl(config=make_config([server.url("/")], fetch={"retries": 0},
                                   scope={"allowed_domains": ["127.0.0.1"]}), output=out_db)

    urls = [r["url"] for r in rows(out_db, "SELECT url FROM frontier")]
    assert len(urls) == len(set(urls))                  # the seen-set: one row per URL
    states = frontier_states(out_db)
    assert states["done"] == scalar(out_db, "SELECT count(*) FROM pages")   # /missing too
    assert states["failed"] == 1                        # the refused connection
    assert not states["queued"] and not states["leased"]
    failed = rows(out_db, "SELECT url FROM frontier WHERE state = 'failed'")
    assert failed == [{"url": refused_url}]


async def test_duplicates_the_memory_cache_missed_are_caught_on_disk(site_server, out_db,
                                                                    monkeypatch) -> None:
    # With a 2-URL cache, nearly every duplicate link reaches SQLite's unique index.
    monkeypatch.setattr(windows_module, "RECENT_URLS", 2)
    site = tree_site(60, fanout=3)
    server = site_server(site)

    stats = await crawl(config=make_config([server.url("/")]), output=out_db)

    assert_fetched_once(server.paths)
    assert set(server.paths) == reachable(site)
    assert stats.dropped["duplicate"] >= 59     # every page links back to the root


async def test_small_windows_are_refilled_until_every_page_is_fetched(site_server, out_db,
                                                                     monkeypatch) -> None:
    monkeypatch.setattr(windows_module, "WINDOW_TOTAL", 3)
    monkeypatch.setattr(windows_module, "WINDOW_MIN", 1)
    monkeypatch.setattr(windows_module, "WINDOW_MAX", 2)
    site = tree_site(120, fanout=4)
    server = site_server(site)

    await crawl(config=make_config([server.url("/")]), output=out_db)

    assert_fetched_once(server.paths)
    assert set(server.paths) == reachable(site)


async def test_priority_orders_requests_across_window_refills(site_server, out_db,
                                                            monkeypatch) -> None:
    monkeypatch.setattr(windows_module, "WINDOW_MAX", 2)
    site = {"/": html_page("Home"), **{f"/n/{i}": html_page(str(i)) for i in range(12)}}
    server = site_server(site)

    class Prioritised(Spider):
        name = "prio"
        start_urls = [server.url("/")]
        custom_settings = {**FAST_SETTINGS, "fetch.concurrency": 1,
                           "politeness.per_host_concurrency": 1}

        def parse(self, response):
            if path_of(response.url) == "/":
                for i in range(12):
                    yield Request(server.url(f"/n/{i}"), priority=i % 3, callback=self.leaf)

        def leaf(self, response):
            yield {"n": int(path_of(response.url).rsplit("/", 1)[1])}

    await crawl(Prioritised, output=out_db)

    order = [int(p.rsplit("/", 1)[1]) for p in server.paths if p.startswith("/n/")]
    assert [n % 3 for n in order] == [2] * 4 + [1] * 4 + [0] * 4
    assert len(rows(out_db, "SELECT id FROM items")) == 12   # callbacks came back from disk


async def test_a_callback_that_is_not_a_spider_method_still_runs(site_server, out_db) -> None:
    server = site_server({"/": html_page("Home"), "/x": html_page("X")})
    seen: list[str] = []

    class Closures(Spider):
        name = "closures"
        start_urls = [server.url("/")]
        custom_settings = FAST_SETTINGS

        def parse(self, response):
            yield Request(server.url("/x"), callback=lambda r: seen.append(r.url),
                          meta={"not json": object()})

    await crawl(Closures, output=out_db)

    assert seen == [server.url("/x")]


async def test_the_memory_frontier_writes_no_frontier_rows(site_server, out_db) -> None:
    site = tree_site(10)
    server = site_server(site)

    await crawl(config=make_config([server.url("/")]), settings={"frontier": "memory"},
                output=out_db)

    assert set(server.paths) == reachable(site)
    assert scalar(out_db, "SELECT count(*) FROM frontier") == 0


# -- resuming ----------------------------------------------------------------------------


async def run_until(crawler: Crawler, pages: int, timeout: float = 20) -> None:
    """Run `crawler`, asking it to stop (like Ctrl-C) once it has stored `pages` pages."""
    task = asyncio.create_task(crawler.run())
    deadline = asyncio.get_running_loop().time() + timeout
    while crawler.stats.pages < pages and not task.done():
        assert asyncio.get_running_loop().time() < deadline, "the crawl made no progress"
        await asyncio.sleep(0.01)
    crawler.stop("interrupted")
    await task


async def test_an_interrupted_crawl_resumes_where_it_stopped(site_server, out_db) -> None:
    site = tree_site(150, fanout=3)
    server = site_server(site, latency=0.01)
    config = make_config([server.url("/")], fetch={"concurrency": 2},
                         politeness={"per_host_concurrency": 2})
    first = Crawler(config=config, output=out_db)
    await run_until(first, 20)
    assert first.stats.status == "interrupted"
    assert 20 <= scalar(out_db, "SELECT count(*) FROM pages") < 150
    messages: list[str] = []

    second = await Crawler(config=config, output=out_db, announce=messages.append).run()

    assert second.status == "finished" and second.crawl_id == first.stats.crawl_id
    assert "resuming crawl 't'" in messages[0]
    assert_fetched_once(server.paths)     # a graceful stop leaves nothing half done
    assert set(server.paths) == reachable(site)
    assert scalar(out_db, "SELECT count(DISTINCT url) FROM pages") == 150
    assert scalar(out_db, "SELECT count(*) FROM pages") == 150
    crawl_row = rows(out_db, "SELECT status, runs FROM crawls")
    assert crawl_row == [{"status": "finished", "runs": 2}]
    assert not frontier_states(out_db)["queued"]


async def test_max_pages_counts_the_pages_of_earlier_runs(site_server, out_db) -> None:
    server = site_server(tree_site(80))
    config = make_config([server.url("/")], limits={"max_pages": 10})
    await crawl(config=config, output=out_db)     # finished: max_pages reached

    stats = await crawl(config=config, settings={"resume": "always", "limits.max_pages": 25},
                        output=out_db)

    assert stats.pages == 15
    assert scalar(out_db, "SELECT count(*) FROM crawls") == 1
    assert scalar(out_db, "SELECT count(DISTINCT url) FROM pages") == 25


async def test_a_finished_crawl_is_not_resumed_but_started_again(site_server, out_db) -> None:
    server = site_server(tree_site(8))
    config = make_config([server.url("/")])
    await crawl(config=config, output=out_db)

    stats = await crawl(config=config, output=out_db)

    assert stats.pages == 8                       # a new crawl fetches everything again
    assert [r["id"] for r in rows(out_db, "SELECT id FROM crawls")] == [1, 2]


async def test_fresh_starts_over_even_when_a_crawl_is_unfinished(site_server, out_db) -> None:
    server = site_server(tree_site(60), latency=0.01)
    config = make_config([server.url("/")], fetch={"concurrency": 2})
    await run_until(Crawler(config=config, output=out_db), 5)

    stats = await crawl(config=config, settings={"resume": "never"}, output=out_db)

    assert stats.crawl_id == 2 and stats.pages == 60


async def test_resume_always_without_an_unfinished_crawl_is_an_error(out_db) -> None:
    config = make_config(["http://127.0.0.1:9/"])

    with pytest.raises(CrawlerError, match="no unfinished crawl named 't' to resume"):
        await crawl(config=config, settings={"resume": "always"}, output=out_db)


async def test_a_version_1_database_gains_the_new_columns(tmp_path, site_server) -> None:
    db = tmp_path / "old.db"
    with sqlite3.connect(db) as con:       # the tables as schema version 1 made them
        con.executescript("""
            CREATE TABLE crawls (id INTEGER PRIMARY KEY, name TEXT NOT NULL,
                started_at TEXT NOT NULL, finished_at TEXT, status TEXT NOT NULL,
                config TEXT NOT NULL, stats TEXT);
            CREATE TABLE pages (id INTEGER PRIMARY KEY, crawl_id INTEGER NOT NULL,
                url TEXT NOT NULL, final_url TEXT NOT NULL, status INTEGER NOT NULL,
                content_type TEXT, encoding TEXT, size INTEGER NOT NULL, title TEXT,
                text TEXT, markdown TEXT, depth INTEGER NOT NULL, referrer TEXT,
                fetched_at TEXT NOT NULL, elapsed_ms REAL, headers TEXT NOT NULL,
                request_headers TEXT, body BLOB);
            INSERT INTO crawls VALUES (1, 'old', '2026-01-01', NULL, 'finished', '{}', NULL);
            INSERT INTO pages (crawl_id, url, final_url, status, size, depth, fetched_at,
                               headers) VALUES (1, 'http://x/', 'http://x/', 200, 0, 0, '', '{}');
            PRAGMA user_version = 1;""")
    server = site_server(tree_site(3))

    await crawl(config=make_config([server.url("/")]), output=db)

    assert scalar(db, "PRAGMA user_version") == SCHEMA_VERSION
    assert scalar(db, "SELECT count(content_hash) FROM pages") == 3
    # version 4: how each page was fetched (old rows were all HTTP), and screenshots
    assert rows(db, "SELECT fetched_by, count(*) AS n FROM pages GROUP BY 1") == [
        {"fetched_by": "http", "n": 4}]
    assert scalar(db, "SELECT count(*) FROM screenshots") == 0
    assert scalar(db, "SELECT count(*) FROM cookies") == 0  # version 5: the cookie jar
    assert rows(db, "SELECT id, runs FROM crawls") == [{"id": 1, "runs": 1},
                                                       {"id": 2, "runs": 1}]


async def queued_frontier(store: Store, urls: int) -> Windows:
    """A new crawl "x" whose frontier holds `urls` queued URLs of one host, written."""
    frontier = Windows(SqliteFrontier(store, await store.start_crawl("x", {})), store)
    for i in range(urls):
        frontier.add("http://a:80", Request(f"http://a/{i}"))
    await store.flush()
    return frontier


async def test_a_batch_of_more_urls_than_one_insert_takes_adds_each_new_one_once(
        tmp_path) -> None:
    # ADD_ROWS to an INSERT (bounding the JSON SQLite parses at once): this batch
    # takes three, with duplicates within and across them and of rows already stored.
    async with Store(tmp_path / "x.db") as store:
        frontier = SqliteFrontier(store, await store.start_crawl("x", {}))
        async with store.transaction():
            assert await frontier.add([("http://a:80", Request("http://a/0"))]) == 1
        urls = [f"http://a/{i}" for i in range(2 * ADD_ROWS + 100)]
        batch = urls + urls[:10] + urls[ADD_ROWS:ADD_ROWS + 10]  # the last INSERT: repeats
        async with store.transaction():
            added = await frontier.add([("http://a:80", Request(url)) for url in batch])

    assert added == len(urls) - 1
    stored = [r["url"] for r in rows(tmp_path / "x.db", "SELECT url FROM frontier ORDER BY id")]
    assert stored == urls  # each once, in the order they came


async def test_store_latest_crawl_reports_urls_still_to_fetch(tmp_path) -> None:
    async with Store(tmp_path / "x.db") as store:
        await queued_frontier(store, 3)
        latest: Any = await store.latest_crawl("x")

    assert (latest["id"], latest["status"], latest["to_fetch"]) == (store.crawl_id, "running", 3)


async def test_closing_while_a_window_is_being_leased_leaves_the_database_writable(
        tmp_path, monkeypatch) -> None:
    # Slow reads keep the lease's UPDATE ... RETURNING open when close() comes.
    fetchall = aiosqlite.Cursor.fetchall

    async def slow_fetchall(self: aiosqlite.Cursor) -> Any:
        await asyncio.sleep(0.2)
        return await fetchall(self)

    monkeypatch.setattr(aiosqlite.Cursor, "fetchall", slow_fetchall)
    async with Store(tmp_path / "x.db") as store:
        frontier = await queued_frontier(store, 500)
        assert frontier.pop("http://a:80") is None   # starts leasing a window
        await asyncio.sleep(0.1)                      # ... which is now mid-query

        await frontier.close()
        await store.finish_crawl("finished", {})      # a commit: nothing left in progress

    assert scalar(tmp_path / "x.db", "SELECT count(*) FROM frontier WHERE state = 'queued'") == 500


async def test_a_batch_part_that_fails_takes_its_pages_back_with_it(tmp_path) -> None:
    class Failing:
        taken = False

        def take(self) -> object:
            if self.taken:
                return None
            self.taken = True
            return "the frontier's writes"

        def writes(self, taken: object) -> list[Any]:
            return [self._write()]

        async def _write(self) -> None:
            await asyncio.sleep(0)  # fails after the pages' statements were queued
            raise OSError("disk full")

        async def committed(self, taken: object, results: list[Any]) -> None:
            raise AssertionError("not committed")

    async with Store(tmp_path / "x.db") as store:
        await store.start_crawl("x", {})
        store.add_part(Failing())
        store.write(PageRecord(url="http://a/", final_url="http://a/", status=200, depth=0,
                               headers="{}", size=0, fetched_at=iso_time(0)))
        with pytest.raises(StorageError, match="disk full"):
            await store.flush()
        assert store.failure is not None and store.unstored_pages == 1

    assert scalar(tmp_path / "x.db", "SELECT count(*) FROM pages") == 0


NOT_DEFAULT = {"meta": {"page": 2}, "headers": {"Accept-Language": "fr"}, "dont_filter": True,
               "tries": 2, "failures": ("HTTP 503",), "last_hash": "ab12", "kind": "sitemap",
               "redirects": ((301, "http://127.0.0.1/a"),), "method": "POST", "body": b"q=1"}


@pytest.mark.parametrize("name", sorted(NOT_DEFAULT))
def test_a_request_with_any_field_off_its_default_is_not_stored_as_a_plain_link(
        name: str) -> None:
    # The codec tells a plain link by one comparison of all these fields at once.
    assert set(NOT_DEFAULT) == set(codec_module._DEFAULTS)  # a new field needs a case here
    codec = RequestCodec()
    plain = Request("http://127.0.0.1/x", depth=1, referrer="http://127.0.0.1/")
    assert codec.encode(plain) is None
    request = Request("http://127.0.0.1/x", **{name: NOT_DEFAULT[name]})
    extra = codec.encode(request)
    assert extra is not None
    assert getattr(codec.decode(request.url, 0, 0, None, extra), name) == NOT_DEFAULT[name]
