"""`crawler export`: pages, items and links as JSON Lines or CSV; pages as WARC 1.1;
the corpus (main content as Markdown with metadata) as Markdown files or JSON Lines.

Every exporter walks a cursor row by row and writes as it goes, so memory
stays flat however large the database is. Files are written under a
`.part` name and renamed at the end, so an interrupted export never leaves
a truncated file that looks complete.
"""

from __future__ import annotations

import csv
import json
import os
import re
import sqlite3
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from importlib import metadata
from io import BytesIO
from pathlib import Path
from typing import IO, Any, TextIO
from urllib.parse import urlsplit

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.cli import corpus, duplicates
from crawler.cli.query import QueryError, csv_value, execute

FORMATS = ("jsonl", "csv", "warc", "markdown")
WHAT = ("pages", "items", "links", "corpus", "screenshots")

PAGE_COLUMNS = (
    "id", "crawl_id", "url", "final_url", "status", "content_type", "encoding", "size",
    "title", "depth", "referrer", "fetched_at", "elapsed_ms", "headers", "request_headers",
    "text", "markdown", "redirects", "metadata", "simhash", "content_hash",
)
JSON_COLUMNS = ("headers", "request_headers", "data", "redirects", "metadata")
ITEM_COLUMNS = ("id", "crawl_id", "page_id", "url", "type", "created_at")


class ExportError(QueryError):
    """An export that cannot be made (no bodies for WARC, a bad combination of options)."""


@dataclass
class ExportResult:
    records: int  # rows written (WARC: pages written, each as a request and a response)
    skipped: int = 0  # WARC: pages without a stored body
    documents: int = 0  # corpus: pages written (records are chunks when chunked)
    left_out: int = 0  # pages left out as duplicates (--dedupe)


@dataclass
class Options:
    """What the corpus and page exports can be asked besides format and output."""

    crawl_id: int | None = None
    item_type: str | None = None
    chunk_size: int | None = None  # corpus: cut Markdown by headings into this many chars
    dedupe: str = "none"  # none | exact | near
    max_distance: int = duplicates.sim.MAX_DISTANCE


def guess_format(path: str | None) -> str | None:
    """The format implied by an output file name, if any."""
    name = (path or "").lower()
    if name.endswith(("/", os.sep)):
        return "markdown"
    if name.endswith((".warc", ".warc.gz")):
        return "warc"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    return "csv" if name.endswith(".csv") else None


def export(conn: sqlite3.Connection, fmt: str, what: str, output: str | None, *,
           crawl_id: int | None = None, item_type: str | None = None,
           options: Options | None = None) -> ExportResult:
    """Write `what` from the database to `output` (None or '-' = stdout) as `fmt`."""
    if what == "screenshots":
        if output in (None, "-"):
            raise ExportError("screenshots go to a folder: -o DIR")
        return ExportResult(write_screenshots(conn, Path(str(output)), crawl_id=crawl_id))
    options = options or Options(crawl_id=crawl_id, item_type=item_type)
    check_options(fmt, what, output, options)
    if fmt == "warc":
        return _warc(conn, output, options.crawl_id)
    where = corpus.ELIGIBLE if what == "corpus" else "1"
    skip = duplicates.left_out(conn, options.crawl_id, options.dedupe,
                               max_distance=options.max_distance, where=where)
    if what == "corpus":
        return _corpus(conn, fmt, output, options, skip)
    rows = _ROWS[what](conn, options.crawl_id, options.item_type)
    writer = _jsonl if fmt == "jsonl" else (_items_csv if what == "items" else _csv)
    with open_output(output, binary=False) as out:
        written = writer(_Skipping(rows, skip), out, conn, options.crawl_id, options.item_type)
    return ExportResult(written, left_out=len(skip))


def check_options(fmt: str, what: str, output: str | None, options: Options) -> None:
    """Refuse combinations that mean nothing, saying what would."""
    if fmt == "warc" and what != "pages":
        raise ExportError("WARC holds pages only: use --what pages (the default)")
    if fmt == "markdown" and what != "corpus":
        raise ExportError("Markdown files hold the corpus: use --what corpus (the default "
                          "with --format markdown)")
    if fmt == "markdown" and output in (None, "-"):
        raise ExportError("a Markdown export writes a directory: -o DIR/")
    if what == "corpus" and fmt not in ("markdown", "jsonl"):
        raise ExportError("the corpus is written as --format markdown (a file per page) or "
                          "--format jsonl")
    if options.chunk_size is not None and what != "corpus":
        raise ExportError("--chunk-size cuts the corpus' Markdown: use --what corpus or "
                          "--format markdown")
    if options.dedupe != "none" and (fmt == "warc" or what in ("items", "links")):
        raise ExportError("--dedupe leaves pages out of page and corpus exports (not of "
                          "WARC, items or links)")


