"""Scope: which discovered URLs are fetched, and what the dropped counters say about the rest."""

from __future__ import annotations

import pytest

from crawler import crawl
from tests.conftest import make_config, rows, scalar
from tests.site import chain_path, chain_site, html_page, path_of, reachable, tree_site

pytestmark = pytest.mark.timeout(30)


async def test_link_to_other_host_is_not_fetched_and_counted_offsite(site_server,
                                                                      out_db) -> None:
    other = site_server(tree_site(3), host="127.0.0.2")
    server = site_server({
        "/": html_page("Home", links=["/a", other.url("/"), other.url("/p/1")]),
        "/a": html_page("A", links=[other.url("/p/2")]),
    })

    stats = await crawl(config=make_config([server.url("/")],
                                           scope={"allowed_domains": ["127.0.0.1"]}),
                        output=out_db)

    assert other.requests == []
    assert set(server.paths) == {"/", "/a"}
    assert stats.dropped.get("offsite", 0) >= 3
    assert stats.status == "finished"


async def test_allowed_domains_lets_the_crawl_cross_to_a_listed_host(site_server,
                                                                      out_db) -> None:
    other = site_server(tree_site(3), host="127.0.0.2")
    server = site_server({"/": html_page("Home", links=[other.url("/")])})

    stats = await crawl(config=make_config([server.url("/")],
                                           scope={"allowed_domains": ["127.0.0.1",
                                                                      "127.0.0.2"]}),
                        output=out_db)

    assert set(other.paths) == reachable(tree_site(3))
    assert stats.pages == 4
    assert stats.dropped.get("offsite", 0) == 0


async def test_default_scope_is_the_start_url_hosts(site_server, out_db) -> None:
    other = site_server(tree_site(3), host="127.0.0.3")
    server = site_server({"/": html_page("Home", links=[other.url("/"), "/a"]),
                          "/a": html_page("A")})

    stats = await crawl(config=make_config([server.url("/")]), output=out_db)

    assert other.requests == []
    assert set(server.paths) == {"/", "/a"}
    assert stats.dropped.get("offsite", 0) >= 1


async def test_include_regex_limits_fetched_pages_and_counts_not_included(site_server,
                                                                           out_db) -> None:
    server = site_server({
        "/keep/": html_page("Keep", links=["/keep/1", "/keep/2", "/other/1", "/other/2"]),
        "/keep/1": html_page("Keep 1", links=["/other/3", "/keep/2"]),
        "/keep/2": html_page("Keep 2"),
        "/other/1": html_page("Other 1"),
        "/other/2": html_page("Other 2"),
        "/other/3": html_page("Other 3"),
    })

    stats = await crawl(config=make_config([server.url("/keep/")],
                                           scope={"include": ["/keep/"]}),
                        output=out_db)

    assert sorted(server.paths) == ["/keep/", "/keep/1", "/keep/2"]
    assert stats.dropped.get("not_included", 0) >= 3


async def test_exclude_regex_skips_matching_pages_and_counts_excluded(site_server,
                                                                       out_db) -> None:
    server = site_server({
        "/": html_page("Home", links=["/list", "/list?sort=price", "/private/1", "/a"]),
        "/list": html_page("List", links=["/list?sort=name", "/private/2"]),
        "/list?sort=price": html_page("Sorted"),
        "/a": html_page("A"),
        "/private/1": html_page("Private"),
    })

    stats = await crawl(config=make_config([server.url("/")],
                                           scope={"exclude": [r"\?sort=", "/private/"]}),
                        output=out_db)

    assert sorted(server.paths) == ["/", "/a", "/list"]
    assert stats.dropped.get("excluded", 0) >= 4


async def test_mailto_and_javascript_links_are_dropped_as_scheme(site_server, out_db) -> None:
    server = site_server({
        "/": html_page("Home", links=["mailto:someone@example.com", "javascript:void(0)",
                                      "/a"]),
        "/a": html_page("A", links=["javascript:alert(1)"]),
    })

    stats = await crawl(config=make_config([server.url("/")]), output=out_db)

    assert sorted(server.paths) == ["/", "/a"]
    assert stats.dropped.get("scheme", 0) >= 3
    assert stats.errors == 0
    mailto = rows(out_db, "SELECT url FROM links WHERE href LIKE 'mailto:%'")
    assert mailto == [{"url": None}]


async def test_pages_beyond_max_depth_are_not_fetched(site_server, out_db) -> None:
    server = site_server(chain_site(8))

    stats = await crawl(config=make_config([server.url("/")], scope={"max_depth": 3}),
                        output=out_db)

    assert sorted(server.paths) == sorted(chain_path(i) for i in range(4))
    assert scalar(out_db, "SELECT max(depth) FROM pages") == 3
    assert stats.dropped.get("max_depth", 0) >= 1


async def test_max_pages_stores_exactly_that_many_pages(site_server, out_db) -> None:
    server = site_server(tree_site(40, fanout=5), latency=0.01)

    stats = await crawl(config=make_config([server.url("/")],
                                           limits={"max_pages": 7},
                                           fetch={"concurrency": 8},
                                           politeness={"per_host_concurrency": 4}),
                        output=out_db)

    assert scalar(out_db, "SELECT count(*) FROM pages") == 7
    assert stats.pages == 7
    assert len(server.requests) <= 7
    stored = {path_of(r["url"]) for r in rows(out_db, "SELECT url FROM pages")}
    assert set(server.paths) == stored


async def test_data_links_malformed_hosts_and_broken_brackets_are_dropped_unfetched(
        site_server, out_db) -> None:
    broken = ["http://[", "http://[zz::1]/", "http://exa mple.com/", "http://ex%ample.com/",
              "http://a..b/", "http://1.2.3.4.5/"]
    server = site_server({
        "/": html_page("Home", links=["data:text/html,<a href=/x>x</a>", *broken, "/a"]),
        "/a": html_page("A")})

    stats = await crawl(config=make_config([server.url("/")]), output=out_db)

    assert sorted(server.paths) == ["/", "/a"]
    assert stats.dropped["scheme"] == 1
    assert stats.dropped["invalid_url"] == len(broken)  # invalid, not merely offsite
    assert stats.errors == 0  # none of them broke the page's parse
    targets = {r["href"]: r["url"] for r in rows(out_db, "SELECT href, url FROM links")}
    assert [targets[href] for href in broken] == [None] * len(broken)
