"""Page-level robots directives: meta robots, meta AGENT, X-Robots-Tag and rel=nofollow.

The parser is tested on its own; the crawl tests check what reaches the
server and the database: a nofollow page's links are stored but not fetched,
a noindex page keeps its row but no title, text or body, and stays out of search.
"""

from __future__ import annotations

import html as html_lib

import pytest

from crawler import Spider, crawl
from crawler.politeness.directives import PageDirectives, page_directives
from tests.conftest import FAST_SETTINGS, make_config, rows, scalar
from tests.site import Page, path_of

pytestmark = pytest.mark.timeout(60)

NONE, NOINDEX, NOFOLLOW, BOTH = (PageDirectives(), PageDirectives(noindex=True),
                                 PageDirectives(nofollow=True),
                                 PageDirectives(noindex=True, nofollow=True))


@pytest.mark.parametrize(("headers", "meta", "expected"), [
    ([], [], NONE),
    (["noindex"], [], NOINDEX),
    (["NoFollow"], [], NOFOLLOW),
    (["none"], [], BOTH),
    (["all"], [], NONE),
    (["noindex, nofollow"], [], BOTH),
    (["noindex", "nofollow"], [], BOTH),                   # several headers add up
    (["crawler: noindex"], [], NOINDEX),                   # our agent
    (["otherbot: noindex, nofollow"], [], NONE),           # another agent, both words
    (["otherbot: noindex, crawler: nofollow"], [], NOFOLLOW),  # headers joined by a proxy
    (["nofollow, otherbot: noindex"], [], NOFOLLOW),
    (["unavailable_after: 25 Jun 2010 15:00:00 PST"], [], NONE),  # a directive, not an agent
    (["max-snippet: 20, noindex"], [], NOINDEX),
    ([], [("robots", "noindex,nofollow")], BOTH),
    ([], [("ROBOTS", " NoIndex ")], NOINDEX),
    ([], [("robots", "noindex nofollow")], BOTH),          # spaces instead of commas
    ([], [("crawler", "none")], BOTH),                     # <meta name="our token">
    ([], [("otherbot", "noindex")], NONE),
    ([], [("description", "noindex")], NONE),
    ([], [("robots", "noindex"), ("crawler", "nofollow")], BOTH),
    (["nofollow"], [("robots", "noindex")], BOTH),         # header and meta add up
])
def test_page_directives_combine_every_source_that_names_us(
        headers: list[str], meta: list[tuple[str, str]], expected: PageDirectives) -> None:
    assert page_directives("crawler", headers=headers, meta=meta) == expected


def test_page_directives_match_the_agent_case_insensitively() -> None:
    assert page_directives("MyBot", headers=["mybot: noindex"]) == NOINDEX
    assert page_directives("MyBot", meta=[("MYBOT", "nofollow")]) == NOFOLLOW


# ---- crawls ----

def doc(title: str, *, meta: tuple[str, str] | None = None, links: list[str] = (),
        body: str = "") -> str:
    """An HTML page with an optional <meta name content> and some links."""
    head = ""
    if meta is not None:
        name, content = (html_lib.escape(v) for v in meta)
        head = f'<meta name="{name}" content="{content}">'
    anchors = "".join(f'<a href="{html_lib.escape(h)}">{html_lib.escape(h)}</a>' for h in links)
    return (f"<!doctype html><html><head><title>{title}</title>{head}</head>"
            f"<body><p>{body or 'Text of ' + title}</p>{anchors}</body></html>")


# path: (how the page says it, noindex, nofollow). Each page links to PATH/child.
SOURCES = {
    "/meta-nofollow": ({"meta": ("robots", "nofollow")}, False, True),
    "/meta-noindex": ({"meta": ("robots", "noindex")}, True, False),
    "/meta-none": ({"meta": ("robots", "none")}, True, True),
    "/meta-ours": ({"meta": ("crawler", "noindex, nofollow")}, True, True),
    "/meta-theirs": ({"meta": ("otherbot", "noindex, nofollow")}, False, False),
    "/header-noindex": ({"header": "noindex"}, True, False),
    "/header-ours": ({"header": "crawler: nofollow"}, False, True),
    "/header-theirs": ({"header": "otherbot: noindex, nofollow"}, False, False),
    "/plain": ({}, False, False),
}


def directives_site() -> dict:
    site = {"/": doc("Home", links=list(SOURCES))}
    for path, (how, _, _) in SOURCES.items():
        headers = {"X-Robots-Tag": how["header"]} if "header" in how else {}
        site[path] = Page(doc(path, meta=how.get("meta"), links=[f"{path}/child"]),
                          headers=headers)
        site[f"{path}/child"] = doc(f"{path} child")
    return site


@pytest.mark.parametrize(("noindex", "nofollow"), [
    ("obey", "obey"), ("ignore", "obey"), ("obey", "ignore")])