def _warc(conn: sqlite3.Connection, output: str | None, crawl_id: int | None) -> ExportResult:
    if output in (None, "-"):
        raise ExportError("WARC export needs a file: -o crawl.warc.gz")
    with_body, without_body = body_counts(conn, crawl_id)
    if not with_body:
        raise ExportError(NO_BODIES)
    gzip = not str(output).lower().endswith(".warc")
    with open_output(output, binary=True) as out:
        written = write_warc(conn, out, crawl_id=crawl_id, gzip=gzip,
                             filename=Path(str(output)).name)
    return ExportResult(written, without_body)


def _corpus(conn: sqlite3.Connection, fmt: str, output: str | None, options: Options,
            skip: set[int]) -> ExportResult:
    if fmt == "markdown":
        pages, written = corpus.write_directory(conn, str(output), options.crawl_id, skip,
                                                options.chunk_size)
    else:
        with open_output(output, binary=False) as out:
            pages, written = corpus.write_jsonl(conn, out, options.crawl_id, skip,
                                                options.chunk_size)
    return ExportResult(written, documents=pages, left_out=len(skip))


class _Skipping:
    """A cursor whose rows with an id (first column) in `skip` are left out."""

    def __init__(self, cursor: sqlite3.Cursor, skip: set[int]) -> None:
        self.cursor = cursor
        self.skip = skip
        self.description = cursor.description

    def fetchmany(self, size: int) -> list[Any]:
        while rows := self.cursor.fetchmany(size):
            kept = [row for row in rows if row[0] not in self.skip] if self.skip else rows
            if kept:
                return kept
        return []


@contextmanager
def open_output(output: str | None, *, binary: bool) -> Iterator[IO[Any]]:
    """stdout for None or '-', else a `.part` file renamed into place on success."""
    if output in (None, "-"):
        yield sys.stdout.buffer if binary else sys.stdout
        return
    final = Path(str(output))
    part = final.with_name(final.name + ".part")
    try:
        with (open(part, "wb") if binary
              else open(part, "w", encoding="utf-8", newline="")) as out:
            yield out
        os.replace(part, final)
    except OSError as exc:
        part.unlink(missing_ok=True)
        raise ExportError(f"{output}: {exc.strerror or exc}") from None
    except BaseException:
        part.unlink(missing_ok=True)
        raise


def _page_rows(conn: sqlite3.Connection, crawl_id: int | None,
               _type: str | None) -> sqlite3.Cursor:
    sql = (f"SELECT {', '.join(PAGE_COLUMNS)} FROM pages "
           "WHERE :crawl IS NULL OR crawl_id = :crawl ORDER BY id")
    return execute(conn, sql, {"crawl": crawl_id})


def _item_rows(conn: sqlite3.Connection, crawl_id: int | None,
               item_type: str | None) -> sqlite3.Cursor:
    sql = (f"SELECT {', '.join(ITEM_COLUMNS)}, data FROM items "
           "WHERE (:crawl IS NULL OR crawl_id = :crawl) AND (:type IS NULL OR type = :type) "
           "ORDER BY id")
    return execute(conn, sql, {"crawl": crawl_id, "type": item_type})


def _link_rows(conn: sqlite3.Connection, crawl_id: int | None,
               _type: str | None) -> sqlite3.Cursor:
    sql = ("SELECT p.url AS source, l.url AS target, l.href, l.text "
           "FROM links AS l JOIN pages AS p ON p.id = l.page_id "
           "WHERE :crawl IS NULL OR p.crawl_id = :crawl "
           "ORDER BY l.rowid")
    return execute(conn, sql, {"crawl": crawl_id})


_ROWS: dict[str, Callable[[sqlite3.Connection, int | None, str | None], sqlite3.Cursor]] = {
    "pages": _page_rows, "items": _item_rows, "links": _link_rows,
}


