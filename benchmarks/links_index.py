"""What the `links_url` index costs while a crawl writes, against building it at the end.

A crawl inserts ~50 links a page; `links(url)` takes them in random key order,
so each batch touches index pages all over the file. This replays 10,000
pages of 50 links each in 400-page transactions (the crawl's batch), with
the crawl's pragmas, once with the index in place and once with it created
after the last batch, and prints the CPU per page of each. Standard library
only, no network::

    .venv/bin/python benchmarks/links_index.py            # 2 rounds
    .venv/bin/python benchmarks/links_index.py --rounds 4 --pages 20000
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
import time
from pathlib import Path

LINKS_PER_PAGE = 50
BATCH_PAGES = 400


def link_rows(rng: random.Random, first_page: int, pages: int) -> list[tuple[object, ...]]:
    rows: list[tuple[object, ...]] = []
    for page in range(first_page, first_page + pages):
        for _ in range(LINKS_PER_PAGE):
            n = rng.randrange(200_000)
            rows.append((page, f"http://127.0.0.1:8765/cat/{n % 97}/item-{n}.html",
                         f"item-{n}.html", f"Item {n}"))
    return rows


def replay(path: Path, pages: int, *, index_at_end: bool) -> tuple[float, float]:
    """(CPU seconds of the inserts, CPU seconds of the index built at the end)."""
    db = sqlite3.connect(path)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "cache_size=-16384"):
        db.execute(f"PRAGMA {pragma}")
    db.execute("CREATE TABLE links (page_id INTEGER NOT NULL, url TEXT, href TEXT NOT NULL, "
               "text TEXT)")
    db.execute("CREATE INDEX links_page ON links(page_id)")
    if not index_at_end:
        db.execute("CREATE INDEX links_url ON links(url)")
    rng = random.Random(1)  # the same links both ways
    batches = [link_rows(rng, first, BATCH_PAGES) for first in range(1, pages + 1, BATCH_PAGES)]
    started = time.process_time()
    for rows in batches:
        db.executemany("INSERT INTO links VALUES (?, ?, ?, ?)", rows)
        db.commit()
    inserted = time.process_time()
    if index_at_end:
        db.execute("CREATE INDEX links_url ON links(url)")
        db.commit()
    db.close()
    return inserted - started, time.process_time() - inserted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"{args.pages:,} pages x {LINKS_PER_PAGE} links, {BATCH_PAGES}-page transactions")
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.rounds):
            for index_at_end in (False, True):  # alternating: the machine is shared
                path = Path(tmp) / f"links-{n}-{index_at_end}.db"
                inserts, build = replay(path, args.pages, index_at_end=index_at_end)
                label = "index built at the end" if index_at_end else "index during inserts"
                print(f"round {n + 1}  {label:<24} inserts {inserts:6.2f} s  end {build:5.2f} s"
                      f"  {(inserts + build) * 1000 / args.pages:6.3f} CPU-ms a page")


if __name__ == "__main__":
    main()
