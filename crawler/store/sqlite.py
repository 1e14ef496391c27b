"""The SQLite file: schema, and batched writes through aiosqlite.

The schema is a public interface (see README "The database"): tables and
columns are named for people writing SQL, and `PRAGMA user_version` records
the schema version so a later change can migrate old files.

Writes are buffered in memory and flushed in one transaction per batch
(`executemany` per table), never one commit per page. Page ids are assigned
here rather than by SQLite so a page and its links and items can be written
in the same batch without a round trip per row.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import aiosqlite

log = logging.getLogger(__name__)

# 2: frontier, sitemap_urls, crawls.runs/recrawl_of, pages.content_hash/change
# 3: pages.redirects
SCHEMA_VERSION = 3

SCHEMA = """
CREATE TABLE IF NOT EXISTS crawls (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    status      TEXT NOT NULL,           -- running | finished | interrupted | failed
    config      TEXT NOT NULL,           -- JSON: the configuration used
    stats       TEXT,                    -- JSON: final counters (of the last run)
    runs        INTEGER NOT NULL DEFAULT 1,  -- 1 + times it was resumed
    recrawl_of  INTEGER                  -- the crawl whose pages it re-fetched (--recrawl)
);
CREATE TABLE IF NOT EXISTS pages (
    id              INTEGER PRIMARY KEY,
    crawl_id        INTEGER NOT NULL REFERENCES crawls(id),
    url             TEXT NOT NULL,       -- canonical URL requested
    final_url       TEXT NOT NULL,       -- the URL that answered (redirects are rows of their own)
    status          INTEGER NOT NULL,
    content_type    TEXT,                -- media type only, lower case
    encoding        TEXT,
    size            INTEGER NOT NULL,    -- body bytes read (after content decoding)
    title           TEXT,
    text            TEXT,                -- visible text
    markdown        TEXT,                -- main content as Markdown (store.markdown)
    depth           INTEGER NOT NULL,
    referrer        TEXT,                -- canonical URL of the page that linked here
    fetched_at      TEXT NOT NULL,
    elapsed_ms      REAL,
    headers         TEXT NOT NULL,       -- JSON object, lower-case names
    request_headers TEXT,                -- JSON object, what was sent
    body            BLOB,                -- NULL when store.body is false or it was not kept
    content_hash    TEXT,                -- SHA-256 of the body, first 128 bits, hex
    change          TEXT,                -- recrawls: new | changed | unchanged
    redirects       TEXT                 -- JSON [[status, url], ...]: the hops that led here
);
CREATE INDEX IF NOT EXISTS pages_url ON pages(url);
CREATE INDEX IF NOT EXISTS pages_crawl_status ON pages(crawl_id, status);
CREATE TABLE IF NOT EXISTS links (
    page_id INTEGER NOT NULL REFERENCES pages(id),
    url     TEXT,                        -- canonical target; NULL if not a valid http(s) URL
    href    TEXT NOT NULL,               -- as written in the page
    text    TEXT                         -- anchor text
);
CREATE INDEX IF NOT EXISTS links_page ON links(page_id);
CREATE INDEX IF NOT EXISTS links_url ON links(url);
CREATE TABLE IF NOT EXISTS items (
    id         INTEGER PRIMARY KEY,
    crawl_id   INTEGER NOT NULL REFERENCES crawls(id),
    page_id    INTEGER REFERENCES pages(id),
    url        TEXT,
    type       TEXT NOT NULL,
    data       TEXT NOT NULL,            -- JSON object
    created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_crawl_type ON items(crawl_id, type);
CREATE TABLE IF NOT EXISTS errors (
    id        INTEGER PRIMARY KEY,
    crawl_id  INTEGER NOT NULL REFERENCES crawls(id),
    url       TEXT NOT NULL,
    kind      TEXT NOT NULL,             -- http, connection, timeout, too_large, redirect,
                                         -- invalid_url, parse, callback, robots, sitemap,
                                         -- internal
    message   TEXT NOT NULL,
    status    INTEGER,
    tries     INTEGER NOT NULL DEFAULT 1,
    traceback TEXT,
    depth     INTEGER,
    referrer  TEXT,
    at        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS errors_crawl_kind ON errors(crawl_id, kind);
CREATE TABLE IF NOT EXISTS frontier (
    id         INTEGER PRIMARY KEY,
    crawl_id   INTEGER NOT NULL REFERENCES crawls(id),
    url        TEXT NOT NULL,            -- canonical URL
    host       TEXT NOT NULL,            -- scheme://host:port, the unit of politeness
    state      TEXT NOT NULL DEFAULT 'queued',  -- queued | leased | done | failed | dropped
    priority   INTEGER NOT NULL DEFAULT 0,
    depth      INTEGER NOT NULL DEFAULT 0,
    referrer   TEXT,
    request    TEXT,                     -- JSON: callback, meta, headers ...; NULL for a link
    unique_url INTEGER NOT NULL DEFAULT 1  -- 0: dont_filter, exempt from deduplication
);
-- The seen-set: one row per canonical URL per crawl.
CREATE UNIQUE INDEX IF NOT EXISTS frontier_seen ON frontier(crawl_id, url) WHERE unique_url;
CREATE INDEX IF NOT EXISTS frontier_queue
    ON frontier(crawl_id, host, priority DESC, id) WHERE state = 'queued';
CREATE VIRTUAL TABLE IF NOT EXISTS pages_fts USING fts5(
    title, text, content='pages', content_rowid='id'
);
CREATE TRIGGER IF NOT EXISTS pages_fts_delete AFTER DELETE ON pages BEGIN
    INSERT INTO pages_fts(pages_fts, rowid, title, text)
    VALUES ('delete', old.id, old.title, old.text);
END;
CREATE TRIGGER IF NOT EXISTS pages_fts_update AFTER UPDATE OF title, text ON pages BEGIN
    INSERT INTO pages_fts(pages_fts, rowid, title, text)
    VALUES ('delete', old.id, old.title, old.text);
    INSERT INTO pages_fts(rowid, title, text) VALUES (new.id, new.title, new.text);
END;
CREATE TABLE IF NOT EXISTS sitemap_urls (
    crawl_id INTEGER NOT NULL REFERENCES crawls(id),
    url      TEXT NOT NULL,              -- canonical, as in pages.url (as written if invalid)
    lastmod  TEXT,                       -- <lastmod>: ISO 8601 UTC; a date stays a date
    sitemap  TEXT NOT NULL               -- the sitemap that listed it
);
CREATE INDEX IF NOT EXISTS sitemap_urls_url ON sitemap_urls(url);
"""

_PAGE_COLUMNS = (
    "id", "crawl_id", "url", "final_url", "status", "content_type", "encoding", "size",
    "title", "text", "markdown", "depth", "referrer", "fetched_at", "elapsed_ms", "headers",
    "request_headers", "body", "content_hash", "change", "redirects",
)
_INSERT_PAGES = f"INSERT INTO pages ({', '.join(_PAGE_COLUMNS)}) VALUES "
# The crawler indexes each batch of pages with one INSERT ... SELECT over its id
# range, in the batch's transaction: 3x cheaper than a per-row insert trigger
# (measured: 0.54 vs 1.5 ms per 18 KB page). Deletes and updates keep triggers.
_INDEX_PAGES = (
    "INSERT INTO pages_fts(rowid, title, text) "
    "SELECT id, title, text FROM pages WHERE id BETWEEN ? AND ?"
)
# All of a batch's links go in as one JSON array through json_each: executemany
# would re-take the GIL once per row (~12,000 per batch), each time waiting for
# the busy event loop. (Nesting the array per page measured slower: SQLite then
# re-serialises each page's part for the inner json_each.)
_INSERT_LINKS = (
    "INSERT INTO links (page_id, url, href, text) "
    "SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?)"
)
_INSERT_ITEMS = "INSERT INTO items (crawl_id, page_id, url, type, data, created_at) VALUES "
_INSERT_SITEMAP_URLS = "INSERT INTO sitemap_urls (crawl_id, url, lastmod, sitemap) VALUES "
_INSERT_ERRORS = (
    "INSERT INTO errors (crawl_id, url, kind, message, status, tries, traceback, depth, "
    "referrer, at) VALUES "
)


# Columns added since schema version 1, added to older files when they are opened.
_ADDED_COLUMNS = (
    ("crawls", "runs", "INTEGER NOT NULL DEFAULT 1"),
    ("crawls", "recrawl_of", "INTEGER"),
    ("pages", "content_hash", "TEXT"),
    ("pages", "change", "TEXT"),
    ("pages", "redirects", "TEXT"),
)

# Parameters one statement may bind (SQLITE_MAX_VARIABLE_NUMBER: 999 before 3.32).
_MAX_PARAMS = 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999


@lru_cache(maxsize=64)
def _values_sql(prefix: str, columns: int, rows: int) -> str:
    row = "(" + ", ".join("?" * columns) + ")"
    return prefix + ", ".join([row] * rows)


def multirow_inserts(prefix: str, rows: Sequence[tuple[Any, ...]]
                     ) -> Iterator[tuple[str, list[Any]]]:
    """(sql, params) statements inserting `rows` as multi-row VALUES lists.

    One statement binds all its parameters under one hold of the GIL and runs
    without it. executemany re-takes the GIL for every row, and behind a busy
    event loop each re-take waits up to the 5 ms switch interval (measured: a
    200-page batch took 8x longer beside a busy loop than alone).

    Statements hold power-of-two row counts: sqlite3 caches a prepared
    statement per SQL text, so few distinct texts keep that cache useful.
    """
    if not rows:
        return
    columns = len(rows[0])
    largest = 1 << (max(1, _MAX_PARAMS // columns).bit_length() - 1)
    start = 0
    while start < len(rows):
        size = min(largest, 1 << ((len(rows) - start).bit_length() - 1))
        chunk = rows[start:start + size]
        yield _values_sql(prefix, columns, size), [v for row in chunk for v in row]
        start += size


def utc_now() -> str:
    """The current time as ISO 8601 UTC text with milliseconds, as stored everywhere."""
    return iso_time(time.time())


def iso_time(epoch: float) -> str:
    stamp = datetime.fromtimestamp(epoch, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def headers_json(headers: Iterable[tuple[str, str]]) -> str:
    """Headers as a JSON object with lower-case names; repeats joined (set-cookie by newline)."""
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in merged:
            merged[key] += ("\n" if key == "set-cookie" else ", ") + value
        else:
            merged[key] = value
    return json.dumps(merged, ensure_ascii=False)


@dataclass(slots=True)
class PageRecord:
    """One fetched page as it goes into `pages`; each link starts (url|None, href, text)."""

    url: str
    final_url: str
    status: int
    depth: int
    headers: str
    size: int
    fetched_at: str
    content_type: str | None = None
    encoding: str | None = None
    title: str | None = None
    text: str | None = None
    markdown: str | None = None
    referrer: str | None = None
    elapsed_ms: float | None = None
    request_headers: str | None = None
    body: bytes | None = None
    links: Sequence[Sequence[Any]] = ()
    content_hash: str | None = None
    change: str | None = None
    redirects: str | None = None  # JSON [[status, url], ...]


@dataclass(slots=True)
class _Batch:
    pages: list[tuple[Any, ...]] = field(default_factory=list)
    links: list[str] = field(default_factory=list)  # each page's link rows, as JSON
    items: list[tuple[Any, ...]] = field(default_factory=list)
    errors: list[tuple[Any, ...]] = field(default_factory=list)
    sitemap_urls: list[tuple[Any, ...]] = field(default_factory=list)
    bytes: int = 0

    def __len__(self) -> int:
        return len(self.pages) + len(self.items) + len(self.errors) + len(self.sitemap_urls)


class Store:
    """The crawl database. Use as `async with Store(path) as store:`.

    `add_page`, `add_item` and `add_error` are synchronous and only buffer;
    `flush()` writes the buffer in one transaction. The engine calls
    `maybe_flush()` after each page, which flushes when the batch is big
    enough, and `flush()` at the end and on shutdown.
    """

    # Each batch costs two trips through the busy event loop (statements, then
    # the commit); 8 MiB batches amortise them: 740 vs 630 pages/s measured
    # on the benchmark site, with lower peak RSS than 4 MiB.
    # A batch is also written once `flush_interval` seconds old, so a slow
    # crawl killed with SIGKILL loses (and re-fetches) at most that much work.
    def __init__(self, path: str | Path, *, batch_pages: int = 400,
                 batch_bytes: int = 8 * 1024 * 1024, flush_interval: float = 2.0) -> None:
        self.path = Path(path)
        self.batch_pages = batch_pages
        self.batch_bytes = batch_bytes
        self.flush_interval = flush_interval
        self.crawl_id: int | None = None
        self._db: aiosqlite.Connection | None = None
        self._batch = _Batch()
        self._parts: list[BatchPart] = []
        self._next_page_id = 1
        self._write_lock = asyncio.Lock()
        self._last_flush = time.monotonic()

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def open(self) -> None:
        if self.path.parent and not self.path.parent.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = await aiosqlite.connect(self.path, cached_statements=0)
        # 16 KiB pages (only takes effect on a new file): a 20-30 KB body spans
        # two overflow pages instead of six, and the WAL checkpoint copies less;
        # measured 22% less writer CPU than 4 KiB. Checkpoint every ~32 MiB.
        await self._db.execute("PRAGMA page_size=16384")
        await self._db.execute("PRAGMA journal_mode=WAL")
        await self._db.execute("PRAGMA synchronous=NORMAL")
        await self._db.execute("PRAGMA wal_autocheckpoint=2000")
        await self._db.execute("PRAGMA foreign_keys=OFF")
        await _migrate(self._db)
        await self._db.executescript(SCHEMA)
        # Merge FTS segments when 8 of a level exist, not 4: 24% less indexing
        # CPU during the crawl (measured), a few more segments for a query to read.
        await self._db.execute(
            "INSERT INTO pages_fts(pages_fts, rank) VALUES ('automerge', 8)")
        await self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        await self._db.commit()
        async with self._db.execute("SELECT coalesce(max(id), 0) FROM pages") as cur:
            row = await cur.fetchone()
        self._next_page_id = (row[0] if row else 0) + 1

    async def close(self) -> None:
        if self._db is None:
            return
        try:
            await self.flush()
        finally:
            await self._db.close()
            self._db = None

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("Store is not open")
        return self._db

    def add_part(self, part: BatchPart) -> None:
        """Write `part`'s buffered statements in every batch's transaction (the frontier)."""
        self._parts.append(part)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Statements run inside are committed together, never inside a batch's transaction."""
        async with self._write_lock:
            try:
                yield self.db
            except BaseException:
                await self.db.rollback()
                raise
            await self.db.commit()

    async def start_crawl(self, name: str, config: Mapping[str, Any], *,
                          recrawl_of: int | None = None) -> int:
        """Insert a `crawls` row in state running and remember its id."""
        cur = await self.db.execute(
            "INSERT INTO crawls (name, started_at, status, config, recrawl_of) "
            "VALUES (?, ?, 'running', ?, ?)",
            (name, utc_now(), json.dumps(config, ensure_ascii=False, default=str), recrawl_of),
        )
        await self.db.commit()
        self.crawl_id = cur.lastrowid
        return int(cur.lastrowid or 0)

    async def resume_crawl(self, crawl_id: int, config: Mapping[str, Any]) -> None:
        """Continue crawl `crawl_id`: running again, one more run, with this run's config."""
        await self.db.execute(
            "UPDATE crawls SET status = 'running', finished_at = NULL, runs = runs + 1, "
            "config = ? WHERE id = ?",
            (json.dumps(config, ensure_ascii=False, default=str), crawl_id))
        await self.db.commit()
        self.crawl_id = crawl_id

    async def latest_crawl(self, name: str) -> dict[str, Any] | None:
        """The newest crawl called `name`: id, status, pages and URLs still to fetch."""
        async with self.db.execute(
                "SELECT id, status, (SELECT count(*) FROM frontier f WHERE f.crawl_id = c.id "
                "AND f.state IN ('queued', 'leased')) AS to_fetch, "
                "(SELECT count(*) FROM pages p WHERE p.crawl_id = c.id) AS pages "
                "FROM crawls c WHERE name = ? ORDER BY id DESC LIMIT 1", (name,)) as cur:
            row = await cur.fetchone()
        return None if row is None else dict(zip(("id", "status", "to_fetch", "pages"), row,
                                                  strict=True))

    async def finish_crawl(self, status: str, stats: Mapping[str, Any]) -> None:
        await self.flush()
        await self.db.execute(
            "UPDATE crawls SET finished_at = ?, status = ?, stats = ? WHERE id = ?",
            (utc_now(), status, json.dumps(stats, default=str), self.crawl_id),
        )
        await self.db.commit()

    def add_page(self, page: PageRecord) -> int:
        """Buffer one page and its links; returns the page id it will have."""
        page_id = self._next_page_id
        self._next_page_id += 1
        self._batch.pages.append((
            page_id, self.crawl_id, page.url, page.final_url, page.status, page.content_type,
            page.encoding, page.size, page.title, page.text, page.markdown, page.depth,
            page.referrer, page.fetched_at, page.elapsed_ms, page.headers,
            page.request_headers, page.body, page.content_hash, page.change, page.redirects,
        ))
        if page.links:
            # JSON now rather than tuples until the flush: a page's ~50 links
            # cost ~8 KB as text against ~23 KB as Python objects, and a
            # batch holds hundreds of pages (measured: -12 MB peak RSS).
            rows = json.dumps([(page_id, link[0], link[1], link[2]) for link in page.links],
                              ensure_ascii=False)
            self._batch.links.append(rows[1:-1])  # the rows, without the brackets
        self._batch.bytes += len(page.body or b"") + len(page.text or "")
        return page_id

    def add_item(self, item_type: str, data: Mapping[str, Any], *, page_id: int | None,
                 url: str | None) -> None:
        self._batch.items.append((
            self.crawl_id, page_id, url, item_type,
            json.dumps(data, ensure_ascii=False, default=str), utc_now(),
        ))

    def add_error(self, url: str, kind: str, message: str, *, status: int | None = None,
                  tries: int = 1, traceback: str | None = None, depth: int | None = None,
                  referrer: str | None = None) -> None:
        self._batch.errors.append((
            self.crawl_id, url, kind, message, status, tries, traceback, depth, referrer,
            utc_now(),
        ))

    def add_sitemap_url(self, url: str, lastmod: str | None, sitemap: str) -> None:
        """Buffer one URL a sitemap listed; its bytes count toward the batch size."""
        self._batch.sitemap_urls.append((self.crawl_id, url, lastmod, sitemap))
        self._batch.bytes += len(url) + len(sitemap) + 64

    async def maybe_flush(self) -> None:
        """Flush when the buffer is big enough.

        While another flush is running the buffer may fill up to two batches;
        past that the caller waits for the write, so a disk slower than the
        network slows the crawl down instead of filling memory.
        """
        batch = self._batch
        if len(batch.pages) < self.batch_pages and batch.bytes < self.batch_bytes:
            if time.monotonic() - self._last_flush >= self.flush_interval:
                await self.flush()
            return
        backlog = len(batch.pages) >= 2 * self.batch_pages or batch.bytes >= 2 * self.batch_bytes
        if backlog or not self._write_lock.locked():
            await self.flush()

    async def flush(self) -> None:
        """Write everything buffered (pages, and the frontier's changes) in one transaction."""
        self._last_flush = time.monotonic()
        # Taken together, synchronously: a page and the frontier rows its
        # links produced always land in the same transaction.
        parts = [(part, taken) for part in self._parts if (taken := part.take()) is not None]
        if not len(self._batch) and not parts:  # links only ever arrive with their page
            return
        batch, self._batch = self._batch, _Batch()
        # One transaction at a time: two interleaved batches on one connection
        # would commit (or roll back) each other's rows.
        async with self._write_lock:
            await self._write(batch, parts)

    async def _write(self, batch: _Batch, parts: list[tuple[BatchPart, Any]]) -> None:
        """One transaction: every statement of the batch, then the commit."""
        db = self.db
        plan = [(None, sql, params) for sql, params in _statements(batch)]
        for part, taken in parts:
            plan.extend((part, sql, params) for sql, params in part.statements(taken))
        # Submitted together: aiosqlite runs its queue in order, so the writer
        # thread goes from one statement to the next without waiting for the
        # busy event loop to come back to this coroutine in between.
        results = await asyncio.gather(
            *(db.execute(sql, params) for _, sql, params in plan), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            await db.rollback()
            raise failed[0]
        await db.commit()
        for part, taken in parts:
            part.committed(taken, [cursor.rowcount for (owner, _, _), cursor
                                   in zip(plan, results, strict=True) if owner is part])


class BatchPart(Protocol):
    """Something with its own rows to write in each batch's transaction."""

    def take(self) -> Any | None:
        """Hand over what is buffered (None: nothing), as the batch is taken."""

    def statements(self, taken: Any) -> Iterable[tuple[str, Sequence[Any]]]:
        """The (sql, params) to run for what was taken."""

    def committed(self, taken: Any, rowcounts: Sequence[int]) -> None:
        """Called after the commit with each statement's rowcount."""


async def _migrate(db: aiosqlite.Connection) -> None:
    """Add the columns an older file lacks (tables it lacks come from SCHEMA)."""
    for table, column, declaration in _ADDED_COLUMNS:
        async with db.execute(f"PRAGMA table_info({table})") as cur:
            columns = {row[1] for row in await cur.fetchall()}
        if columns and column not in columns:
            await db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")


def _statements(batch: _Batch) -> Iterator[tuple[str, Sequence[Any]]]:
    if batch.pages:
        yield from multirow_inserts(_INSERT_PAGES, batch.pages)
        yield _INDEX_PAGES, (batch.pages[0][0], batch.pages[-1][0])
    if batch.links:
        yield _INSERT_LINKS, ("[" + ",".join(batch.links) + "]",)
    yield from multirow_inserts(_INSERT_ITEMS, batch.items)
    yield from multirow_inserts(_INSERT_ERRORS, batch.errors)
    yield from multirow_inserts(_INSERT_SITEMAP_URLS, batch.sitemap_urls)
