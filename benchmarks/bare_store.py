"""The bare loop that stores what issue 10 asks stored: the floor under "both cores".

`bare_loop.py` fetches, parses and follows links and keeps nothing. This is
the same loop (its queue, workers, seen-set and link parsing) plus what the
issue's bar names, stored the simplest fast way we know, with no crawler
around it:

- per page: URL, status, title, visible text and the body in `pages`;
- per link: (page_id, canonical URL, href, anchor text) in `links`, with the
  two indexes "links of a page" and "who links here" need (the second built
  once at the end, as the crawler's store does);
- the full-text index: FTS5 over title and text (detail=full, so phrase
  queries work), external content, fed per batch.

The SQLite work runs in one writer thread (the `sqlite3` module releases
the GIL inside SQLite), 400 pages per transaction, WAL, `synchronous=NORMAL`,
a 32 MiB page cache, and what the crawler's store measured cheaper: 16 KiB
pages, a batch's pages in one multi-row statement, FTS5 `automerge` 8 and
`hashsize` 4 MiB. The loop keeps one core and the writer gets the other.
No frontier table, no errors, no robots.txt, no metadata or hashes: the
least a crawler storing these things can do. Its pages/s against the bare
loop's is the most that ratio can be for any crawler that stores the same
on this machine::

    .venv/bin/python benchmarks/bare_store.py http://127.0.0.1:8765/index.html out.db

Bounded like the bare loop (``--max-pages``, ``--timeout``); prints a one-line
JSON summary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import queue
import sqlite3
import sys
import threading
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aiohttp
from bare_loop import BareCrawler, Stats
from selectolax.lexbor import LexborHTMLParser
from yarl import URL

BATCH = 400  # pages per transaction, as the crawler's store
BACKLOG = 4 * BATCH  # pages waiting for the writer before the loop waits for it
_INVISIBLE = ["script", "style", "noscript", "template", "svg", "iframe", "head"]

SCHEMA = """
PRAGMA page_size = 16384;
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA wal_autocheckpoint = 2000;
PRAGMA cache_size = -32768;
CREATE TABLE pages (id INTEGER PRIMARY KEY, url TEXT NOT NULL, status INTEGER NOT NULL,
                    title TEXT, text TEXT, body BLOB);
