"""Redirects, followed by the crawler hop by hop: each hop a page row, each target scheduled
like a link (scope, dedupe, robots), loops and long chains ending as errors."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from crawler import Request, Spider, crawl
from crawler.store.schema import SCHEMA_VERSION
from tests.conftest import FAST_SETTINGS, make_config, rows, scalar
from tests.site import Page, html_page

pytestmark = pytest.mark.timeout(30)


def moved(location: str, status: int = 302) -> Page:
    return Page("Moved", status=status, headers={"Location": location})


def chain_of(db: Path, path_url: str) -> list[list[object]] | None:
    found = scalar(db, "SELECT redirects FROM pages WHERE url = ?", path_url)
    return None if found is None else json.loads(found)


async def test_a_chain_within_max_redirects_ends_at_its_page_with_the_chain_stored(
        site_server, out_db) -> None:
    server = site_server({"/": html_page("Home", links=["/r/1"]),
                          "/r/1": moved("/r/2", 301), "/r/2": moved("/r/3", 303),
                          "/r/3": moved("/r/4", 307), "/r/4": moved("/end", 308),
                          "/end": html_page("End", links=["/"])})

    stats = await crawl(config=make_config([server.url("/")], fetch={"max_redirects": 4}),
                        output=out_db)

    assert chain_of(out_db, server.url("/end")) == [
        [301, server.url("/r/1")], [303, server.url("/r/2")], [307, server.url("/r/3")],
        [308, server.url("/r/4")]]
    assert rows(out_db, "SELECT title, depth, referrer FROM pages WHERE url = ?",
                server.url("/end")) == [{"title": "End", "depth": 1, "referrer": server.url("/")}]
    hops = rows(out_db, "SELECT status, body FROM pages WHERE url LIKE '%/r/%' ORDER BY id")
    assert hops == [{"status": s, "body": None} for s in (301, 303, 307, 308)]
    assert stats.errors == 0 and stats.pages == 6


async def test_a_chain_longer_than_max_redirects_ends_as_an_error(site_server, out_db) -> None:
    server = site_server({"/": html_page("Home", links=["/r/1"]),
                          **{f"/r/{i}": moved(f"/r/{i + 1}") for i in range(1, 9)},
                          "/r/9": html_page("End")})

    await crawl(config=make_config([server.url("/")], fetch={"max_redirects": 3}),
                output=out_db)

    assert sorted(server.paths) == ["/", "/r/1", "/r/2", "/r/3", "/r/4"]
    chain = " -> ".join(f"{server.url(f'/r/{i}')} (302)" for i in range(1, 5))
    assert rows(out_db, "SELECT url, kind, status, message, referrer FROM errors") == [{
        "url": server.url("/r/1"), "kind": "redirect", "status": 302, "referrer": server.url("/"),
        "message": f"more than 3 redirects: {chain} -> {server.url('/r/5')}"}]


async def test_a_redirect_loop_ends_as_an_error_with_its_chain(site_server, out_db) -> None:
    server = site_server({"/": html_page("Home", links=["/a"]),
                          "/a": moved("/b"), "/b": moved("/a")})

    stats = await crawl(config=make_config([server.url("/")]), output=out_db)

    assert sorted(server.paths) == ["/", "/a", "/b"]
    assert rows(out_db, "SELECT url, kind, message FROM errors") == [{
        "url": server.url("/a"), "kind": "redirect",
        "message": f"redirect loop: {server.url('/a')} (302) -> {server.url('/b')} (302) -> "
                   f"{server.url('/a')}"}]
    assert stats.status == "finished" and stats.by_status[302] == 2


async def test_an_off_scope_redirect_is_not_followed_and_recorded(site_server, out_db) -> None:
    other = site_server({"/": html_page("Elsewhere")}, host="127.0.0.2")
    server = site_server({"/": html_page("Home", links=["/out"]), "/out": moved(other.url("/"))})

    stats = await crawl(config=make_config([server.url("/")]), output=out_db)

    assert other.requests == []
    assert stats.dropped["offsite"] == 1
    assert rows(out_db, "SELECT url, kind, status, message FROM errors") == [{
        "url": server.url("/out"), "kind": "redirect", "status": 302,
        "message": f"{server.url('/out')} (302) -> {other.url('/')}: not followed (offsite)"}]
    location = scalar(out_db, "SELECT headers ->> 'location' FROM pages WHERE url = ?",
                      server.url("/out"))
    assert location == other.url("/")  # where it pointed stays in the 302's row


async def test_a_redirect_to_a_page_already_crawled_is_kept_as_a_hop(site_server,
                                                                     out_db) -> None:
    server = site_server({"/": html_page("Home", links=["/a", "/alias"]),
                          "/a": html_page("A"), "/alias": moved("/a", 301)})

    stats = await crawl(config=make_config([server.url("/")],
                                           politeness={"per_host_concurrency": 1}),
                        output=out_db)

    assert server.paths.count("/a") == 1
    assert rows(out_db, "SELECT status, headers ->> 'location' AS location FROM pages "
                        "WHERE url = ?", server.url("/alias")) == [{"status": 301,
                                                                     "location": "/a"}]
    assert stats.errors == 0 and stats.dropped["duplicate"] >= 1


async def test_a_redirect_target_refused_by_robots_is_recorded(site_server, out_db) -> None:
    server = site_server({
        "/robots.txt": Page("User-agent: *\nDisallow: /private\n", content_type="text/plain"),
        "/": html_page("Home", links=["/go"]), "/go": moved("/private/x"),
        "/private/x": html_page("Secret")})

    stats = await crawl(config=make_config([server.url("/")],
                                           politeness={"robots_txt": "obey"}), output=out_db)

    assert "/private/x" not in server.paths
    assert stats.dropped["robots"] == 1
    assert stats.stop_reason == "complete"  # not max_duration: the refusal ended the crawl
    errors = rows(out_db, "SELECT url, kind, message FROM errors ORDER BY kind")
    assert [(e["url"], e["kind"]) for e in errors] == [
        (server.url("/go"), "redirect"), (server.url("/private/x"), "robots")]
    assert errors[0]["message"] == (f"{server.url('/go')} (302) -> {server.url('/private/x')}: "
                                    "refused by robots.txt")


async def test_a_redirect_without_a_usable_location_is_stored_and_not_followed(
        site_server, out_db) -> None:
    server = site_server({"/": html_page("Home", links=["/none", "/mail", "/broken"]),
                          "/none": Page("Moved", status=301),
                          "/mail": moved("mailto:someone@example.com"),
                          "/broken": moved("http://[")})

    stats = await crawl(config=make_config([server.url("/")]), output=out_db)

    assert sorted(server.paths) == ["/", "/broken", "/mail", "/none"]
    errors = {e["url"]: e["message"] for e in rows(out_db, "SELECT url, message FROM errors")}
    assert errors == {
        server.url("/none"): "HTTP 301 without a Location",
        server.url("/mail"): "HTTP 302 to an unusable Location 'mailto:someone@example.com' "
                             "(scheme)",
        server.url("/broken"): "HTTP 302 to an unusable Location 'http://[' (invalid_url)"}
    assert stats.pages == 4 and stats.status == "finished"


async def test_the_target_runs_the_original_callback_with_its_meta(site_server,
                                                                    out_db) -> None:
    server = site_server({"/go": moved("/item"), "/item": html_page("The item")})

    class ItemSpider(Spider):
        name = "items"
        custom_settings = FAST_SETTINGS

        def start_requests(self):
            yield Request(server.url("/go"), callback=self.parse_item, meta={"shelf": 7})

        def parse_item(self, response):
            yield {"title": response.title, "shelf": response.meta["shelf"], "url": response.url}

    await crawl(ItemSpider, output=out_db)

    assert [json.loads(r["data"]) for r in rows(out_db, "SELECT data FROM items")] == [
        {"title": "The item", "shelf": 7, "url": server.url("/item")}]


async def test_credentials_are_not_carried_to_another_origin(site_server, out_db) -> None:
    other = site_server({"/": html_page("Other")}, host="127.0.0.2")
    server = site_server({"/go": moved(other.url("/"))})

    class HeaderSpider(Spider):
        name = "headers"
        allowed_domains = ["127.0.0.1", "127.0.0.2"]
        custom_settings = FAST_SETTINGS

        def start_requests(self):
            yield Request(server.url("/go"), headers={"Authorization": "Bearer s3cret",
                                                       "X-Trace": "abc"})

    await crawl(HeaderSpider, output=out_db)

    (sent,) = server.requests
    (arrived,) = other.requests
    assert sent.headers["authorization"] == "Bearer s3cret"
    assert "authorization" not in arrived.headers and arrived.headers["x-trace"] == "abc"


async def test_a_version_1_database_gains_the_redirects_column(site_server, tmp_path) -> None:
    db = tmp_path / "old.db"
    server = site_server({"/": html_page("Home", links=["/old"]), "/old": moved("/new"),
                          "/new": html_page("New")})
    await crawl(config=make_config([server.url("/")], scope={"max_depth": 0}), output=db)
    with sqlite3.connect(db) as con:  # what a file written before the column looks like
        con.execute("ALTER TABLE pages DROP COLUMN redirects")
        con.execute("PRAGMA user_version = 1")
    con.close()

    await crawl(config=make_config([server.url("/")]), output=db)

    assert scalar(db, "PRAGMA user_version") == SCHEMA_VERSION
    assert chain_of(db, server.url("/new")) == [[302, server.url("/old")]]
    assert scalar(db, "SELECT count(*) FROM pages WHERE url = ?", server.url("/")) == 2
