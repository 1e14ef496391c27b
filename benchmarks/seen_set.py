"""What a batch of new URLs costs the seen-set: keyed by URL text, or by a 64-bit fingerprint.

Issue 10 suggested keying the frontier's seen-set by a compact fingerprint
instead of the URL text. This measures it on the long crawl's own insert
pattern, with plain sqlite3 and the store's settings (16 KiB pages, WAL,
synchronous NORMAL): a table of ``--rows`` URLs in the breadth-first order a
crawl of the endless site finds them (``/p/3/17/0`` ... ``/p/3/17/49``), then
``--batches`` batches of 20,000 new URLs (one store batch: 400 pages x 50
links), each one transaction, measuring CPU and the bytes each commit adds
to the WAL (the checkpoint copies them again). Three seen-sets:

- ``text``: today's unique index on (crawl_id, url), ``INSERT OR IGNORE``;
- ``hash``: an index on (crawl_id, fp), fp the first 8 bytes of BLAKE2b of
  the URL; exact (``NOT EXISTS`` compares the URL of any row with the same
  fp, so a collision costs one row read and is never a lost URL); the batch
  inserted in fp order;
- ``dir``: the same, but fp's high 32 bits hash the URL up to its last ``/``
  and the low 32 bits the URL, so siblings stay together in the index::

    .venv/bin/python benchmarks/seen_set.py                 # 1,000,000 rows
    .venv/bin/python benchmarks/seen_set.py --rows 5000000  # the 100,000-page crawl's frontier
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sqlite3
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

HOST = "http://127.0.0.1:8000"
BATCH = 20_000


def blake(text: str, size: int, signed: bool) -> int:
    digest = hashlib.blake2b(text.encode(), digest_size=size).digest()
    return int.from_bytes(digest, "big", signed=signed)


def fingerprint(kind: str) -> Callable[[str], int]:
    """The 64-bit key of a URL for `kind` (hash, dir)."""
    if kind == "hash":
        return lambda url: blake(url, 8, True)
    return lambda url: (blake(url.rsplit("/", 1)[0], 4, True) << 32) | blake(url, 4, False)


def site_urls(count: int) -> list[str]:
    """The endless site's URLs in the breadth-first order a crawl finds them."""
    queue, found = deque([HOST + "/p"]), []
    while len(found) < count:
        parent = queue.popleft()
        for i in range(50):
            found.append(f"{parent}/{i}")
            queue.append(found[-1])
    return found


def open_db(path: Path, kind: str) -> sqlite3.Connection:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("page_size=16384", "journal_mode=WAL", "synchronous=NORMAL",
                   "wal_autocheckpoint=0"):
        db.execute(f"PRAGMA {pragma}")
    db.execute("CREATE TABLE frontier (id INTEGER PRIMARY KEY, crawl_id INT, url TEXT, fp INT)")
    if kind == "text":
        db.execute("CREATE UNIQUE INDEX seen ON frontier(crawl_id, url)")
    else:
        db.execute("CREATE INDEX seen ON frontier(crawl_id, fp)")
    return db


def inserter(db: sqlite3.Connection, kind: str) -> Callable[[list[str]], None]:
    """Insert one batch of URLs through the seen-set of `kind`, in one transaction."""
    if kind == "text":
        def insert(urls: list[str]) -> None:
            db.execute("BEGIN")
            db.execute("INSERT OR IGNORE INTO frontier (crawl_id, url) "
                       "SELECT 1, value FROM json_each(?)", (json.dumps(urls),))
            db.execute("COMMIT")
        return insert
    fp = fingerprint(kind)

    def insert_fp(urls: list[str]) -> None:
        rows = sorted((fp(url), url) for url in urls)  # inserts in key order
        db.execute("BEGIN")
        db.execute("INSERT INTO frontier (crawl_id, fp, url) "
                   "SELECT 1, value ->> 0, value ->> 1 FROM json_each(?) v WHERE NOT EXISTS ("
                   "SELECT 1 FROM frontier WHERE crawl_id = 1 AND fp = v.value ->> 0 "
                   "AND url = v.value ->> 1)", (json.dumps(rows),))
        db.execute("COMMIT")
    return insert_fp


def measure(kind: str, rows: int, batches: int, path: Path) -> dict[str, float]:
    urls = site_urls(rows + batches * BATCH)
    db = open_db(path, kind)
    insert = inserter(db, kind)
    for start in range(0, rows, BATCH):
        insert(urls[start:start + BATCH])
        if start % (10 * BATCH) == 0:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    cpu = wal = 0.0
    for start in range(rows, rows + batches * BATCH, BATCH):
        size, before = os.path.getsize(f"{path}-wal"), os.times()
        insert(urls[start:start + BATCH])
        after = os.times()
        cpu += after.user + after.system - before.user - before.system
        wal += os.path.getsize(f"{path}-wal") - size
    index = db.execute("SELECT sum(pgsize) FROM dbstat WHERE name = 'seen'").fetchone()[0]
    db.close()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    return {"cpu_ms": cpu * 1000 / batches, "wal_mb": wal / batches / 2**20,
            "index_mb": index / 2**20}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="URLs already in the frontier")
    p.add_argument("--batches", type=int, default=10, help="batches of 20,000 new URLs timed")
    p.add_argument("--db", type=Path, default=Path("/tmp/seen-set.db"))
    args = p.parse_args(argv)
    print(f"{args.rows:,} URLs in the frontier; per batch of {BATCH:,} new URLs:")
    for kind in ("text", "hash", "dir"):
        started = time.perf_counter()
        m = measure(kind, args.rows, args.batches, args.db)
        print(f"  {kind:<5} CPU {m['cpu_ms']:>5.0f} ms   WAL {m['wal_mb']:>5.1f} MB   "
              f"index {m['index_mb']:>5.0f} MB   ({time.perf_counter() - started:.0f} s)",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
