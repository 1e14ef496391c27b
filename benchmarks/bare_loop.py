"""The ceiling: a bare aiohttp + selectolax + yarl crawl loop with no storage.

64 worker tasks share one ``asyncio.Queue``; a ``set`` of canonical URLs
(fragment dropped, yarl-normalized) dedupes; links are followed only on the
start URL's origin. Nothing is stored: each page is fetched, parsed and its
links are scheduled. This is roughly the most a Python asyncio crawler can do
per CPU-second, the reference the throughput benchmark compares against::

    .venv/bin/python benchmarks/bare_loop.py http://127.0.0.1:8765/index.html

Bounded: at most ``--max-pages`` URLs are ever queued and the crawl is
abandoned after ``--timeout`` seconds. Prints a one-line JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass

import aiohttp
from selectolax.lexbor import LexborHTMLParser
from yarl import URL


@dataclass
class Stats:
    """What the crawl did."""

    pages: int = 0
    errors: int = 0
    links: int = 0
    seconds: float = 0.0


def page_links(base: URL, body: bytes) -> list[URL]:
    """Absolute http(s) URLs of the page's ``<a href>``, fragments dropped."""
    out = []
    for node in LexborHTMLParser(body).css("a[href]"):
        href = node.attributes.get("href")
        if not href:
            continue
        try:
            url = base.join(URL(href.strip()))
        except ValueError:
            continue
        if url.scheme in ("http", "https") and url.host:
            if url.raw_query_string:  # parameters sorted by name, as Scrapy and Crawlee do
                url = url.with_query(sorted(url.query.items(), key=lambda kv: kv[0]))
            out.append(url.with_fragment(None))
    return out


class BareCrawler:
    """Queue + workers + seen-set; the whole crawler."""

    def __init__(self, start: URL, workers: int, max_pages: int) -> None:
        self.origin = start.origin()
        self.workers = workers
        self.max_pages = max_pages
        self.queue: asyncio.Queue[URL] = asyncio.Queue()
        self.seen: set[URL] = {start}
        self.stats = Stats()
        self.queue.put_nowait(start)

    def schedule(self, urls: list[URL]) -> None:
        """Queue the URLs not seen before that are on the start origin."""
        self.stats.links += len(urls)
        for url in urls:
            if url in self.seen or len(self.seen) >= self.max_pages:
                continue
            if url.origin() == self.origin:
                self.seen.add(url)
                self.queue.put_nowait(url)

    async def fetch(self, session: aiohttp.ClientSession, url: URL) -> None:
        """Fetch one page, parse its links, schedule them."""
        try:
            async with session.get(url) as resp:
                body = await resp.read()
                is_html = resp.content_type == "text/html"
        except (TimeoutError, aiohttp.ClientError):
            self.stats.errors += 1
            return
        self.stats.pages += 1
        if is_html:
            self.schedule(page_links(url, body))

    async def worker(self, session: aiohttp.ClientSession) -> None:
        """Take URLs from the queue until cancelled."""
        while True:
            url = await self.queue.get()
            try:
                await self.fetch(session, url)
            finally:
                self.queue.task_done()

    async def run(self, timeout: float) -> Stats:
        """Crawl until the queue is drained (or ``timeout`` seconds pass)."""
        started = time.perf_counter()
        connector = aiohttp.TCPConnector(limit=self.workers)
        client_timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=connector, timeout=client_timeout) as session:
            tasks = [asyncio.create_task(self.worker(session)) for _ in range(self.workers)]
            try:
                await asyncio.wait_for(self.queue.join(), timeout)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        self.stats.seconds = time.perf_counter() - started
        return self.stats


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; exit 1 if any fetch failed or the timeout hit."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("start_url")
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--max-pages", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    crawler = BareCrawler(URL(args.start_url), args.workers, args.max_pages)
    try:
        stats = asyncio.run(crawler.run(args.timeout))
    except TimeoutError:
        print(json.dumps({**asdict(crawler.stats), "timeout": True}))
        return 1
    print(json.dumps(asdict(stats)))
    return 1 if stats.errors else 0


if __name__ == "__main__":
    sys.exit(main())
