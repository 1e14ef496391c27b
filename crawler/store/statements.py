"""Multi-row INSERT statements: many rows bound and run as one statement."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from functools import lru_cache
from typing import Any

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


# The most JSON text one json_each statement takes. SQLite parses the whole text
# into nodes before the first row: a 400-page batch's links (~2 MB of JSON on
# the long crawl) raised peak RSS by up to 15 MB for the statement's length,
# and the frontier's ~20,000 new URLs as much again. At 256 KiB each statement
# takes ~2 MB, and a batch is a few more statements, queued together.
JSON_CHUNK_CHARS = 256 * 1024


def json_arrays(fragments: Sequence[str], max_chars: int = JSON_CHUNK_CHARS) -> Iterator[str]:
    """JSON arrays of `fragments` (each one or more array items, comma-joined, without
    brackets), in order, each of about `max_chars` at most: a fragment longer than
    that is an array of its own."""
    start, size = 0, 0
    for end, fragment in enumerate(fragments):
        if size and size + len(fragment) > max_chars:
            yield "[" + ",".join(fragments[start:end]) + "]"
            start, size = end, 0
        size += len(fragment) + 1
    if start < len(fragments):
        yield "[" + ",".join(fragments[start:]) + "]"
