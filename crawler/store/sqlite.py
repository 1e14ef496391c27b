"""The SQLite file as a sink: crawl rows, and batched writes through aiosqlite.

Writes are buffered in memory and flushed in one transaction per batch,
never one commit per page. Page ids are assigned here rather than by SQLite
so a page and its links and items can be written in the same batch without
a round trip per row. Other parts join a batch's transaction through
`add_part` (the frontier: a page, the URLs its links produced and its own
`done` mark commit together).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import aiosqlite

from crawler.errors import StorageError
from crawler.store import failures, links_index
from crawler.store.failures import STORAGE_ERRORS
from crawler.store.lock import WriterLock
from crawler.store.records import (
    ErrorRecord,
    ItemRecord,
    PageRecord,
    Record,
    SitemapUrlRecord,
    utc_now,
)
from crawler.store.schema import migrate
from crawler.store.statements import json_arrays, multirow_inserts
from crawler.store.writes import Writes

log = logging.getLogger(__name__)

# The store whose transaction the current task (or the task that started it) is in.
_WRITING: ContextVar[Store | None] = ContextVar("crawler_store_writing", default=None)

_PAGE_COLUMNS = (
    "id", "crawl_id", "url", "final_url", "status", "content_type", "encoding", "size",
    "title", "text", "markdown", "depth", "referrer", "fetched_at", "elapsed_ms", "headers",
    "request_headers", "body", "content_hash", "change", "redirects", "fetched_by",
    "metadata", "simhash",
)
_INSERT_PAGES = f"INSERT INTO pages ({', '.join(_PAGE_COLUMNS)}) VALUES "
# The crawler indexes each batch of pages with one INSERT ... SELECT over its id
# range, in the batch's transaction: 3x cheaper than a per-row insert trigger
# (measured: 0.54 vs 1.5 ms per 18 KB page). Deletes and updates keep triggers.
_INDEX_PAGES = (
    "INSERT INTO pages_fts(rowid, title, text) "
    "SELECT id, title, text FROM pages WHERE id BETWEEN ? AND ?"
)
# A batch's links go in as JSON arrays through json_each: executemany would
# re-take the GIL once per row (~12,000 per batch), each time waiting for the
# busy event loop. (Nesting the array per page measured slower: SQLite then
# re-serialises each page's part for the inner json_each.) A few arrays of at
# most ~256 KiB, not one, bound the memory SQLite parses them into
# (statements.json_arrays).
_INSERT_LINKS = (
    "INSERT INTO links (page_id, url, href, text) "
    "SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?)"
)
_INSERT_SCREENSHOTS = "INSERT INTO screenshots (page_id, crawl_id, full_page, png) VALUES "
_INSERT_ITEMS = "INSERT INTO items (crawl_id, page_id, url, type, data, created_at) VALUES "
_INSERT_SITEMAP_URLS = "INSERT INTO sitemap_urls (crawl_id, url, lastmod, sitemap) VALUES "
_INSERT_ERRORS = (
    "INSERT INTO errors (crawl_id, url, kind, message, status, tries, traceback, depth, "
    "referrer, at) VALUES "
)


@dataclass(slots=True)
class _Batch:
    pages: list[tuple[Any, ...]] = field(default_factory=list)
    links: list[str] = field(default_factory=list)  # each page's link rows, as JSON
    items: list[tuple[Any, ...]] = field(default_factory=list)
    errors: list[tuple[Any, ...]] = field(default_factory=list)
    sitemap_urls: list[tuple[Any, ...]] = field(default_factory=list)
    screenshots: list[tuple[Any, ...]] = field(default_factory=list)
    bytes: int = 0

    def __len__(self) -> int:
        return len(self.pages) + len(self.items) + len(self.errors) + len(self.sitemap_urls)

    def add(self, record: Record, crawl_id: int | None) -> None:
        """One record as the rows it becomes (a page's id is set by the store)."""
        if isinstance(record, PageRecord):
            self._page(record, crawl_id)
        elif isinstance(record, ItemRecord):
            self._item(record, crawl_id)
        elif isinstance(record, ErrorRecord):
            self._error(record, crawl_id)
        else:
            self._sitemap_url(record, crawl_id)

    def _page(self, page: PageRecord, crawl_id: int | None) -> None:
        page_id = page.id
        self.pages.append((
            page_id, crawl_id, page.url, page.final_url, page.status, page.content_type,
            page.encoding, page.size, page.title, page.text, page.markdown, page.depth,
            page.referrer, page.fetched_at, page.elapsed_ms, page.headers,
            page.request_headers, page.body, page.content_hash, page.change, page.redirects,
            page.fetched_by, page.metadata, page.simhash,
        ))
        if page.screenshot is not None:
            self.screenshots.append((page_id, crawl_id, page.screenshot.full_page,
                                            page.screenshot.png))
            self.bytes += len(page.screenshot.png)
        if page.links:
            # JSON now rather than tuples until the flush: a page's ~50 links
            # cost ~8 KB as text against ~23 KB as Python objects, and a
            # batch holds hundreds of pages (measured: -12 MB peak RSS).
            rows_json = getattr(page.links, "rows_json", None)  # html.parser.LinkColumns
            if rows_json is not None:  # encoded by a reader process already
                self.links.append(rows_json(page_id))
            else:
                rows = json.dumps([(page_id, link[0], link[1], link[2]) for link in page.links],
                                  ensure_ascii=False)
                self.links.append(rows[1:-1])  # the rows, without the brackets
        self.bytes += len(page.body or b"") + len(page.text or "")

    def _item(self, item: ItemRecord, crawl_id: int | None) -> None:
        self.items.append((
            crawl_id, item.page_id, item.url, item.type,
            json.dumps(item.data, ensure_ascii=False, default=str), item.created_at,
        ))

    def _error(self, error: ErrorRecord, crawl_id: int | None) -> None:
        self.errors.append((
            crawl_id, error.url, error.kind, error.message, error.status, error.tries,
            error.traceback, error.depth, error.referrer, error.at,
        ))

    def _sitemap_url(self, entry: SitemapUrlRecord, crawl_id: int | None) -> None:
        """One URL a sitemap listed; its bytes count toward the batch size."""
        self.sitemap_urls.append((crawl_id, entry.url, entry.lastmod, entry.sitemap))
        self.bytes += len(entry.url) + len(entry.sitemap) + 64


class BatchPart(Protocol):
    """Something with its own writes to make with each batch (the frontier).

    `take` runs synchronously as the batch is taken, so what a part hands
    over belongs to exactly the pages of that batch. `writes` gives the
    coroutines that write it inside the batch's transaction (a part on this
    connection commits with the pages); they run together with the pages'
    statements, so the writer thread never waits for the busy loop between
    them. `committed` runs after the commit with their results (a part
    elsewhere, e.g. Redis, applies its changes only once the pages are safe).
    """

    def take(self) -> Any | None:
        """Hand over what is buffered (None: nothing), as the batch is taken."""

    def writes(self, taken: Any) -> list[Awaitable[Any]]:
        """Coroutines writing `taken` inside the batch's transaction (may be none)."""

    async def committed(self, taken: Any, results: list[Any]) -> None:
        """The batch holding `taken` was committed; `results` are those of `writes`."""


class Store:
    """The crawl database, and the sink every crawl writes to.

    Use as `async with Store(path) as store:`. `write` is synchronous and
    only buffers; `flush()` writes the buffer in one transaction. The engine
    calls `maybe_flush()` after each page, which flushes when the batch is
    big or old enough, and `flush()` at the end and on shutdown.
    """

    # Each batch costs two trips through the busy event loop (statements, then
    # the commit); 8 MiB batches amortise them: 740 vs 630 pages/s measured
    # on the benchmark site, with lower peak RSS than 4 MiB.
    # A batch is also written once `flush_interval` seconds old, so a slow
    # crawl killed with SIGKILL loses (and re-fetches) at most that much work.
    def __init__(self, path: str | Path, *, batch_pages: int = 400,
                 batch_bytes: int = 8 * 1024 * 1024, flush_interval: float = 2.0,
                 lock: bool = True) -> None:
        self.path = Path(path)
        self.batch_pages = batch_pages
        self.batch_bytes = batch_bytes
        self.flush_interval = flush_interval
        self.crawl_id: int | None = None
        # One writer per file (crawler/store/lock.py); `lock.previous` names a
        # writer that died holding it, which this one took over.
        self.lock = WriterLock(self.path) if lock else None
        # The first write that failed (disk full, I/O error, ...); the crawl stops on it.
        self.failure: StorageError | None = None
        self.on_failure: Callable[[StorageError], None] | None = None
        self.on_note: Callable[[str], None] | None = None  # what closing takes long doing
        self.unstored_pages = 0  # pages taken into batches that could not be written
        self._db: aiosqlite.Connection | None = None
        self._links_index_deferred = False  # links(url) waits for close (links_index)
        self._batch = _Batch()
        self._parts: list[BatchPart] = []
        self._next_page_id = 1
        self._identity: tuple[int, int] | None = None  # (device, inode) of the open file
        self._write_lock = asyncio.Lock()
        self._writes = Writes()  # batches taken and not yet committed
        self._last_flush = time.monotonic()

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def open(self) -> None:
        """Open (or create) the file for writing; OutputError says why it cannot be."""
        failures.prepare_path(self.path)
        if self.lock is not None:
            self.lock.acquire()
        try:
            self._db, self._next_page_id = await _connect(self.path)
            self._links_index_deferred = await links_index.defer(self._db)
            self._identity = failures.identity(self.path)
        except BaseException as exc:
            if self.lock is not None:
                self.lock.release()
            if isinstance(exc, STORAGE_ERRORS):
                raise failures.open_error(self.path, exc) from None
            raise

    async def close(self) -> None:
        """Write what is buffered, close the file, let go of the lock.

        A failed last write is raised only when it is the store's first
        failure; an earlier one was reported already (`failure`).
        """
        if self._db is None:
            return
        failed_before = self.failure is not None
        try:
            await self.flush()
            await self._build_links_index()
        except StorageError:
            if not failed_before:
                raise
        finally:
            with contextlib.suppress(Exception):
                await self._db.close()
            self._db = None
            if self.lock is not None:
                self.lock.release()

    async def _build_links_index(self) -> None:
        """Build the index `open` deferred; not after a failed write (the next open does)."""
        if self._links_index_deferred and self.failure is None:
            async with self.transaction() as db:
                await links_index.build(db, self.path, self.on_note)
            self._links_index_deferred = False

    @property
    def db(self) -> aiosqlite.Connection:
        if self._db is None:
            raise RuntimeError("Store is not open")
        return self._db

    def add_part(self, part: BatchPart) -> None:
        """Make `part` write with every batch (see BatchPart)."""
        self._parts.append(part)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Statements run inside are committed together, never inside another batch's.

        Used again inside a transaction (a batch part writing, in this task or
        a task it started), it joins it.
        """
        if _WRITING.get() is self:
            yield self.db
            return
        async with self._write_lock:
            token = _WRITING.set(self)
            try:
                yield self.db
                await self.db.commit()
            except BaseException as exc:
                with contextlib.suppress(Exception):  # it must not hide why we got here
                    await self.db.rollback()
                if isinstance(exc, STORAGE_ERRORS):
                    raise self._failed(exc) from None
                raise
            finally:
                _WRITING.reset(token)

    def _failed(self, exc: BaseException) -> StorageError:
        """A write failed: remember the first failure and tell `on_failure` of it."""
        error = failures.storage_error(self.path, exc)
        if self.failure is None:
            self.failure = error
            log.debug("writing %s failed: %s", self.path, exc)
            if self.on_failure is not None:
                self.on_failure(error)
        return error

    # ---- crawl rows ----

    async def start_crawl(self, name: str, config: Mapping[str, Any], *,
                          recrawl_of: int | None = None,
                          url_form: Mapping[str, Any] | None = None) -> int:
        """Insert a `crawls` row in state running and remember its id."""
        async with self.transaction() as db:
            cur = await db.execute(
                "INSERT INTO crawls (name, started_at, status, config, recrawl_of, url_form) "
                "VALUES (?, ?, 'running', ?, ?, ?)",
                (name, utc_now(), json.dumps(config, ensure_ascii=False, default=str),
                 recrawl_of, None if url_form is None else json.dumps(url_form)),
            )
        self.crawl_id = cur.lastrowid
        return int(cur.lastrowid or 0)

    async def resume_crawl(self, crawl_id: int, config: Mapping[str, Any]) -> None:
        """Continue crawl `crawl_id`: running again, one more run, with this run's config."""
        async with self.transaction() as db:
            await db.execute(
                "UPDATE crawls SET status = 'running', finished_at = NULL, runs = runs + 1, "
                "config = ? WHERE id = ?",
                (json.dumps(config, ensure_ascii=False, default=str), crawl_id))
        self.crawl_id = crawl_id

    async def latest_crawl(self, name: str) -> dict[str, Any] | None:
        """The newest crawl called `name`: id, status, pages, URLs still to fetch, URL form."""
        try:
            async with self.db.execute(
                    "SELECT id, status, url_form, (SELECT count(*) FROM frontier f "
                    "WHERE f.crawl_id = c.id AND f.state IN ('queued', 'leased')) AS to_fetch, "
                    "(SELECT count(*) FROM pages p WHERE p.crawl_id = c.id) AS pages "
                    "FROM crawls c WHERE name = ? ORDER BY id DESC LIMIT 1", (name,)) as cur:
                row = await cur.fetchone()
        except STORAGE_ERRORS as exc:
            raise self._failed(exc) from None
        if row is None:
            return None
        crawl = dict(zip(("id", "status", "url_form", "to_fetch", "pages"), row, strict=True))
        crawl["url_form"] = json.loads(crawl["url_form"]) if crawl["url_form"] else None
        return crawl

    async def finish_crawl(self, status: str, stats: Mapping[str, Any]) -> None:
        await self.flush()
        async with self.transaction() as db:
            await db.execute(
                "UPDATE crawls SET finished_at = ?, status = ?, stats = ? WHERE id = ?",
                (utc_now(), status, json.dumps(stats, default=str), self.crawl_id),
            )

    # ---- the Sink ----

    def write(self, record: Record) -> None:
        """Buffer one record; a PageRecord gets its `id` here."""
        if isinstance(record, PageRecord):
            record.id = self._next_page_id
            self._next_page_id += 1
        self._batch.add(record, self.crawl_id)

    async def maybe_flush(self) -> bool:
        """Flush when the buffer is big or old enough; True when a batch was written.

        A full buffer is written at once, or, while another batch is being written,
        as soon as that one is committed: the caller waits, so a writer slower than the
        network and the readers slows the crawl down instead of filling memory.
        (Taking each full buffer at once to wait for the lock queued a third
        batch behind it, and a fourth: with the readers' pipes at 1 MiB the
        writer is what the crawl waits for, and peak RSS grew by 15-30 MB.)
        """
        while True:
            batch = self._batch
            if len(batch.pages) < self.batch_pages and batch.bytes < self.batch_bytes:
                if time.monotonic() - self._last_flush >= self.flush_interval:
                    return await self.flush()
                return False
            # No batch being written: write this one now (if another transaction holds
            # the lock, e.g. a frontier lease, this batch is the next to take it).
            if not self._writes.busy:
                return await self.flush()
            await self._writes.done()

    async def flush(self) -> bool:
        """Write everything buffered (pages, and the parts' writes) in one transaction."""
        with self._writes.writing():
            written = await self._write()
        if written is None:
            return False
        parts, writes, results = written
        done = len(results) - sum(map(len, writes))
        for (part, taken), part_writes in zip(parts, writes, strict=True):
            await part.committed(taken, results[done:done + len(part_writes)])
            done += len(part_writes)
        return True

    async def _write(self) -> tuple[list[tuple[BatchPart, Any]], list[list[Awaitable[Any]]],
                                    list[Any]] | None:
        """Take the buffer and commit it: the parts, their writes and all the results
        (None: nothing was buffered)."""
        self._last_flush = time.monotonic()
        # Taken together, synchronously: a page and the frontier rows its
        # links produced always land in the same transaction.
        parts = [(part, taken) for part in self._parts if (taken := part.take()) is not None]
        if not len(self._batch) and not parts:  # links only ever arrive with their page
            return None
        batch, self._batch = self._batch, _Batch()
        try:
            # In WAL mode SQLite goes on appending to the log of a file that was
            # removed or replaced, and the end of the crawl would lose it all.
            if not failures.same_file(self.path, self._identity):
                raise self._failed(failures.gone(self.path))
            writes = [part.writes(taken) for part, taken in parts]
            # One transaction at a time: two interleaved batches on one connection
            # would commit (or roll back) each other's rows.
            async with self.transaction():
                statements = self._statements(batch)
                batch.links.clear()  # in the statements' arrays now: not held twice meanwhile
                # One flat gather: the writer thread runs the pages' statements and
                # the parts' back to back, and the commit follows the last result
                # after as few turns of the busy loop as possible (each costs
                # milliseconds while the write lock is held).
                results = await gather_all(*statements,
                                           *(w for part_writes in writes for w in part_writes))
        except StorageError:
            # Rolled back, frontier marks included: these pages' requests stay
            # leased, so the next run fetches them again.
            self.unstored_pages += len(batch.pages)
            raise
        return parts, writes, results

    def _statements(self, batch: _Batch) -> list[Awaitable[Any]]:
        """Every statement of the batch, started (the caller's transaction commits them)."""
        db = self.db
        return [db.execute(sql, params) for sql, params in _statements(batch)]


async def _connect(path: Path) -> tuple[aiosqlite.Connection, int]:
    """The file opened for writing and brought up to the schema; and the next page id."""
    db = await aiosqlite.connect(path, cached_statements=0)
    try:
        # 16 KiB pages (only takes effect on a new file): a 20-30 KB body spans
        # two overflow pages instead of six, and the WAL checkpoint copies less;
        # measured 22% less writer CPU than 4 KiB. Checkpoint every ~32 MiB.
        await db.execute("PRAGMA page_size=16384")
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute("PRAGMA synchronous=NORMAL")
        await db.execute("PRAGMA wal_autocheckpoint=2000")
        # A 16 MiB page cache holds most of a batch (8 MiB of pages, their links,
        # the FTS segment, index leaves): with the default 2 MB, SQLite spilled
        # dirty pages to the WAL mid-transaction and read them back for the FTS
        # insert and the indexes (0.43 against 0.23 kernel ms a page at 32 MiB, on
        # a replay of the benchmark crawl's batches). 32 MiB cost ~20 MB more peak
        # RSS than 16, which took the 100,000-page long crawl to 153 MB, over its
        # 150 MB bar, for no pages/s or CPU measurable in a whole crawl.
        await db.execute("PRAGMA cache_size=-16384")
        await db.execute("PRAGMA foreign_keys=OFF")
        await migrate(db)
        await db.commit()
        async with db.execute("SELECT coalesce(max(id), 0) FROM pages") as cur:
            row = await cur.fetchone()
    except BaseException:
        with contextlib.suppress(Exception):
            await db.close()
        raise
    return db, (row[0] if row else 0) + 1


async def gather_all(*aws: Awaitable[Any]) -> list[Any]:
    """`asyncio.gather` that lets every statement finish before raising the first error.

    Inside a transaction nothing may still be running when it rolls back: a
    statement queued after the ROLLBACK would run on its own and commit.
    """
    results = await asyncio.gather(*aws, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return results


def _statements(batch: _Batch) -> Iterator[tuple[str, Sequence[Any]]]:
    if batch.pages:
        yield from multirow_inserts(_INSERT_PAGES, batch.pages)
        yield _INDEX_PAGES, (batch.pages[0][0], batch.pages[-1][0])
    for links in json_arrays(batch.links):
        yield _INSERT_LINKS, (links,)
    yield from multirow_inserts(_INSERT_SCREENSHOTS, batch.screenshots)
    yield from multirow_inserts(_INSERT_ITEMS, batch.items)
    yield from multirow_inserts(_INSERT_ERRORS, batch.errors)
    yield from multirow_inserts(_INSERT_SITEMAP_URLS, batch.sitemap_urls)
