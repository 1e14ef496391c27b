"""Spider subclasses: callbacks of every shape, items, meta, start_requests, errors in callbacks."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from crawler import Item, Request, Response, Spider, crawl
from tests.conftest import FAST_SETTINGS, items_of, rows, scalar
from tests.site import html_page, path_of, reachable, tree_site

pytestmark = pytest.mark.timeout(30)


class FastSpider(Spider):
    """A spider without politeness delay or robots.txt, bounded in pages and time."""

    name = "fast"
    custom_settings = FAST_SETTINGS


def flat_site(names: list[str]) -> dict[str, str]:
    site = {"/": html_page("Home", links=[f"/{n}" for n in names])}
    site.update({f"/{n}": html_page(n.upper(), links=["/"]) for n in names})
    return site


def page_urls(db) -> dict[int, str]:
    return {row["id"]: row["url"] for row in rows(db, "SELECT id, url FROM pages")}


async def test_dict_items_get_the_spider_name_as_type_and_their_page_id(site_server,
                                                                         out_db) -> None:
    site = tree_site(7)
    server = site_server(site)

    class Books(FastSpider):
        name = "books"
        start_urls = [server.url("/")]

        def parse(self, response: Response):
            yield {"title": response.title, "url": response.url}
            for url in response.links():
                yield response.follow(url)

    stats = await crawl(Books, output=out_db)

    items = items_of(out_db)
    assert stats.items == len(items) == 7
    assert {item["type"] for item in items} == {"books"}
    pages = page_urls(out_db)
    for item in items:
        assert pages[item["page_id"]] == item["data"]["url"] == item["url"]
    assert sorted(item["data"]["title"] for item in items) == sorted(
        f"Page {i}" for i in range(7))


async def test_item_objects_keep_their_explicit_type(site_server, out_db) -> None:
    server = site_server(flat_site(["a", "b"]))

    class Things(FastSpider):
        name = "things"
        start_urls = [server.url("/")]

        def parse(self, response: Response):
            yield Item(type="thing", data={"path": path_of(response.url), "n": 1})
            yield {"plain": True}
            for url in response.links():
                yield response.follow(url)

    await crawl(Things, output=out_db)

    things = items_of(out_db, "thing")
    assert sorted(t["data"]["path"] for t in things) == ["/", "/a", "/b"]
    assert all(t["data"]["n"] == 1 for t in things)
    assert len(items_of(out_db, "things")) == 3
    assert scalar(out_db, "SELECT count(*) FROM items") == 6


async def test_async_generator_callbacks_are_supported(site_server, out_db) -> None:
    server = site_server(flat_site(["a", "b", "c"]))

    class Async(FastSpider):
        name = "async"
        start_urls = [server.url("/")]

        async def parse(self, response: Response):
            await asyncio.sleep(0)
            for url in response.links():
                yield response.follow(url, callback=self.parse_detail)

        async def parse_detail(self, response: Response):
            await asyncio.sleep(0.001)
            yield {"title": response.title}

    stats = await crawl(Async, output=out_db)

    assert sorted(i["data"]["title"] for i in items_of(out_db)) == ["A", "B", "C"]
    assert stats.errors == 0


async def test_meta_passes_through_follow_to_the_callback(site_server, out_db) -> None:
    server = site_server(flat_site(["a", "b"]))

    class Meta(FastSpider):
        name = "meta"
        start_urls = [server.url("/")]

        def parse(self, response: Response):
            for n, url in enumerate(sorted(response.links())):
                if url != response.url:
                    yield response.follow(url, callback=self.parse_detail,
                                          meta={"from": response.url, "n": n})

        def parse_detail(self, response: Response):
            yield {
                "url": response.url,
                "from": response.meta["from"],
                "n": response.meta["n"],
                "request_meta": response.request.meta == response.meta,
                "depth": response.request.depth,
                "referrer": response.request.referrer,
                "callback": response.request.callback.__name__,
            }

    await crawl(Meta, output=out_db)

    data = sorted((i["data"] for i in items_of(out_db)), key=lambda d: d["url"])
    root = server.url("/")
    assert [(d["url"], d["from"]) for d in data] == [
        (server.url("/a"), root), (server.url("/b"), root)]
    assert len({d["n"] for d in data}) == 2
    assert all(d["request_meta"] and d["depth"] == 1 for d in data)
    assert all(d["referrer"] == root and d["callback"] == "parse_detail" for d in data)


async def test_start_requests_can_set_callback_and_meta(site_server, out_db) -> None:
    server = site_server(flat_site(["a", "b", "c"]))

    class Starts(FastSpider):
        name = "starts"

        def start_requests(self):
            yield Request(server.url("/a"), callback=self.parse_page, meta={"k": 1})
            yield Request(server.url("/b"), callback=self.parse_page, meta={"k": 2})

        def parse(self, response: Response):
            raise AssertionError("parse must not be called")

        def parse_page(self, response: Response):
            yield {"k": response.meta["k"], "path": path_of(response.url)}

    stats = await crawl(Starts, output=out_db)

    assert sorted((i["data"]["path"], i["data"]["k"]) for i in items_of(out_db)) == [
        ("/a", 1), ("/b", 2)]
    assert sorted(server.paths) == ["/a", "/b"]
    assert stats.errors == 0


async def test_callbacks_may_return_a_list_or_none(site_server, out_db) -> None:
    server = site_server(flat_site(["a", "b"]))

    class Plain(FastSpider):
        name = "plain"
        start_urls = [server.url("/")]

        def parse(self, response: Response) -> list[Any]:
            follows: list[Any] = [response.follow(u, callback=self.parse_leaf)
                                  for u in response.links() if u != response.url]
            return [{"home": response.title}, *follows]

        def parse_leaf(self, response: Response) -> None:
            return None

    stats = await crawl(Plain, output=out_db)

    assert sorted(server.paths) == ["/", "/a", "/b"]
    assert [i["data"] for i in items_of(out_db)] == [{"home": "Home"}]
    assert stats.errors == 0


async def test_a_yielded_url_string_is_followed_with_the_default_callback(site_server,
                                                                         out_db) -> None:
    server = site_server(flat_site(["a", "b"]))
    seen: list[str] = []

    class Strings(FastSpider):
        name = "strings"
        start_urls = [server.url("/")]

        def parse(self, response: Response) -> Any:
            seen.append(response.url)
            if response.url == server.url("/"):
                yield "/a"                      # relative to nothing: dropped as invalid_url
                yield server.url("/a#frag")     # absolute: followed (fragment dropped)
                yield response.urljoin("b")
                yield "mailto:x@example.com"    # not http(s): dropped as scheme

    stats = await crawl(Strings, output=out_db)

    assert sorted(server.paths) == ["/", "/a", "/b"]
    assert sorted(seen) == sorted([server.url("/"), server.url("/a"), server.url("/b")])
    assert stats.dropped["scheme"] == 1
    assert stats.dropped["invalid_url"] == 1
    assert scalar(out_db, "SELECT referrer FROM pages WHERE url = ?", server.url("/b")) == (
        server.url("/"))


async def test_default_parse_follows_every_link(site_server, out_db) -> None:
    site = tree_site(10)
    server = site_server(site)

    class Default(FastSpider):
        name = "default"
        start_urls = [server.url("/")]

    stats = await crawl(Default, output=out_db)

    assert set(server.paths) == reachable(site)
    assert stats.pages == 10
    assert stats.items == 0


@pytest.mark.parametrize("style", ["sync", "async"])
async def test_callback_that_raises_does_not_stop_the_crawl(site_server, out_db,
                                                            style: str) -> None:
    server = site_server(flat_site(["a", "b", "c", "d"]))

    def check(response: Response) -> None:
        if response.url.endswith("/b"):
            raise ValueError(f"boom on {path_of(response.url)}")

    class Fragile(FastSpider):
        name = "fragile"
        start_urls = [server.url("/")]

        def parse(self, response: Response):
            check(response)
            yield {"title": response.title}
            for url in response.links():
                yield response.follow(url)

    class AsyncFragile(Fragile):
        async def parse(self, response: Response):
            await asyncio.sleep(0)
            check(response)
            yield {"title": response.title}
            for url in response.links():
                yield response.follow(url)

    stats = await crawl(Fragile if style == "sync" else AsyncFragile, output=out_db)

    assert stats.status == "finished"
    assert sorted(i["data"]["title"] for i in items_of(out_db)) == ["A", "C", "D", "Home"]
    errors = rows(out_db, "SELECT url, kind, message, traceback FROM errors")
    assert len(errors) == 1
    assert errors[0]["url"] == server.url("/b")
    assert errors[0]["kind"] == "callback"
    assert "boom on /b" in errors[0]["traceback"]
    assert "ValueError" in errors[0]["traceback"]
    assert {"/", "/a", "/c", "/d"} <= {path_of(r["url"]) for r in rows(
        out_db, "SELECT url FROM pages")}


async def test_custom_settings_apply_to_the_crawl(site_server, out_db) -> None:
    server = site_server(tree_site(20))

    class Few(FastSpider):
        name = "few"
        start_urls = [server.url("/")]
        custom_settings = {**FAST_SETTINGS, "limits.max_pages": 2, "fetch.concurrency": 1}

    stats = await crawl(Few, output=out_db)

    assert stats.pages == 2
    assert len(server.requests) == 2


async def test_spider_allowed_domains_admit_another_host(site_server, out_db) -> None:
    other = site_server(tree_site(3), host="127.0.0.2")
    server = site_server({"/": html_page("Home", links=[other.url("/")])})

    class Wide(FastSpider):
        name = "wide"
        start_urls = [server.url("/")]
        allowed_domains = ["127.0.0.1", "127.0.0.2"]

    await crawl(Wide, output=out_db)

    assert set(other.paths) == reachable(tree_site(3))


async def test_a_spider_instance_can_be_crawled(site_server, out_db) -> None:
    server = site_server(flat_site(["a"]))

    class One(FastSpider):
        name = "one"

        def __init__(self, start: str) -> None:
            super().__init__()
            self.start_urls = [start]

    stats = await crawl(One(server.url("/")), output=out_db)

    assert stats.pages == 2


async def test_response_exposes_status_headers_title_css_and_links(site_server,
                                                                    out_db) -> None:
    server = site_server({
        "/dir/page": (
            '<!doctype html><html><head><meta charset="utf-8"><title>The Title</title>'
            '</head><body><h1 class="x">Héllo</h1><p class="n">1</p><p class="n">2</p>'
            '<a href="/a#frag">a</a> <a href="b">b</a> '
            '<a href="http://127.0.0.2:9/c">c</a></body></html>'),
    })

    class Inspect(FastSpider):
        name = "inspect"
        start_urls = [server.url("/dir/page")]

        def parse(self, response: Response):
            h1 = response.css_first("h1.x")
            yield {
                "url": response.url,
                "status": response.status,
                "ctype": response.headers["content-type"],
                "ctype_mixed": response.headers["Content-Type"],
                "title": response.title,
                "h1": h1.text() if h1 is not None else None,
                "missing": response.css_first("h2") is None,
                "ns": [node.text() for node in response.css("p.n")],
                "hrefs": [node.attributes.get("href") for node in response.css("a")],
                "links": response.links(),
                "urljoin": response.urljoin("../up?q=1"),
                "encoding": response.encoding.lower().replace("_", "-"),
                "body_is_bytes": isinstance(response.body, bytes),
                "text_has_h1": "Héllo" in response.text,
            }

    await crawl(Inspect, output=out_db)

    [item] = [i["data"] for i in items_of(out_db)]
    assert item == {
        "url": server.url("/dir/page"),
        "status": 200,
        "ctype": "text/html; charset=utf-8",
        "ctype_mixed": "text/html; charset=utf-8",
        "title": "The Title",
        "h1": "Héllo",
        "missing": True,
        "ns": ["1", "2"],
        "hrefs": ["/a#frag", "b", "http://127.0.0.2:9/c"],
        "links": [server.url("/a"), server.url("/dir/b"), "http://127.0.0.2:9/c"],
        "urljoin": server.url("/up?q=1"),
        "encoding": "utf-8",
        "body_is_bytes": True,
        "text_has_h1": True,
    }
