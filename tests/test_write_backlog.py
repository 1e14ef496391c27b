"""A writer that falls behind slows the crawl down; it does not queue batch after batch.

While one batch is being written the next fills up; once it is full, whoever
calls `maybe_flush` waits for the running write to end before the buffer is
taken. Taking it at once to wait for the lock let a third and a fourth batch
queue behind it whenever the writer was the slowest stage.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from crawler.store.records import PageRecord
from crawler.store.sqlite import Store

pytestmark = pytest.mark.timeout(60)

BATCH = 10


def page(n: int) -> PageRecord:
    url = f"http://127.0.0.1/{n}"
    return PageRecord(url=url, final_url=url, status=200, depth=0, headers="{}", size=1,
                      fetched_at="2026-01-01T00:00:00Z", title=f"Page {n}", text=f"text {n}")


class HeldPart:
    """A batch part whose first write waits for `release`: a writer busy for as long as
    the test likes. `taken` counts the batches taken from the buffer."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.taken = 0

    def take(self) -> Any | None:
        self.taken += 1
        return self.taken

    def writes(self, taken: Any) -> list[Any]:
        return [self.release.wait()] if taken == 1 else []

    async def committed(self, taken: Any, results: list[Any]) -> None:
        pass


async def wait_for(condition: Any) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never held")


async def test_a_full_buffer_waits_for_the_running_write_before_it_is_taken(
        tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    async with Store(db, batch_pages=BATCH, flush_interval=3600) as store:
        await store.start_crawl("t", {})
        part = HeldPart()
        store.add_part(part)
        for n in range(BATCH):
            store.write(page(n))
        first = asyncio.create_task(store.maybe_flush())
        await wait_for(lambda: part.taken == 1)

        # Two more batches' worth arrive while the first is held in the writer.
        for n in range(BATCH, 3 * BATCH):
            store.write(page(n))
        waiting = [asyncio.create_task(store.maybe_flush()) for _ in range(3)]
        await asyncio.sleep(0.1)
        assert part.taken == 1  # nothing more taken while the writer is busy
        assert not first.done() and not any(task.done() for task in waiting)

        part.release.set()
        assert await first is True
        results = await asyncio.gather(*waiting)
        # The next write took everything buffered meanwhile, in one batch.
        assert part.taken == 2
        assert results.count(True) == 1
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM pages").fetchone()[0] == 3 * BATCH


async def test_a_full_buffer_is_written_at_once_when_no_write_is_running(
        tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    async with Store(db, batch_pages=BATCH, flush_interval=3600) as store:
        await store.start_crawl("t", {})
        for n in range(BATCH - 1):
            store.write(page(n))
            assert await store.maybe_flush() is False  # not full yet
        store.write(page(BATCH - 1))
        assert await store.maybe_flush() is True
        with sqlite3.connect(db) as con:
            assert con.execute("SELECT count(*) FROM pages").fetchone()[0] == BATCH
