"""What indexing a crawl's text for search costs, per FTS5 option.

Reads `pages(id, title, text)` from a crawl's file and replays what the store
does with them: the rows in 400-page transactions, each followed by one
`INSERT ... SELECT` into an FTS5 table over them (external content, as
`pages_fts`), with the crawl's pragmas. Prints the CPU of the FTS inserts per
page (the thread's own CPU, so other processes do not count) for the default
table and each variant, rounds alternating. Standard library only; the file
is any crawl with text, e.g. of the throughput benchmark's site (served)::

    .venv/bin/crawler run benchmarks/out/bench.yaml -o /tmp/site.db
    .venv/bin/python benchmarks/fts_cost.py /tmp/site.db --rounds 2
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path

BATCH_PAGES = 400
HASHSIZE = 4 * 1024 * 1024  # as the store sets it (crawler/store/schema.py, FTS_SETTINGS)
VARIANTS = {  # name: (extra FTS5 options, hashsize)
    "the store's (unicode61, detail=full)": ("", HASHSIZE),
    "hashsize 1 MiB (FTS5's default)": ("", 1024 * 1024),
    "hashsize 2 MiB": ("", 2 * 1024 * 1024),
    "hashsize 8 MiB": ("", 8 * 1024 * 1024),
    "remove_diacritics 0": (", tokenize='unicode61 remove_diacritics 0'", HASHSIZE),
    "remove_diacritics 2": (", tokenize='unicode61 remove_diacritics 2'", HASHSIZE),
    "ascii tokenizer": (", tokenize='ascii'", HASHSIZE),
    "detail=column": (", detail=column", HASHSIZE),
    "columnsize=0": (", columnsize=0", HASHSIZE),
}


def replay(rows: list[tuple[int, str, str]], variant: tuple[str, int], path: Path) -> float:
    """CPU seconds of the FTS inserts of `rows` into a fresh file at `path`."""
    options, hashsize = variant
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("page_size=16384", "journal_mode=WAL", "synchronous=NORMAL",
                   "cache_size=-16384"):
        db.execute(f"PRAGMA {pragma}")
    db.execute("CREATE TABLE pages(id INTEGER PRIMARY KEY, title TEXT, text TEXT)")
    db.execute("CREATE VIRTUAL TABLE pages_fts USING fts5("
               f"title, text, content='pages', content_rowid='id'{options})")
    db.execute("INSERT INTO pages_fts(pages_fts, rank) VALUES ('automerge', 8)")
    db.execute("INSERT INTO pages_fts(pages_fts, rank) VALUES ('hashsize', ?)", (hashsize,))
    spent = 0.0
    for start in range(0, len(rows), BATCH_PAGES):
        batch = rows[start:start + BATCH_PAGES]
        db.execute("BEGIN")
        db.executemany("INSERT INTO pages VALUES (?, ?, ?)", batch)
        began = time.thread_time()
        db.execute("INSERT INTO pages_fts(rowid, title, text) SELECT id, title, text "
                   "FROM pages WHERE id BETWEEN ? AND ?", (batch[0][0], batch[-1][0]))
        spent += time.thread_time() - began
        db.execute("COMMIT")
    db.close()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", type=Path, help="a crawl's SQLite file (pages with text)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with sqlite3.connect(f"file:{args.db}?mode=ro", uri=True) as source:
        rows = source.execute("SELECT id, title, text FROM pages WHERE text IS NOT NULL "
                              "ORDER BY id").fetchall()
    if not rows:
        raise SystemExit(f"{args.db}: no pages with text")
    size = sum(len(text) for _, _, text in rows) / len(rows)
    print(f"{len(rows):,} pages of ~{size / 1000:.1f} K characters of text")
    results: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for name, variant in VARIANTS.items():
                path = Path(tmp) / f"{round_}-{len(results[name])}.db"
                results[name].append(replay(rows, variant, path) * 1000 / len(rows))
                path.unlink()
    for name, costs in results.items():
        print(f"{name:38s} " + "  ".join(f"{cost:.2f}" for cost in costs) + " CPU-ms a page")


if __name__ == "__main__":
    main()
