"""The engine end to end against loopback sites: what is fetched, what is stored, how it ends."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest

import crawler
from crawler import Crawler, CrawlStats, Spider, crawl
from tests.conftest import FAST_SETTINGS, assert_fetched_once, make_config, rows, scalar
from tests.site import (
    Page,
    chain_path,
    chain_site,
    html_page,
    link_forms_site,
    path_of,
    reachable,
    tree_depth,
    tree_path,
    tree_site,
)

pytestmark = pytest.mark.timeout(30)


def pages_by_path(db: Path) -> dict[str, dict[str, Any]]:
    return {path_of(row["url"]): row for row in rows(db, "SELECT * FROM pages")}


async def test_every_reachable_page_is_fetched_exactly_once(site_server, out_db) -> None:
    site = tree_site(13)
    server = site_server(site)

    stats = await crawl(config=make_config([server.url("/")]), output=out_db)

    assert_fetched_once(server.paths)
    assert set(server.paths) == reachable(site)
    pages = pages_by_path(out_db)
    assert len(rows(out_db, "SELECT id FROM pages")) == 13
    assert set(pages) == reachable(site)
    for i in range(13):
        page = pages[tree_path(i)]
        assert page["url"] == server.url(tree_path(i))
        assert page["final_url"] == server.url(tree_path(i))
        assert page["status"] == 200
        assert page["title"] == f"Page {i}"
        assert f"Text of Page {i}" in page["text"]
        assert page["body"] == site[tree_path(i)].encode()
        assert page["size"] == len(page["body"])
        assert page["content_type"] == "text/html"
        assert page["depth"] == tree_depth(i)
        assert json.loads(page["headers"])["content-type"].startswith("text/html")
    assert stats.status == "finished"
    assert stats.pages == 13


async def test_link_variants_of_one_url_are_fetched_once(site_server, out_db) -> None:
    server = site_server(lambda started: link_forms_site(started.base)[0])

    stats = await crawl(config=make_config([server.url("/")]), output=out_db)

    assert_fetched_once(server.paths)
    assert set(server.paths) == {"/", "/dir/", "/a/b.html", "/~user/"}
    assert len(rows(out_db, "SELECT id FROM pages")) == 4
    # unique links per page: / 4, /dir/ 3, /a/b.html 4, /~user/ 2, plus the start URL;
    # 4 of those 14 are new, so at least 10 are duplicates
    assert stats.dropped.get("duplicate", 0) >= 10


async def test_links_table_keeps_the_href_as_written(site_server, out_db) -> None:
    hrefs: dict[str, list[str]] = {}

    def build(server):
        site, written = link_forms_site(server.base)
        hrefs.update(written)
        return site

    server = site_server(build)

    await crawl(config=make_config([server.url("/")]), output=out_db)

    root_id = scalar(out_db, "SELECT id FROM pages WHERE url = ?", server.url("/"))
    links = rows(out_db, "SELECT url, href, text FROM links WHERE page_id = ?", root_id)
    assert sorted(link["href"] for link in links) == sorted(hrefs["/"])
    target = {link["href"]: link["url"] for link in links}
    for href in ("a/b.html", "./a/b.html", "a/../a/b.html", "/a/b.html#section",
                 f"{server.base}/a/./x/../b.html", "HTTP" + server.base[4:] + "/a/b.html"):
        assert target[href] == server.url("/a/b.html"), href
    assert target["#top"] == server.url("/")
    assert target["/dir/#part"] == server.url("/dir/")
    assert target["/%7euser/"] == target["/~user/"] == server.url("/~user/")


async def test_pages_record_depth_and_referrer(site_server, out_db) -> None:
    server = site_server(chain_site(5))

    await crawl(config=make_config([server.url("/")]), output=out_db)

    pages = pages_by_path(out_db)
    assert pages["/"]["depth"] == 0
    assert pages["/"]["referrer"] is None
    for i in range(1, 5):
        page = pages[chain_path(i)]
        assert page["depth"] == i
        assert page["referrer"] == server.url(chain_path(i - 1))


async def test_404_is_stored_as_page_and_http_error_and_crawl_continues(site_server,
                                                                         out_db) -> None:
    server = site_server({
        "/": html_page("Home", links=["/missing", "/ok"]),
        "/ok": html_page("Ok", links=["/ok/deeper"]),
        "/ok/deeper": html_page("Deeper"),
        "/gone": (410, "<html><body>gone</body></html>"),
    })

    stats = await crawl(config=make_config([server.url("/"), server.url("/gone")]),
                        output=out_db)

    pages = pages_by_path(out_db)
    assert pages["/missing"]["status"] == 404
    assert pages["/gone"]["status"] == 410
    assert pages["/ok/deeper"]["status"] == 200
    errors = rows(out_db, "SELECT url, kind, status FROM errors ORDER BY url")
    assert errors == [
        {"url": server.url("/gone"), "kind": "http", "status": 410},
        {"url": server.url("/missing"), "kind": "http", "status": 404},
    ]
    assert stats.status == "finished"
    assert stats.by_status == {200: 3, 404: 1, 410: 1}
    assert stats.errors == 2


async def test_connection_refused_is_stored_as_connection_error_and_crawl_finishes(
        site_server, refused_url, out_db) -> None:
    server = site_server({
        "/": html_page("Home", links=[refused_url, "/next"]),
        "/next": html_page("Next"),
    })

    stats = await crawl(config=make_config([server.url("/")],
                                           scope={"allowed_domains": ["127.0.0.1"]}),
                        output=out_db)

    errors = rows(out_db, "SELECT url, kind, status, referrer FROM errors")
    assert [(e["url"], e["kind"]) for e in errors] == [(refused_url, "connection")]
    assert errors[0]["referrer"] == server.url("/")
    assert set(pages_by_path(out_db)) == {"/", "/next"}
    assert scalar(out_db, "SELECT count(*) FROM pages WHERE url = ?", refused_url) == 0
    assert stats.status == "finished"
    assert stats.errors == 1


async def test_slow_response_is_stored_as_timeout_error(site_server, out_db) -> None:
    server = site_server({
        "/": html_page("Home", links=["/slow", "/fast"]),
        "/slow": Page(html_page("Slow"), delay=5),
        "/fast": html_page("Fast"),
    })

    stats = await crawl(config=make_config([server.url("/")], fetch={"timeout": 1}),
                        output=out_db)

    errors = rows(out_db, "SELECT url, kind FROM errors")
    assert errors == [{"url": server.url("/slow"), "kind": "timeout"}]
    assert set(pages_by_path(out_db)) == {"/", "/fast"}
    assert stats.status == "finished"


async def test_a_redirect_is_a_page_of_its_own_and_its_target_carries_the_chain(
        site_server, out_db) -> None:
    server = site_server({
        "/": html_page("Home", links=["/old"]),
        "/old": Page("Moved", status=301, headers={"Location": "/new"}),
        "/new": html_page("New"),
    })

    await crawl(config=make_config([server.url("/")]), output=out_db)

    pages = pages_by_path(out_db)
    old, new = pages["/old"], pages["/new"]
    assert (old["status"], old["body"], old["title"], old["redirects"]) == (301, None, None, None)
    assert json.loads(old["headers"])["location"] == "/new"
    assert (new["status"], new["title"], new["depth"], new["referrer"]) == (
        200, "New", 1, server.url("/"))          # a redirect is not a link step
    assert json.loads(new["redirects"]) == [[301, server.url("/old")]]
    assert server.paths.count("/new") == 1


async def test_crawl_stats_agree_with_the_database(site_server, out_db) -> None:
    server = site_server({
        "/": html_page("Home", links=["/a", "/b", "/missing"]),
        "/a": html_page("A"),
        "/b": html_page("B", links=["mailto:x@example.com"]),
    })

    stats = await crawl(config=make_config([server.url("/")]), output=out_db)

    assert isinstance(stats, CrawlStats)
    assert stats.output == out_db
    crawl_row = rows(out_db, "SELECT * FROM crawls")
    assert len(crawl_row) == 1
    assert crawl_row[0]["id"] == stats.crawl_id
    assert crawl_row[0]["status"] == "finished" == stats.status
    assert crawl_row[0]["finished_at"] is not None
    assert stats.pages == scalar(out_db, "SELECT count(*) FROM pages") == 4
    assert stats.errors == scalar(out_db, "SELECT count(*) FROM errors") == 1
    assert stats.items == 0
    assert stats.bytes == scalar(out_db, "SELECT sum(size) FROM pages")
    assert stats.by_status == {200: 3, 404: 1}
    assert stats.dropped.get("scheme", 0) >= 1
    assert stats.duration > 0
    assert stats.pages_per_second == pytest.approx(stats.pages / stats.duration, rel=0.01)


async def test_store_flags_off_leave_body_text_and_links_out(site_server, out_db) -> None:
    server = site_server(tree_site(4))

    await crawl(config=make_config([server.url("/")],
                                   store={"body": False, "text": False, "links": False}),
                output=out_db)

    pages = rows(out_db, "SELECT body, text, title FROM pages")
    assert len(pages) == 4
    assert all(page["body"] is None for page in pages)
    assert all(not page["text"] for page in pages)
    assert all(page["title"] for page in pages)
    assert scalar(out_db, "SELECT count(*) FROM links") == 0
    assert set(server.paths) == reachable(tree_site(4))  # links still followed


def test_run_is_a_sync_wrapper_around_crawl(site_server, out_db) -> None:
    server = site_server(tree_site(4))

    class Small(Spider):
        name = "small"
        start_urls = [server.url("/")]
        custom_settings = FAST_SETTINGS

    stats = crawler.run(Small, output=out_db)

    assert stats.status == "finished"
    assert stats.pages == 4
    assert set(server.paths) == reachable(tree_site(4))


async def test_settings_override_the_config(site_server, out_db) -> None:
    server = site_server(tree_site(20))
    cfg = make_config([server.url("/")], fetch={"concurrency": 8})

    class Limited(Spider):
        name = "limited"
        start_urls = [server.url("/")]
        custom_settings = {"politeness.per_host_delay": 0, "politeness.robots_txt": "ignore"}

    stats = await crawl(Limited, config=cfg,
                        settings={"limits.max_pages": 3, "fetch.concurrency": 1},
                        output=out_db)

    assert stats.pages == 3
    assert len(server.requests) == 3


async def test_stop_ends_the_crawl_gracefully_and_stores_what_was_fetched(site_server,
                                                                           out_db) -> None:
    site = tree_site(80, fanout=4)
    server = site_server(site, latency=0.05)
    cfg = make_config([server.url("/")], politeness={"per_host_concurrency": 2})

    class Everything(Spider):
        name = "t"
        start_urls = [server.url("/")]

    engine = Crawler(Everything, cfg, output=out_db)
    task = asyncio.create_task(engine.run())
    deadline = time.monotonic() + 15
    while len(server.requests) < 8 and time.monotonic() < deadline and not task.done():
        await asyncio.sleep(0.02)
    assert len(server.requests) >= 8
    engine.stop()
    stats = await asyncio.wait_for(task, 15)
    seen_at_return = len(server.requests)
    await asyncio.sleep(0.3)

    assert stats.status == "interrupted"
    assert scalar(out_db, "SELECT status FROM crawls WHERE id = ?", stats.crawl_id) == \
        "interrupted"
    assert len(server.requests) == seen_at_return  # nothing fetched after run() returned
    stored = set(pages_by_path(out_db))
    assert set(server.paths) <= stored  # every request the server saw was stored
    assert len(stored) < len(site)
    assert stats.pages == len(stored)
