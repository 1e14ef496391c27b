"""Read-only access to a crawl database and renderers that stream result rows.

Every database command opens the file through `open_readonly`, so no
statement typed at `crawler query` can change the crawl: SQLite itself
refuses writes (`mode=ro`), an authorizer refuses ATTACH (which could
otherwise create or change a *different* file, as `VACUUM INTO` does), and
`query_only` is switched on for good measure.

Renderers take a cursor and fetch rows in batches (`fetchmany`), so a
million-row result prints without being held in memory.
"""

from __future__ import annotations

import base64
import csv
import json
import sqlite3
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from crawler.errors import CrawlerError

BATCH = 256
TABLE_SAMPLE = 500  # rows looked at to size the columns of an aligned table
TABLE_MAX_WIDTH = 60


class QueryError(CrawlerError):
    """A database that cannot be opened or a statement SQLite refused."""


def open_readonly(path: str | Path) -> sqlite3.Connection:
    """Open an existing crawl database read-only; never creates a file."""
    file = Path(path)
    if not file.is_file():
        raise QueryError(f"{path}: no such database file")
    uri = file.resolve().as_uri() + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise QueryError(f"{path}: {exc}") from None
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # is it SQLite at all?
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise QueryError(f"{path}: {exc}") from None
    conn.set_authorizer(_authorize)
    return conn


def _authorize(action: int, arg1: str | None, arg2: str | None, _db: str | None,
               _trigger: str | None) -> int:
    # ATTACH (and VACUUM INTO, which attaches) can write files other than ours.
    if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and (arg1 or "").lower() == "query_only" and arg2:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def execute(conn: sqlite3.Connection, sql: str, params: Sequence[Any] = ()) -> sqlite3.Cursor:
    """Run one statement; SQLite's complaint becomes a QueryError with its message."""
    try:
        return conn.execute(sql, params)
    except (sqlite3.Error, ValueError) as exc:
        raise QueryError(_sqlite_message(exc)) from None


def _sqlite_message(exc: Exception) -> str:
    message = str(exc)
    if message in ("not authorized", "authorization denied"):
        return (f"{message}: the database is open read-only "
                "(ATTACH, VACUUM INTO and PRAGMA query_only are refused)")
    if "readonly database" in message:
        return f"{message}: `crawler query` is read-only"
    return message


def column_names(cursor: sqlite3.Cursor) -> list[str]:
    return [col[0] for col in cursor.description or ()]


def batches(cursor: sqlite3.Cursor, size: int = BATCH) -> Iterator[list[tuple[Any, ...]]]:
    """Rows in lists of `size`; SQLite errors raised mid-stream become QueryError."""
    while True:
        try:
            rows = cursor.fetchmany(size)
        except sqlite3.Error as exc:
            raise QueryError(_sqlite_message(exc)) from None
        if not rows:
            return
        yield rows


def resolve_crawl(conn: sqlite3.Connection, crawl_id: int | None) -> int:
    """The given crawl id if it exists, else the latest crawl's id."""
    if crawl_id is None:
        row = execute(conn, "SELECT max(id) FROM crawls").fetchone()
        if row is None or row[0] is None:
            raise QueryError("the database holds no crawl yet")
        return int(row[0])
    row = execute(conn, "SELECT id FROM crawls WHERE id = ?", (crawl_id,)).fetchone()
    if row is None:
        raise QueryError(f"no crawl with id {crawl_id} "
                         "(list them: crawler query DB 'SELECT * FROM crawls')")
    return crawl_id