def write_screenshots(conn: sqlite3.Connection, folder: Path, *,
                      crawl_id: int | None = None) -> int:
    """Each stored screenshot as `<page id>-<host and path>.png` in `folder`; how many."""
    sql = ("SELECT s.page_id, p.url, s.png FROM screenshots AS s "
           "JOIN pages AS p ON p.id = s.page_id "
           "WHERE :crawl IS NULL OR s.crawl_id = :crawl ORDER BY s.page_id")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"{folder}: {exc.strerror or exc}") from None
    written = 0
    for page_id, url, png in _stream(execute(conn, sql, {"crawl": crawl_id})):
        parts = urlsplit(url)
        slug = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{parts.netloc}{parts.path}").strip("_")
        with open_output(str(folder / f"{page_id}-{slug[:100]}.png"), binary=True) as out:
            out.write(png)
        written += 1
    return written


def _stream(cursor: sqlite3.Cursor, size: int = 128) -> Iterator[tuple[Any, ...]]:
    try:
        while rows := cursor.fetchmany(size):
            yield from rows
    except sqlite3.Error as exc:
        raise ExportError(str(exc)) from None


def _jsonl(cursor: sqlite3.Cursor, out: TextIO, *_: Any) -> int:
    """One JSON object per row; JSON columns (headers, data) nested as objects."""
    names = [c[0] for c in cursor.description]
    nested = [name in JSON_COLUMNS for name in names]
    count = 0
    for row in _stream(cursor):
        record = {name: (json.loads(v) if is_json and v else v)
                  for name, v, is_json in zip(names, row, nested, strict=True)}
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
        count += 1
    return count


def _csv(cursor: sqlite3.Cursor, out: TextIO, *_: Any) -> int:
    """A header row and one row per record; JSON columns stay JSON text."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c[0] for c in cursor.description])
    count = 0
    for row in _stream(cursor):
        writer.writerow([csv_value(v) for v in row])
        count += 1
    return count


def item_fields(conn: sqlite3.Connection, crawl_id: int | None,
                item_type: str | None) -> list[str]:
    """Every field name used by the selected items, in order of first appearance."""
    cursor = execute(conn, """
        SELECT j.key FROM items AS i, json_each(i.data) AS j
        WHERE (:crawl IS NULL OR i.crawl_id = :crawl) AND (:type IS NULL OR i.type = :type)
        GROUP BY j.key ORDER BY min(printf('%012d%012d', i.id, j.id))""",
        {"crawl": crawl_id, "type": item_type})
    return [row[0] for row in cursor.fetchall()]


def _items_csv(cursor: sqlite3.Cursor, out: TextIO, conn: sqlite3.Connection,
               crawl_id: int | None, item_type: str | None) -> int:
    """Items flat: the item columns, then one column per field of `data`.

    A field named like an item column (say `url`) gets the column `data.url`.
    Lists and objects are written as JSON text, true/false as `true`/`false`.
    """
    fields = item_fields(conn, crawl_id, item_type)
    header = [*ITEM_COLUMNS, *(f"data.{f}" if f in ITEM_COLUMNS else f for f in fields)]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    count = 0
    for row in _stream(cursor):
        data = json.loads(row[-1])
        cells = [csv_value(v) for v in row[:-1]]
        cells += [field_cell(data.get(f)) for f in fields]
        writer.writerow(cells)
        count += 1
    return count


def field_cell(value: Any) -> Any:
    """An item field as one CSV cell."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    return value


# --- WARC -----------------------------------------------------------------

NO_BODIES = (
    "no page in this database has a stored body, so there is nothing to put in a WARC: "
    "the crawl ran with `store.body: false`. Crawl again keeping bodies, e.g. "
    "`crawler run CONFIG -s store.body=true` (or `store: {body: true}` in the YAML)"
)
# The stored body is already content-decoded by aiohttp and was read in full,
# so these headers would describe bytes that are not in the record.
DROPPED_HEADERS = frozenset({"content-encoding", "transfer-encoding", "content-length"})
DEFAULT_USER_AGENT = "crawler"

_WARC_PAGES = """
SELECT id, crawl_id, final_url, status, fetched_at, headers, request_headers, body
FROM pages WHERE body IS NOT NULL AND (:crawl IS NULL OR crawl_id = :crawl) ORDER BY id
"""


@dataclass(slots=True)
class WarcPage:
    id: int
    crawl_id: int
    final_url: str
    status: int
    fetched_at: str
    headers: str | None
    request_headers: str | None
    body: bytes


def body_counts(conn: sqlite3.Connection, crawl_id: int | None) -> tuple[int, int]:
    """(pages with a stored body, pages without one)."""
    row = execute(conn, """
        SELECT coalesce(sum(body IS NOT NULL), 0), coalesce(sum(body IS NULL), 0)
        FROM pages WHERE :crawl IS NULL OR crawl_id = :crawl""", {"crawl": crawl_id}).fetchone()
    return int(row[0]), int(row[1])