CREATE INDEX pages_url ON pages(url);
CREATE TABLE links (page_id INTEGER NOT NULL, url TEXT, href TEXT NOT NULL, text TEXT);
CREATE INDEX links_page ON links(page_id);
CREATE VIRTUAL TABLE pages_fts USING fts5(title, text, content='pages', content_rowid='id');
INSERT INTO pages_fts(pages_fts, rank) VALUES ('automerge', 8);
INSERT INTO pages_fts(pages_fts, rank) VALUES ('hashsize', 4194304);
"""

Page = tuple[int, str, int, "str | None", str, bytes, list[tuple[int, str | None, str, str]]]


def read(page_id: int, base: URL, body: bytes) -> tuple[str | None, str, list, list[URL]]:
    """Title, visible text, `links` rows and the URLs to follow, from one parse."""
    tree = LexborHTMLParser(body)
    title_node = tree.css_first("title")
    title = title_node.text(strip=True) if title_node is not None else None
    rows, follow = [], []
    for node in tree.css("a[href]"):
        href = node.attributes.get("href") or ""
        target = None
        try:
            url = base.join(URL(href.strip()))
            if url.scheme in ("http", "https") and url.host:
                if url.raw_query_string:
                    url = url.with_query(sorted(url.query.items(), key=lambda kv: kv[0]))
                url = url.with_fragment(None)
                target = str(url)
                follow.append(url)
        except ValueError:
            pass
        rows.append((page_id, target, href, node.text(strip=True)))
    tree.strip_tags(_INVISIBLE)
    root = tree.body or tree.root
    text = root.text(separator="\n", strip=True) if root is not None else ""
    return title, text, rows, follow


class Writer(threading.Thread):
    """One SQLite connection in its own thread: batches of pages, one transaction each."""

    def __init__(self, path: Path) -> None:
        super().__init__(daemon=True)
        self.path = path
        self.pages: queue.Queue[Page | None] = queue.Queue()
        self.error: BaseException | None = None
        self.cpu = 0.0  # CPU seconds of this thread spent writing

    def run(self) -> None:
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.executescript(SCHEMA)
            done = False
            while not done:
                batch: list[Page] = []
                while len(batch) < BATCH:
                    page = self.pages.get()
                    if page is None:
                        done = True
                        break
                    batch.append(page)
                if batch:
                    t = time.thread_time()
                    self.write(db, batch)
                    self.cpu += time.thread_time() - t
            t = time.thread_time()
            db.execute("CREATE INDEX links_url ON links(url)")  # once: as the crawler's store
            self.cpu += time.thread_time() - t
            db.close()
        except BaseException as exc:  # reported by the loop
            self.error = exc

    def finish(self) -> None:
        """Write what is queued, then end."""
        self.pages.put(None)
        self.join()

    @staticmethod
    def write(db: sqlite3.Connection, batch: list[Page]) -> None:
        db.execute("BEGIN")
        # One statement: executemany re-takes the GIL (the loop's) for every row.
        db.execute("INSERT INTO pages VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(batch)),
                   [value for page in batch for value in page[:6]])
        # One JSON text for the batch's links: binding 30 rows a page one by one holds
        # the GIL (the loop's) for as long as SQLite takes to insert them.
        db.execute("INSERT INTO links SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 "
                   "FROM json_each(?)", (json.dumps([row for page in batch for row in page[6]]),))
        db.execute("INSERT INTO pages_fts(rowid, title, text) SELECT id, title, text "
                   "FROM pages WHERE id BETWEEN ? AND ?", (batch[0][0], batch[-1][0]))
        db.execute("COMMIT")


class BareStoringCrawler(BareCrawler):
    """The bare loop, each page handed to the writer thread."""

    def __init__(self, start: URL, workers: int, max_pages: int, writer: Writer) -> None:
        super().__init__(start, workers, max_pages)
        self.writer = writer
        self.next_id = 1

    async def get(self, session: aiohttp.ClientSession,
                  url: URL) -> tuple[int, bytes, int, bool] | None:
        """(page id, body, status, is it HTML) of one fetch; None, counted, when it failed."""
        try:
            async with session.get(url) as resp:
                body = await resp.read()
                status = resp.status
                is_html = resp.content_type == "text/html"
        except (TimeoutError, aiohttp.ClientError):
            self.stats.errors += 1
            return None
        self.stats.pages += 1
        page_id, self.next_id = self.next_id, self.next_id + 1
        return page_id, body, status, is_html

    async def fetch(self, session: aiohttp.ClientSession, url: URL) -> None:
        if (got := await self.get(session, url)) is None:
            return
        page_id, body, status, is_html = got
        title, text, rows, follow = read(page_id, url, body) if is_html else (None, "", [], [])
        while self.writer.pages.qsize() >= BACKLOG and self.writer.is_alive():
            await asyncio.sleep(0.005)  # the disk is the limit: wait instead of buffering
        self.writer.pages.put((page_id, str(url), status, title, text, body, rows))
        self.schedule(follow)


def arguments(doc: str, argv: list[str] | None, *extra: tuple[str, dict[str, Any]],
              ) -> argparse.Namespace:
    """The command line every storing bare loop takes (plus `extra` options)."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("start_url")
    parser.add_argument("db", type=Path, help="SQLite file to create (must not exist)")
    for flag, options in extra:
        parser.add_argument(flag, **options)
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--max-pages", type=int, default=1_000_000)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    if args.db.exists():
        parser.error(f"{args.db} exists")
    return args


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; exit 1 if any fetch or the writer failed."""
    args = arguments(__doc__, argv)
    writer = Writer(args.db)
    writer.start()
    crawler = BareStoringCrawler(URL(args.start_url), args.workers, args.max_pages, writer)
    return crawl_and_report(crawler, args.timeout, writer, "bare_store")


def crawl_and_report(crawler: BareCrawler, timeout: float, storer: Any, name: str) -> int:
    """Run the crawl, then `storer.finish()`; print the one-line JSON summary.
    Exit status 1 if the timeout hit, a fetch failed or the storer has an `error`."""
    stats: Stats = crawler.stats
    try:
        stats = asyncio.run(crawler.run(timeout))
    except TimeoutError:
        print(json.dumps({**asdict(crawler.stats), "timeout": True}))
        return 1
    finally:
        storer.finish()
    if storer.error is not None:
        error = storer.error  # an exception, or (from another process) its repr
        print(f"{name}: the writer failed: {error if isinstance(error, str) else repr(error)}",
              file=sys.stderr)
        return 1
    print(json.dumps({**asdict(stats), "writer_cpu": round(storer.cpu, 2)}))
    return 1 if stats.errors else 0


if __name__ == "__main__":
    sys.exit(main())
