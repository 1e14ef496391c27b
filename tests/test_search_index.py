"""The search index as the store writes it: batch by batch, with its settings kept in the file.

The store holds 4 MiB of new terms before FTS5 writes a segment and merges
8 segments of a level at a time (crawler/store/schema.py, FTS_SETTINGS):
both are kept in the file, so whoever writes it next indexes the same way,
and neither may leave the index out of step with `pages`.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from crawler.store.records import PageRecord
from crawler.store.sqlite import Store

pytestmark = pytest.mark.timeout(60)

PAGES = 600
WORDS = 1500  # ~15 KB of text a page: a batch of 400 holds more than 4 MiB of terms


def page(n: int) -> PageRecord:
    url = f"http://127.0.0.1/{n}"
    # Each page: shared words, words shared with a tenth of the pages, and one of its own.
    text = " ".join(f"common{i % 300} tenth{n % 10}x{i % 50}" for i in range(WORDS // 2))
    return PageRecord(url=url, final_url=url, status=200, depth=0, headers="{}", size=1,
                      fetched_at="2026-01-01T00:00:00Z", title=f"Page {n}",
                      text=f"{text} only{n}")


def fts_config(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as con:
        return dict(con.execute("SELECT k, v FROM pages_fts_config WHERE k != 'version'"))


def matches(con: sqlite3.Connection, query: str) -> list[int]:
    return [row[0] for row in con.execute(
        "SELECT rowid FROM pages_fts WHERE pages_fts MATCH ? ORDER BY rowid", (query,))]


# 50: twelve batches, so segments get merged; 400: a batch's terms outgrow the 4 MiB
# FTS5 holds, so it writes segments in the middle of a transaction.
@pytest.mark.parametrize("batch_pages", [50, 400])
async def test_an_index_written_in_batches_finds_every_page_and_passes_its_check(
        tmp_path: Path, batch_pages: int) -> None:
    db = tmp_path / "x.db"
    async with Store(db, batch_pages=batch_pages) as store:
        await store.start_crawl("t", {})
        for n in range(PAGES):
            store.write(page(n))
            await store.maybe_flush()
    with sqlite3.connect(db) as con:
        # Raises "database disk image is malformed" when the index and pages differ.
        con.execute("INSERT INTO pages_fts(pages_fts, rank) VALUES ('integrity-check', 1)")
        ids = [row[0] for row in con.execute("SELECT id FROM pages ORDER BY id")]
        assert len(ids) == PAGES
        assert matches(con, "common7") == ids
        assert matches(con, "tenth3x9") == [i for n, i in enumerate(ids) if n % 10 == 3]
        assert matches(con, f"only{PAGES - 1}") == [ids[-1]]
        assert matches(con, '"common1 tenth0x1"') == [i for n, i in enumerate(ids) if n % 10 == 0]


async def test_the_index_settings_are_kept_in_the_file(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    async with Store(db) as store:
        await store.start_crawl("t", {})
    assert fts_config(db) == {"automerge": 8, "hashsize": 4 * 1024 * 1024}