def write_warc(conn: sqlite3.Connection, out: IO[bytes], *, crawl_id: int | None = None,
               gzip: bool = True, filename: str | None = None) -> int:
    """A warcinfo record, then a response and a request record per page with a body.

    Returns the number of pages written. Each record is its own gzip member
    when `gzip` is true, as WARC tools expect of a `.warc.gz`.
    """
    writer = WARCWriter(out, gzip=gzip, warc_version="1.1")
    writer.write_record(writer.create_warcinfo_record(filename, _warcinfo(conn, crawl_id)))
    agents: dict[int, str] = {}
    count = 0
    cursor = execute(conn, _WARC_PAGES, {"crawl": crawl_id})
    # One row at a time: a batch of bodies could be hundreds of megabytes.
    for row in _stream(cursor, size=1):
        page = WarcPage(*row)
        if page.crawl_id not in agents:
            agents[page.crawl_id] = _user_agent(conn, page.crawl_id)
        response = response_record(writer, page)
        request = request_record(writer, page, agents[page.crawl_id])
        writer.write_request_response_pair(request, response)
        count += 1
    return count


def response_record(writer: WARCWriter, page: WarcPage) -> Any:
    """The response as received: status line, headers (fixed for the decoded body), body."""
    headers = [(name, value) for name, value in _header_pairs(page.headers)
               if name not in DROPPED_HEADERS]
    headers.append(("content-length", str(len(page.body))))
    http = StatusAndHeaders(f"{page.status} {_reason(page.status)}".strip(), headers,
                            protocol="HTTP/1.1")
    return writer.create_warc_record(
        page.final_url, "response", payload=BytesIO(page.body), length=len(page.body),
        http_headers=http, warc_headers_dict={"WARC-Date": warc_date(page.fetched_at)})


def request_record(writer: WARCWriter, page: WarcPage, user_agent: str) -> Any:
    """The GET that fetched the page; headers synthesized when they were not recorded."""
    parts = urlsplit(page.final_url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    headers = list(_header_pairs(page.request_headers))
    if not headers:
        headers = [("user-agent", user_agent)]
    if not any(name == "host" for name, _ in headers):
        headers.insert(0, ("host", parts.netloc))
    http = StatusAndHeaders(f"GET {target} HTTP/1.1", headers, is_http_request=True)
    return writer.create_warc_record(
        page.final_url, "request", http_headers=http,
        warc_headers_dict={"WARC-Date": warc_date(page.fetched_at)})


def _header_pairs(headers_json: str | None) -> Iterator[tuple[str, str]]:
    """(name, value) from a stored headers object; set-cookie split back into its lines."""
    if not headers_json:
        return
    for name, value in json.loads(headers_json).items():
        values = str(value).split("\n") if name == "set-cookie" else [str(value)]
        for one in values:
            # A raw newline would end the header block early.
            yield name, " ".join(one.splitlines())


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def warc_date(fetched_at: str) -> str:
    """Our ISO 8601 UTC time as a WARC 1.1 date (fractional seconds are allowed)."""
    return fetched_at if fetched_at.endswith("Z") else fetched_at + "Z"


def _user_agent(conn: sqlite3.Connection, crawl_id: int) -> str:
    row = execute(conn, "SELECT config FROM crawls WHERE id = ?", (crawl_id,)).fetchone()
    try:
        config = json.loads(row[0]) if row and row[0] else {}
        agent = (config.get("fetch") or {}).get("user_agent")
    except (ValueError, AttributeError):
        agent = None
    return str(agent) if agent else DEFAULT_USER_AGENT


def _warcinfo(conn: sqlite3.Connection, crawl_id: int | None) -> dict[str, str]:
    cursor = execute(conn, "SELECT id, name FROM crawls WHERE :crawl IS NULL OR id = :crawl "
                     "ORDER BY id", {"crawl": crawl_id})
    crawls = ", ".join(f"{name} (crawl {cid})" for cid, name in cursor.fetchall())
    return {
        "software": f"crawler/{_version()} (warcio)",
        "format": "WARC File Format 1.1",
        "conformsTo": "https://iipc.github.io/warc-specifications/specifications/"
                      "warc-format/warc-1.1/",
        "isPartOf": crawls,
        "description": "Exported from a crawler SQLite database",
    }


def _version() -> str:
    try:
        return metadata.version("crawler")
    except metadata.PackageNotFoundError:
        return "unknown"
