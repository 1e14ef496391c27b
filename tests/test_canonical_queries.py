"""Each page once: query parameters in any order, tracking parameters, and old files.

Crawls against a loopback server whose log counts what was fetched.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from pathlib import Path

from crawler import Crawler, crawl
from tests.conftest import assert_fetched_once, make_config, rows, scalar
from tests.site import Page, html_page

BOTH_ORDERS = {
    "/": html_page("home", links=["/view?cat=3&id=7", "/view?id=7&cat=3", "/list"]),
    "/list": html_page("list", links=["view?id=7&cat=3#reviews", "/view?cat=3&id=7&",
                                      "/tag?t=b&t=a", "/tag?t=a&t=b"]),
    "/view?cat=3&id=7": html_page("view 7"),
    "/view?id=7&cat=3": html_page("view 7, other order"),
    "/tag?t=b&t=a": html_page("tags b, a"),
    "/tag?t=a&t=b": html_page("tags a, b"),
}


async def test_a_page_linked_with_its_query_in_both_orders_is_fetched_once(
        site_server, out_db) -> None:
    server = site_server(BOTH_ORDERS)

    await crawl(config=make_config([server.url("/")]), output=out_db)

    assert_fetched_once(server.paths)
    assert Counter(server.paths)["/view?cat=3&id=7"] == 1
    assert "/view?id=7&cat=3" not in server.paths
    # a repeated name keeps its values in order: these are two pages
    assert {"/tag?t=b&t=a", "/tag?t=a&t=b"} <= set(server.paths)
    assert scalar(out_db, "SELECT count(*) FROM pages WHERE url LIKE '%/view?%'") == 1
    assert scalar(out_db, "SELECT url FROM pages WHERE url LIKE '%/view?%'") == \
        server.url("/view?cat=3&id=7")


async def test_links_keep_the_href_as_written_and_the_canonical_url_beside_it(
        site_server, out_db) -> None:
    server = site_server(BOTH_ORDERS)

    await crawl(config=make_config([server.url("/")]), output=out_db)

    links = rows(out_db, "SELECT l.href, l.url FROM links l JOIN pages p ON p.id = l.page_id "
                         "WHERE l.href LIKE '%view%'")
    assert {link["href"] for link in links} == {
        "/view?cat=3&id=7", "/view?id=7&cat=3", "view?id=7&cat=3#reviews", "/view?cat=3&id=7&"}
    assert {link["url"] for link in links} == {server.url("/view?cat=3&id=7")}


async def test_with_sort_query_off_parameters_keep_the_order_written(site_server,
                                                                     out_db) -> None:
    server = site_server(BOTH_ORDERS)

    await crawl(config=make_config([server.url("/")], urls={"sort_query": False}),
                output=out_db)

    assert {"/view?cat=3&id=7", "/view?id=7&cat=3"} <= set(server.paths)
    form = json.loads(scalar(out_db, "SELECT url_form FROM crawls"))
    assert form == {"sort_query": False, "drop_params": []}


async def test_tracking_parameters_are_dropped_when_asked(site_server, out_db) -> None:
    server = site_server({
        "/": html_page("home", links=["/a?id=1&utm_source=news&utm_medium=mail",
                                      "/a?fbclid=XyZ&id=1", "/a?id=1", "/a?gclid=1&id=1&sid=9",
                                      "/b;jsessionid=0AF3?x=1"]),
        "/a?id=1": html_page("a"),
        "/b?x=1": html_page("b"),
    })

    await crawl(config=make_config([server.url("/")], urls={"drop_params": True}),
                output=out_db)

    assert sorted(server.paths) == ["/", "/a?id=1", "/b?x=1"]
    assert scalar(out_db, "SELECT count(*) FROM links WHERE url = ?", server.url("/a?id=1")) == 4


async def test_a_server_that_redirects_to_another_parameter_order_is_a_redirect_loop(
        site_server, out_db) -> None:
    server = site_server({
        "/": html_page("home", links=["/v?b=1&a=1"]),
        "/v?a=1&b=1": Page(status=301, headers={"Location": "/v?b=1&a=1"}),
    })

    await crawl(config=make_config([server.url("/")]), output=out_db)

    assert server.paths.count("/v?a=1&b=1") == 1
    errors = rows(out_db, "SELECT kind, message FROM errors")
    assert [e["kind"] for e in errors] == ["redirect"]
    assert "redirect loop" in errors[0]["message"]


# ---- a file from before schema 7 --------------------------------------------------

OLD_SITE = {
    "/": html_page("home", links=["/p?b=1&a=1", "/q?y=2&x=2", "/r?b=3&a=3"]),
    "/p?b=1&a=1": html_page("p"),
    "/q?y=2&x=2": html_page("q", links=["/r?b=3&a=3"]),
    "/r?b=3&a=3": html_page("r", links=["/p?b=1&a=1", "/q?y=2&x=2"]),
}


def as_schema_6(db: Path) -> None:
    """Make `db` what schema 6 wrote, its crawl cut short: no crawls.url_form, version 6,
    the crawl interrupted (as after a kill). Its URLs are as written: the old form."""
    con = sqlite3.connect(db)
    with con:
        con.execute("ALTER TABLE crawls DROP COLUMN url_form")
        con.execute("UPDATE crawls SET status = 'interrupted', finished_at = NULL")
        con.execute("PRAGMA user_version = 6")
    con.close()


def one_form(path: str) -> str:
    """A logged path with its query parameters sorted: the page it is."""
    base, _, query = path.partition("?")
    return base + "?" + "&".join(sorted(query.split("&"))) if query else base


async def test_a_crawl_begun_before_schema_7_resumes_without_fetching_anything_again(
        site_server, out_db) -> None:
    server = site_server(OLD_SITE)
    first = make_config([server.url("/")], urls={"sort_query": False},  # the old form
                        limits={"max_pages": 2}, fetch={"concurrency": 1},
                        politeness={"per_host_concurrency": 1})
    await crawl(config=first, output=out_db)
    as_schema_6(out_db)
    before = server.paths
    assert sorted(before) == ["/", "/p?b=1&a=1"]

    server.reset_log()
    stats = await crawl(config=make_config([server.url("/")]), output=out_db)

    # the queued pages, and not the fetched ones again under their new (sorted) names
    assert sorted(server.paths) == ["/q?y=2&x=2", "/r?b=3&a=3"]
    assert_fetched_once([one_form(path) for path in [*before, *server.paths]])
    assert stats.crawl_id == 1 and scalar(out_db, "SELECT count(*) FROM crawls") == 1
    assert scalar(out_db, "PRAGMA user_version") == 7
    assert scalar(out_db, "SELECT url_form FROM crawls") is None  # still the old form
    assert scalar(out_db, "SELECT count(*) FROM pages") == 4


async def test_a_resumed_crawl_keeps_the_form_it_began_with_and_says_so(
        site_server, out_db) -> None:
    server = site_server(OLD_SITE)
    await crawl(config=make_config([server.url("/")], limits={"max_pages": 2},
                                   fetch={"concurrency": 1},
                                   politeness={"per_host_concurrency": 1}), output=out_db)
    con = sqlite3.connect(out_db)
    with con:
        con.execute("UPDATE crawls SET status = 'interrupted'")
    con.close()
    said: list[str] = []
    resumed = Crawler(config=make_config([server.url("/")], urls={"sort_query": False}),
                      output=out_db, announce=said.append, progress=False)
    await resumed.run()

    assert any("keep the canonical form it began with" in line for line in said), said
    assert_fetched_once([one_form(path) for path in server.paths])
    assert json.loads(scalar(out_db, "SELECT url_form FROM crawls"))["sort_query"] is True


async def test_a_recrawl_of_an_old_form_crawl_puts_its_urls_in_the_new_form(
        site_server, out_db) -> None:
    site = {"/": html_page("home", links=["/v?b=1&a=1", "/v?a=1&b=1"]),
            "/v?b=1&a=1": html_page("v"), "/v?a=1&b=1": html_page("v")}
    server = site_server(site)
    await crawl(config=make_config([server.url("/")], urls={"sort_query": False}),
                output=out_db)
    as_schema_6(out_db)
    con = sqlite3.connect(out_db)
    with con:
        con.execute("UPDATE crawls SET status = 'finished'")
    con.close()
    server.reset_log()

    await crawl(config=make_config([server.url("/")], recrawl=True), output=out_db)

    assert sorted(server.paths) == ["/", "/v?a=1&b=1"]
    assert [r["url"] for r in rows(out_db, "SELECT url FROM frontier WHERE crawl_id = 2 "
                                           "ORDER BY url")] == [server.url("/"),
                                                                server.url("/v?a=1&b=1")]


async def test_reader_processes_make_links_in_the_crawls_form(site_server, out_db) -> None:
    server = site_server({
        "/": html_page("home", links=["/view?id=7&cat=3&utm_source=feed", "/list"]),
        "/list": html_page("list", links=["/view?cat=3&id=7"]),
        "/view?cat=3&id=7": html_page("view 7"),
    })
    config = make_config([server.url("/")], fetch={"parse_processes": 1},
                         urls={"drop_params": True})

    await Crawler(config=config, output=out_db).run()

    assert sorted(server.paths) == ["/", "/list", "/view?cat=3&id=7"]
    assert scalar(out_db, "SELECT count(DISTINCT url) FROM links WHERE url LIKE '%view%'") == 1
