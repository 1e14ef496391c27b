"""`links(url)`, the index of links by target: built once when a new crawl closes.

A crawl writes ~30-50 links a page, and this index takes them in random key
order, touching index pages all over the file: storing them cost 0.65
CPU-ms a page with it in place against 0.30 with it built once at the end,
the build included, and 1.51 against 0.33 at 100,000 pages
(benchmarks/links_index.py). So a crawl that begins on a file without links
drops it, and the store builds it when it closes. Until then "who links
here" queries scan the table. A file that already has links keeps its index
(a resumed crawl, a second crawl in the file); one whose crawl died before
closing gets it back from the schema (schema.SCHEMA) when it is next opened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

_CREATE = "CREATE INDEX IF NOT EXISTS links_url ON links(url)"  # as in schema.SCHEMA

# From here the build takes long enough (~2 s a million rows on the benchmark
# machine; the 100,000-page long crawl's 5 million took 11) that a crawl which
# has stopped fetching and says nothing looks hung: it says what it is doing.
ANNOUNCE_FROM = 1_000_000


async def defer(db: aiosqlite.Connection) -> bool:
    """Drop the index while the file has no links: True if it is to be built at close."""
    async with db.execute("SELECT 1 FROM links LIMIT 1") as cur:
        if await cur.fetchone() is not None:
            return False
    await db.execute("DROP INDEX IF EXISTS links_url")
    await db.commit()
    return True


async def build(db: aiosqlite.Connection, path: Path,
                note: Callable[[str], None] | None = None) -> None:
    """Create the index (in the caller's transaction); `note` (else the log) hears of a
    long build."""
    async with db.execute("SELECT max(rowid) FROM links") as cur:  # a count without a scan
        row = await cur.fetchone()
    rows = row[0] if row is not None and row[0] is not None else 0
    if rows >= ANNOUNCE_FROM:
        say = note or log.info
        say(f"indexing the {rows:,} links of {path} by target (once, as a new crawl ends)")
    # The sort that builds it takes what the page cache may: at the crawl's
    # 16 MiB that put the 100,000-page long crawl's peak RSS up 16 MB at its
    # end, to 146 MB. With 4 MiB it took nothing more, and 0.81-0.87x the
    # CPU (2 million links' rows, alternating runs). The store closes next.
    await db.execute("PRAGMA shrink_memory")
    await db.execute("PRAGMA cache_size=-4096")
    await db.execute(_CREATE)
