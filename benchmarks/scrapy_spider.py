"""Scrapy's side of the throughput benchmark: crawl a site and store it in SQLite.

Run with the Python of a virtual environment that has Scrapy (the driver makes
a throwaway one)::

    /tmp/crawler-bench-scrapy-venv/bin/python benchmarks/scrapy_spider.py \\
        http://127.0.0.1:8765/index.html out.db

Scrapy gets its fairest throughput settings: 64 concurrent requests (per domain
too), no delay, no robots.txt, no AutoThrottle, no cookies, no telnet console or
remote control, warnings-only logging, and ``CONCURRENT_ITEMS`` tuned down to 16
(faster than the default 100 here). Override any setting with ``-s NAME=VALUE``.

The spider stores what our crawler stores with ``store: {body: true, text: true,
links: true}``: a ``pages`` row per page (url, status, title, text, headers as
JSON, body) and a ``links`` row per ``<a href>`` (page_id, url, href, text),
written by an item pipeline with ``executemany`` and a commit every 500 items.
Parsing uses lxml through Scrapy's own selector tree (``response.selector.root``),
the quickest route Scrapy offers.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import urldefrag

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.http import HtmlResponse

BATCH = 500

SCHEMA = """
CREATE TABLE IF NOT EXISTS pages (
    id INTEGER PRIMARY KEY, url TEXT NOT NULL, status INTEGER, title TEXT, text TEXT,
    headers TEXT, body BLOB);
CREATE TABLE IF NOT EXISTS links (
    page_id INTEGER NOT NULL REFERENCES pages(id), url TEXT, href TEXT NOT NULL, text TEXT);
CREATE INDEX IF NOT EXISTS pages_url ON pages(url);
CREATE INDEX IF NOT EXISTS links_page_id ON links(page_id);
CREATE INDEX IF NOT EXISTS links_url ON links(url);
"""

SETTINGS: dict[str, Any] = {
    "CONCURRENT_REQUESTS": 64,
    "CONCURRENT_REQUESTS_PER_DOMAIN": 64,
    # Scrapy >= 2.13 starts CONCURRENT_ITEMS tasks per response to process the
    # callback's output; the default 100 costs more than it gives here (~30
    # outputs per page). 16 measured 10-25% faster on this site.
    "CONCURRENT_ITEMS": 16,
    "DOWNLOAD_DELAY": 0,
    "ROBOTSTXT_OBEY": False,
    "AUTOTHROTTLE_ENABLED": False,
    "COOKIES_ENABLED": False,
    "TELNETCONSOLE_ENABLED": False,
    "REMOTE_CONTROL_ENABLED": False,
    "LOG_LEVEL": "WARNING",
}


def headers_json(response: scrapy.http.Response) -> str:
    """Response headers as a JSON object with lower-case names, repeats joined by ', '."""
    return json.dumps({
        name.decode("latin-1").lower(): ", ".join(v.decode("latin-1") for v in values)
        for name, values in response.headers.items()
    })


def page_text(root: Any) -> str:
    """The visible text of the ``<body>``: text nodes outside script and style."""
    nodes = root.xpath("//body//text()[not(parent::script) and not(parent::style)]")
    return " ".join(t for t in (n.strip() for n in nodes) if t)


def page_links(response: HtmlResponse, root: Any) -> list[tuple[str | None, str, str]]:
    """``(url, href, text)`` for every ``<a href>``; url is None unless http(s)."""
    links = []
    for a in root.iter("a"):
        href = a.get("href")
        if href is None:
            continue
        url = response.urljoin(href.strip())
        if not url.lower().startswith(("http://", "https://")):
            url = None
        links.append((url, href, a.text_content().strip()))
    return links


class BenchSpider(scrapy.Spider):
    """Follows every http(s) link and yields one item per page."""

    name = "bench"

    def __init__(self, start_url: str, allowed: str = "127.0.0.1", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.start_urls = [start_url]
        self.allowed_domains = [allowed]

    async def start(self) -> AsyncIterator[Any]:
        """The start URL, with duplicate filtering on (Scrapy's default turns it off,
        which would fetch the start page a second time when a page links to it)."""
        for request in self.start_requests():
            yield request

    def start_requests(self) -> Iterator[scrapy.Request]:
        """Same as ``start`` for Scrapy before 2.13."""
        for url in self.start_urls:
            yield scrapy.Request(url, callback=self.parse)

    def parse(self, response: scrapy.http.Response, **kwargs: Any) -> Iterator[Any]:
        """Yield the page's item, then a request per distinct link (Scrapy dedupes)."""
        if not isinstance(response, HtmlResponse):
            return
        root = response.selector.root
        links = page_links(response, root)
        yield {
            "url": response.url,
            "status": response.status,
            "title": root.findtext(".//title"),
            "text": page_text(root),
            "headers": headers_json(response),
            "body": response.body,
            "links": links,
        }
        follow = {urldefrag(url)[0] for url, _, _ in links if url is not None}
        for url in follow:
            yield scrapy.Request(url, callback=self.parse)


