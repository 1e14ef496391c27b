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
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

_CREATE = "CREATE INDEX IF NOT EXISTS links_url ON links(url)"  # as in schema.SCHEMA


async def defer(db: aiosqlite.Connection) -> bool:
    """Drop the index while the file has no links: True if it is to be built at close."""
    async with db.execute("SELECT 1 FROM links LIMIT 1") as cur:
        if await cur.fetchone() is not None:
            return False
    await db.execute("DROP INDEX IF EXISTS links_url")
    await db.commit()
    return True


async def build(db: aiosqlite.Connection, path: Path) -> None:
    """Create the index (in the caller's transaction)."""
    log.info("indexing the links of %s by target", path)
    # The sort that builds it takes what the page cache may: at the crawl's
    # 16 MiB that put the 100,000-page long crawl's peak RSS up 16 MB at its
    # end, to 146 MB. With 4 MiB it took nothing more, and 0.81-0.87x the
    # CPU (2 million links' rows, alternating runs). The store closes next.
    await db.execute("PRAGMA shrink_memory")
    await db.execute("PRAGMA cache_size=-4096")
    await db.execute(_CREATE)
