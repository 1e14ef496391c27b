"""A small loopback site with known content, and crawl databases made by really crawling it.

Tests of the database commands (query, stats, search, export) read
databases produced by `crawler.crawl` against this site, so they exercise
what a crawl actually writes. The site and the crawl share one
`asyncio.run`; the database outlives the server. Each variant is crawled
once per test session and shared, read-only, by every test that asks.

    /                   Home: links to everything below, sets two cookies
    /about              About us: links back home and to /missing
    /product/1, /2      Lamp and Rope: extracted as `product` items
    /guide              mentions "lighthouse" many times
    /news               mentions "lighthouse" once
    /old                302 redirect to /moved (a page row of its own; /moved carries the chain)
    /gz                 gzip-encoded HTML (Content-Encoding: gzip)
    /slow               answers after SLOW_DELAY seconds
    /data.json          application/json
    /deep/1 → /deep/2 → /deep/3
    /missing            404 (linked from / and /about)
    /gone               410 (linked from /news)
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import json
import os
import shutil
import sqlite3
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

import crawler
from crawler.cli import db as cli_db
from crawler.config import StoreConfig, config_from_dict

REPO = Path(__file__).resolve().parent.parent

SLOW_DELAY = 0.4
LIGHTHOUSE_MANY = 9
USER_AGENT = "dbsite-test/1.0"


def page(title: str, body: str, links: tuple[str, ...] = ()) -> str:
    anchors = "".join(f'<li><a href="{href}">{text}</a></li>' for href, text in
                      (link.split("|", 1) if "|" in link else (link, link) for link in links))
    return (f"<!doctype html><html><head><title>{title}</title>"
            "<style>body { color: black }</style><script>var tracking = 1;</script></head>"
            f"<body><nav><a href=\"/\">Home</a> <a href=\"/about\">About</a></nav>"
            f"<main><h1>{title}</h1>{body}<ul class=\"links\">{anchors}</ul></main>"
            "<footer>Footer boilerplate</footer></body></html>")


def product(name: str, tags: list[str], price: str) -> str:
    items = "".join(f'<li class="tag">{tag}</li>' for tag in tags)
    return page(name, f'<p class="price">{price}</p><ul>{items}</ul>', ("/|back",))


GUIDE_TEXT = " ".join(
    f"<p>The lighthouse keeper climbs the lighthouse stairs, paragraph {i}.</p>"
    for i in range((LIGHTHOUSE_MANY + 1) // 2))
NEWS_TEXT = ("<p>Harbour news: the ferry timetable changes in spring, the fish market "
             "opens earlier, the old lighthouse is repainted, and the pier gets new "
             "lamps. Sailors, fishermen and visitors welcome the changes.</p>")

HTML = {
    "/": page("Home", "<p>Welcome to the harbour site.</p>", (
        "/about|About us", "/product/1|Lamp", "/product/2|Rope", "/guide|Guide",
        "/news|News", "/old|Old page", "/gz|Compressed", "/slow|Slow", "/data.json|Data",
        "/deep/1|Deep", "/missing|Missing page", "mailto:harbour@example.org|Mail us")),
    "/about": page("About us", "<p>We are a small harbour.</p>",
                   ("/|Home", "/missing|Broken again")),
    "/product/1": product("Lamp", ["light", "brass"], "12.50"),
    "/product/2": product("Rope", ["hemp"], "3.99"),
    "/guide": page("Guide", GUIDE_TEXT),
    "/news": page("News", NEWS_TEXT, ("/gone|Old story",)),
    "/moved": page("Moved here", "<p>The page that /old redirects to.</p>"),
    "/gz": page("Compressed", "<p>This page travelled gzip-encoded.</p>"),
    "/slow": page("Slow", "<p>This page takes its time.</p>"),
    "/deep/1": page("Deep 1", "<p>one</p>", ("/deep/2",)),
    "/deep/2": page("Deep 2", "<p>two</p>", ("/deep/3",)),
    "/deep/3": page("Deep 3", "<p>three</p>"),
}
MISSING = {"/missing": 404, "/gone": 410}
DATA_JSON = json.dumps({"harbour": "data"}).encode()
KNOWN_PAGES = len(HTML) + len(MISSING) + 2  # + /data.json and /old (the 302 itself)


async def handle(request: web.Request) -> web.StreamResponse:
    path = request.path
    if path == "/old":
        raise web.HTTPFound("/moved")
    if path == "/data.json":
        return web.Response(body=DATA_JSON, content_type="application/json")
    if path in MISSING:
        return web.Response(status=MISSING[path], text=page("Not found", "<p>Nothing</p>"),
                            content_type="text/html")
    if path not in HTML:
        return web.Response(status=404, text="no such page")
    if path == "/slow":
        await asyncio.sleep(SLOW_DELAY)
    html = HTML[path].encode()
    if path == "/gz":
        return web.Response(body=gzip.compress(html), headers={
            "Content-Type": "text/html; charset=utf-8", "Content-Encoding": "gzip"})
    response = web.Response(body=html, content_type="text/html", charset="utf-8")
    if path == "/":
        response.set_cookie("session", "abc")
        response.set_cookie("theme", "dark")
    return response


async def start_site() -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


def crawl_config(base: str, *, body: bool, max_depth: int | None = None) -> dict[str, Any]:
    # non_html: body, so the JSON resource keeps its body for the blob tests.
    store: dict[str, Any] = {"body": body, "text": True, "links": True, "non_html": "body"}
    if hasattr(StoreConfig(), "markdown"):
        store["markdown"] = True
    return {
        "name": "harbour", "start_urls": [f"{base}/"],
        "politeness": {"robots_txt": "ignore", "per_host_delay": 0, "per_host_concurrency": 8},
        "fetch": {"concurrency": 8, "user_agent": USER_AGENT},
        "limits": {"max_pages": 200, "max_duration": "60s"},
        "scope": {"max_depth": max_depth},
        "extract": {"match": "/product/", "type": "product",
                    "fields": {"name": "h1::text", "price": "p.price::text",
                               "tags": ["li.tag::text"]}},
        "store": store,
    }


async def crawl_site(output: Path, *, body: bool = True, max_depth: int | None = None) -> str:
    """Serve the site, crawl it into `output`, stop the site; returns the site's base URL."""
    runner, base = await start_site()
    try:
        config = crawl_config(base, body=body, max_depth=max_depth)
        await crawler.crawl(config=config_from_dict(config), output=output)
    finally:
        await runner.cleanup()
    return base