async def test_meta_robots_and_x_robots_tag_are_obeyed_unless_ignored(
        site_server, out_db, noindex: str, nofollow: str) -> None:
    server = site_server(directives_site())
    config = make_config([server.url("/")],
                         politeness={"noindex": noindex, "nofollow": nofollow})

    stats = await crawl(config=config, output=out_db)

    fetched = set(server.paths)
    stored = {path_of(r["url"]): r for r in rows(out_db, "SELECT url, title FROM pages")}
    for path, (_, is_noindex, is_nofollow) in SOURCES.items():
        hidden = is_noindex and noindex == "obey"
        unfollowed = is_nofollow and nofollow == "obey"
        assert (stored[path]["title"] is None) is hidden, path
        assert (f"{path}/child" not in fetched) is unfollowed, path
    expected_noindex = sum(n for _, n, _ in SOURCES.values()) if noindex == "obey" else 0
    expected_nofollow = sum(f for _, _, f in SOURCES.values()) if nofollow == "obey" else 0
    assert stats.noindex == expected_noindex
    assert stats.dropped["nofollow"] == expected_nofollow


async def test_a_nofollow_page_keeps_its_links_but_none_is_fetched(site_server, out_db) -> None:
    server = site_server({"/": doc("Home", meta=("robots", "nofollow"), links=["/a", "/b"]),
                          "/a": doc("A"), "/b": doc("B")})

    stats = await crawl(config=make_config([server.url("/")]), output=out_db)

    assert server.paths == ["/"]
    assert [r["url"] for r in rows(out_db, "SELECT url FROM links ORDER BY rowid")] == [
        server.url("/a"), server.url("/b")]
    assert stats.dropped["nofollow"] == 2


async def test_a_noindex_page_keeps_its_row_but_no_content_and_is_not_searchable(
        site_server, out_db) -> None:
    server = site_server({
        "/": doc("Home", links=["/secret", "/open"]),
        "/secret": doc("Zebra secret", meta=("robots", "noindex"), body="zebra words",
                       links=["/child"]),
        "/open": doc("Open", body="zebra in the open"),
        "/child": doc("Child"),
    })

    await crawl(config=make_config([server.url("/")]), output=out_db)

    (secret,) = rows(out_db, "SELECT * FROM pages WHERE url = ?", server.url("/secret"))
    assert secret["status"] == 200 and secret["size"] > 0
    assert secret["content_type"] == "text/html"
    assert (secret["title"], secret["text"], secret["body"]) == (None, None, None)
    found = rows(out_db, "SELECT p.url FROM pages_fts JOIN pages p ON p.id = pages_fts.rowid "
                         "WHERE pages_fts MATCH 'zebra'")
    assert found == [{"url": server.url("/open")}]
    assert "/child" in server.paths  # noindex alone does not stop following


async def test_x_robots_tag_noindex_applies_to_a_non_html_response(site_server, out_db) -> None:
    server = site_server({
        "/": doc("Home", links=["/report.txt"]),
        "/report.txt": Page("private numbers", content_type="text/plain",
                            headers={"X-Robots-Tag": "noindex"}),
    })

    await crawl(config=make_config([server.url("/")]), output=out_db)

    assert scalar(out_db, "SELECT body FROM pages WHERE url = ?",
                  server.url("/report.txt")) is None
    assert scalar(out_db, "SELECT body FROM pages WHERE url = ?", server.url("/")) is not None


def rel_site() -> dict:
    return {
        "/": ('<html><body><a rel="nofollow" href="/sponsored">ad</a>'
              '<a href="/plain">plain</a><a rel="external nofollow" href="/both">x</a>'
              '<a href="/both">both</a></body></html>'),
        "/sponsored": doc("Sponsored"), "/plain": doc("Plain"), "/both": doc("Both"),
    }


async def test_rel_nofollow_links_are_followed_by_default(site_server, out_db) -> None:
    server = site_server(rel_site())

    stats = await crawl(config=make_config([server.url("/")]), output=out_db)

    assert sorted(server.paths) == ["/", "/both", "/plain", "/sponsored"]
    assert stats.dropped["nofollow"] == 0


async def test_rel_nofollow_links_are_skipped_when_configured(site_server, out_db) -> None:
    server = site_server(rel_site())
    config = make_config([server.url("/")], politeness={"rel_nofollow": "skip"})

    stats = await crawl(config=config, output=out_db)

    # /both is also linked plainly, so it is followed
    assert sorted(server.paths) == ["/", "/both", "/plain"]
    assert stats.dropped["nofollow"] == 1
    assert scalar(out_db, "SELECT count(*) FROM links WHERE url = ?",
                  server.url("/sponsored")) == 1


async def test_requests_a_spider_yields_from_a_nofollow_page_are_dropped(site_server,
                                                                        out_db) -> None:
    server = site_server({
        "/": doc("Home", links=["/next"]),
        "/next": doc("Next", meta=("robots", "nofollow"), links=["/after"]),
        "/after": doc("After"),
    })

    class Follower(Spider):
        name = "follower"
        start_urls = [server.url("/")]
        custom_settings = FAST_SETTINGS

        def parse(self, response):
            for link in response.css("a"):
                yield response.follow(link.attributes["href"])

    stats = await crawl(Follower, output=out_db)

    assert server.paths == ["/", "/next"]
    assert stats.dropped["nofollow"] == 1