def json_value(value: Any) -> Any:
    """A column value as JSON can carry it: BLOBs become base64 text."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return value


def csv_value(value: Any) -> Any:
    if value is None:
        return ""
    return json_value(value)


def write_json(cursor: sqlite3.Cursor, out: TextIO) -> int:
    """One JSON array of objects, written a row at a time."""
    names = column_names(cursor)
    count = 0
    out.write("[")
    for rows in batches(cursor):
        for row in rows:
            out.write(",\n " if count else "\n ")
            out.write(json.dumps(dict(zip(names, map(json_value, row), strict=True)),
                                 ensure_ascii=False))
            count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def write_jsonl(cursor: sqlite3.Cursor, out: TextIO) -> int:
    """One JSON object per line."""
    names = column_names(cursor)
    count = 0
    for rows in batches(cursor):
        for row in rows:
            out.write(json.dumps(dict(zip(names, map(json_value, row), strict=True)),
                                 ensure_ascii=False))
            out.write("\n")
            count += 1
    return count


def write_csv(cursor: sqlite3.Cursor, out: TextIO) -> int:
    """CSV with a header row; NULL is an empty cell, BLOBs are base64."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(column_names(cursor))
    count = 0
    for rows in batches(cursor):
        writer.writerows([csv_value(v) for v in row] for row in rows)
        count += len(rows)
    return count


def write_table(cursor: sqlite3.Cursor, out: TextIO) -> int:
    """An aligned text table; widths come from the first rows, later rows stream."""
    names = column_names(cursor)
    if not names:
        return 0
    stream = (row for rows in batches(cursor) for row in rows)
    head = [row for _, row in zip(range(TABLE_SAMPLE), stream, strict=False)]
    numeric = [all(isinstance(r[i], int | float) for r in head if r[i] is not None) and
               any(r[i] is not None for r in head) for i in range(len(names))]
    widths = [len(name) for name in names]
    for row in head:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(table_cell(value)))
    out.write(format_row(names, widths, numeric) + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    count = 0
    for row in _chain(head, stream):
        out.write(format_row([table_cell(v) for v in row], widths, numeric) + "\n")
        count += 1
    out.write(f"({count} row{'' if count == 1 else 's'})\n")
    return count


def _chain(head: list[tuple[Any, ...]], rest: Iterator[tuple[Any, ...]]
           ) -> Iterator[tuple[Any, ...]]:
    yield from head
    yield from rest


def table_cell(value: Any, max_width: int = TABLE_MAX_WIDTH) -> str:
    """A value as one short line of text for a human-readable table."""
    if value is None:
        text = "NULL"
    elif isinstance(value, bytes):
        text = f"<blob {len(value)} bytes>"
    elif isinstance(value, float):
        text = f"{value:.6g}"
        if text.lstrip("-").isdigit():
            text += ".0"  # keep floats recognisable: 16.0, not 16
    else:
        text = " ".join(str(value).split())
    if len(text) > max_width:
        text = text[: max_width - 1] + "…"
    return text


def format_row(cells: Sequence[str], widths: Sequence[int], right: Sequence[bool]) -> str:
    parts = [cell.rjust(width) if r else cell.ljust(width)
             for cell, width, r in zip(cells, widths, right, strict=True)]
    return "  ".join(parts).rstrip()


def format_table(names: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    """A small, fully known table as aligned lines (numbers right-aligned)."""
    cells = [[table_cell(v) for v in row] for row in rows]
    widths = [max([len(n), *(len(r[i]) for r in cells)]) for i, n in enumerate(names)]
    right = [bool(rows) and all(isinstance(r[i], int | float) or r[i] is None for r in rows)
             for i in range(len(names))]
    lines = [format_row(names, widths, right), "  ".join("-" * w for w in widths)]
    lines += [format_row(r, widths, right) for r in cells]
    return lines


RENDERERS = {"table": write_table, "json": write_json, "jsonl": write_jsonl, "csv": write_csv}


def run(path: str | Path, sql: str, out: TextIO, fmt: str = "table") -> int:
    """Open `path` read-only, run `sql` and render its rows to `out`; returns the row count."""
    conn = open_readonly(path)
    try:
        cursor = execute(conn, sql)
        return RENDERERS[fmt](cursor, out)
    finally:
        conn.close()