@dataclass(frozen=True)
class SiteDB:
    """A crawled database: its path, the site's base URL (port gone now) and crawl id."""

    path: Path
    base: str
    crawl_id: int

    def url(self, path: str) -> str:
        return self.base + path

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        con = sqlite3.connect(self.path)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()


_CACHE: dict[str, SiteDB] = {}


def _latest_crawl(path: Path) -> int:
    con = sqlite3.connect(path)
    try:
        return int(con.execute("SELECT max(id) FROM crawls").fetchone()[0])
    finally:
        con.close()


def site_db(factory: pytest.TempPathFactory, *, body: bool = True) -> SiteDB:
    """The database of one real crawl of the site (one crawl per variant per session)."""
    key = f"body={body}"
    if key not in _CACHE:
        path = factory.mktemp("dbsite") / f"harbour-{'body' if body else 'nobody'}.db"
        base = asyncio.run(crawl_site(path, body=body))
        _CACHE[key] = SiteDB(path, base, _latest_crawl(path))
    return _CACHE[key]


def two_crawl_db(factory: pytest.TempPathFactory) -> SiteDB:
    """The full crawl, then a second crawl of the home page only into the same file.

    `crawl_id` is the second (latest) crawl; the first is `crawl_id - 1`.
    """
    if "two" not in _CACHE:
        first = site_db(factory)
        path = factory.mktemp("dbsite") / "harbour-two.db"
        shutil.copyfile(first.path, path)
        base = asyncio.run(crawl_site(path, max_depth=0))
        _CACHE["two"] = SiteDB(path, base, _latest_crawl(path))
    return _CACHE["two"]


TWO_CRAWL_PAGES = 1


# -- running the commands ------------------------------------------------------


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


def run_cli(*args: str | Path) -> CliResult:
    """Run one database command in this process, as `crawler ARGS` would, capturing output."""
    parser = argparse.ArgumentParser(prog="crawler")
    sub = parser.add_subparsers(dest="command", required=True)
    cli_db.register(sub)
    ns = parser.parse_args([str(a) for a in args])
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = ns.func(ns)
    return CliResult(code, out.getvalue(), err.getvalue())


def crawler_command(*args: str | Path) -> list[str]:
    """argv for `python -m crawler ARGS` in a subprocess."""
    return [sys.executable, "-m", "crawler", *(str(a) for a in args)]


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["NO_COLOR"] = "1"
    return env


# -- a large database, written directly (crawling 20,000 pages would be slow) ----


def build_large_db(path: Path, *, pages: int, body_size: int, text_size: int = 256) -> int:
    """A database of `pages` HTML pages with `body_size`-byte bodies; returns total body bytes."""
    from crawler.store.records import PageRecord, iso_time
    from crawler.store.sqlite import Store

    filler = "<p>" + "The harbour wall keeps the sea out of the town. " * 40 + "</p>\n"
    template = filler * (body_size // len(filler) + 1)
    text = ("harbour wall sea town " * (text_size // 22 + 1))[:text_size]

    async def write() -> int:
        total = 0
        async with Store(path) as store:
            await store.start_crawl("large", {"fetch": {"user_agent": "large/1.0"}})
            for i in range(pages):
                url = f"http://127.0.0.1:9/page/{i}"
                body = f"<html><head><title>Page {i}</title></head><body>{template}".encode()
                body = body[:body_size]
                total += len(body)
                store.write(PageRecord(
                    url=url, final_url=url, status=200, depth=1, size=len(body),
                    headers='{"content-type": "text/html; charset=utf-8"}',
                    fetched_at=iso_time(1_700_000_000 + i), content_type="text/html",
                    title=f"Page {i}", text=text, body=body))
                await store.maybe_flush()
            await store.finish_crawl("finished", {})
        return total

    return asyncio.run(write())