class SQLitePipeline:
    """Writes items to SQLite: ``executemany`` and one commit every ``BATCH`` items."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.db: sqlite3.Connection | None = None
        self.next_id = 1
        self.pages: list[tuple[Any, ...]] = []
        self.links: list[tuple[Any, ...]] = []

    @classmethod
    def from_crawler(cls, crawler: Any) -> SQLitePipeline:
        """Read the database path from the ``BENCH_DB`` setting."""
        return cls(crawler.settings["BENCH_DB"])

    def open_spider(self, spider: scrapy.Spider | None = None) -> None:
        """Open the database and create the tables."""
        self.db = sqlite3.connect(self.path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(SCHEMA)

    def process_item(self, item: dict[str, Any], spider: scrapy.Spider | None = None) -> Any:
        """Buffer the page and its links; flush every ``BATCH`` pages."""
        page_id = self.next_id
        self.next_id += 1
        self.pages.append((page_id, item["url"], item["status"], item["title"], item["text"],
                           item["headers"], item["body"]))
        self.links.extend((page_id, url, href, text) for url, href, text in item["links"])
        if len(self.pages) >= BATCH:
            self.flush()
        return item

    def flush(self) -> None:
        """Write the buffered rows in one transaction."""
        assert self.db is not None
        with self.db:
            self.db.executemany("INSERT INTO pages VALUES (?, ?, ?, ?, ?, ?, ?)", self.pages)
            self.db.executemany("INSERT INTO links VALUES (?, ?, ?, ?)", self.links)
        self.pages.clear()
        self.links.clear()

    def close_spider(self, spider: scrapy.Spider | None = None) -> None:
        """Flush what is left and close the database."""
        self.flush()
        assert self.db is not None
        self.db.close()


def parse_args(argv: list[str]) -> argparse.Namespace:
    """``START_URL DB [-s NAME=VALUE ...]``."""
    parser = argparse.ArgumentParser(description="Crawl a site with Scrapy into SQLite.")
    parser.add_argument("start_url")
    parser.add_argument("db")
    parser.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override a Scrapy setting (value parsed as JSON if it can be)")
    return parser.parse_args(argv)


def overrides(pairs: list[str]) -> dict[str, Any]:
    """``NAME=VALUE`` strings as settings; values are JSON when they parse as JSON."""
    out: dict[str, Any] = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        try:
            out[name] = json.loads(value)
        except ValueError:
            out[name] = value
    return out


def main(argv: list[str]) -> int:
    """Crawl and store; exit 0 on success."""
    args = parse_args(argv)
    settings = {**SETTINGS, "ITEM_PIPELINES": {SQLitePipeline: 300}, "BENCH_DB": args.db,
                **overrides(args.set)}
    process = CrawlerProcess(settings)
    process.crawl(BenchSpider, start_url=args.start_url)
    process.start()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
