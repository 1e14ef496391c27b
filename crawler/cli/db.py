"""The database commands of `crawler`: query, stats, search, export.

`register(subparsers)` adds them to the main parser. Each command is
`func(args) -> int`; a user mistake (a missing file, bad SQL, a WARC export
without bodies) prints `crawler: error: ...` and returns 2, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from crawler.cli import export as export_mod
from crawler.cli import query, report, search
from crawler.cli.chunks import MIN_SIZE
from crawler.cli.duplicates import DEDUPE
from crawler.errors import CrawlerError
from crawler.html.simhash import MAX_DISTANCE

EXIT_USAGE = 2


def register(subparsers: Any) -> None:
    """Add `query`, `stats`, `search` and `export` to an argparse subparsers object."""
    _add_query(subparsers)
    _add_stats(subparsers)
    _add_search(subparsers)
    _add_export(subparsers)


def _add_query(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "query", help="run read-only SQL against a crawl database",
        description="Run one SQL statement against DB, opened read-only, and print the rows.")
    p.add_argument("db", metavar="DB", help="the crawl database (.db)")
    p.add_argument("sql", metavar="SQL", help='one SQL statement, e.g. "SELECT * FROM crawls"')
    fmt = p.add_mutually_exclusive_group()
    for name in ("json", "jsonl", "csv"):
        fmt.add_argument(f"--{name}", dest="format", action="store_const", const=name,
                         help=f"print rows as {name.upper()} instead of a table")
    p.set_defaults(format="table", func=_guarded(cmd_query))


def _add_stats(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "stats", help="report on a crawl: statuses, hosts, depth, errors, broken links",
        description="A report of one crawl in DB (the latest unless --crawl is given).")
    p.add_argument("db", metavar="DB", help="the crawl database (.db)")
    p.add_argument("--crawl", type=int, metavar="ID", help="the crawl to report (default: latest)")
    p.add_argument("--top", type=positive_int, default=10, metavar="N",
                   help="rows in the hosts, slowest and broken-link lists (default: 10)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    _add_distance(p)
    p.set_defaults(func=_guarded(cmd_stats))


def _add_distance(p: argparse.ArgumentParser) -> None:
    p.add_argument("--distance", type=bits, default=MAX_DISTANCE, metavar="BITS",
                   help="pages whose main-text SimHashes differ in at most this many of 64 "
                        f"bits are near-duplicates (default: {MAX_DISTANCE})")


def _add_search(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "search", help="full-text search over page titles and text",
        description="Search titles and visible text (SQLite FTS5, ranked by bm25). TERMS may "
                    'use FTS5 syntax: "a phrase", prefix*, a OR b, title:word.')
    p.add_argument("db", metavar="DB", help="the crawl database (.db)")
    p.add_argument("terms", metavar="TERMS", help="what to search for")
    p.add_argument("-n", "--limit", type=positive_int, default=10, metavar="N",
                   help="how many pages to show (default: 10)")
    p.add_argument("--crawl", type=int, metavar="ID", help="search one crawl (default: all)")
    p.add_argument("--jsonl", action="store_true", help="one JSON object per hit")
    p.set_defaults(func=_guarded(cmd_search))


def _add_export(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "export", help="export pages, items, links or the Markdown corpus; pages as WARC",
        description="Stream part of DB to a file: JSON Lines or CSV of pages, items or links "
                    "(an edge list), WARC 1.1 of pages with their stored bodies, or the corpus "
                    "(each page's main content as Markdown with its metadata) as a directory "
                    "of .md files with YAML front matter or as JSON Lines.")
    p.add_argument("db", metavar="DB", help="the crawl database (.db)")
    p.add_argument("--format", choices=export_mod.FORMATS,
                   help="output format (default: from the -o suffix, markdown for a name "
                        "ending in /; jsonl on stdout)")
    p.add_argument("--what", choices=export_mod.WHAT,
                   help="what to export (default: pages; corpus with --format markdown)")
    p.add_argument("-o", "--output", metavar="FILE|DIR/",
                   help="where to write ('-' or omitted: stdout; WARC needs a file; "
                        "a name ending in .warc is written uncompressed, else gzip; "
                        "markdown writes a new directory)")
    p.add_argument("--crawl", type=int, metavar="ID", help="export one crawl (default: all)")
    p.add_argument("--type", dest="item_type", metavar="TYPE",
                   help="with --what items: only items of this type")
    p.add_argument("--chunk-size", type=chunk_size, metavar="CHARS",
                   help="corpus: cut each page's Markdown by headings into chunks of at most "
                        "this many characters, each with its URL and heading path")
    p.add_argument("--dedupe", choices=DEDUPE, default="none",
                   help="pages and corpus: leave out copies, keeping one page of each group: "
                        "'exact' (same body) or 'near' (close main-text SimHash; needs "
                        "store.markdown) (default: none)")
    _add_distance(p)
    p.set_defaults(func=_guarded(cmd_export))


def chunk_size(text: str) -> int:
    """argparse type: a chunk size in characters."""
    value = positive_int(text)
    if value < MIN_SIZE:
        raise argparse.ArgumentTypeError(f"must be at least {MIN_SIZE} characters, not {value}")
    return value


def bits(text: str) -> int:
    """argparse type: a Hamming distance between 64-bit hashes."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value <= 16:
        raise argparse.ArgumentTypeError(f"must be between 0 and 16 bits, not {value}")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn our errors into `crawler: error: ...` (exit 2) and a closed pipe into a quiet end."""
    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except CrawlerError as exc:
            return fail(str(exc))
        except BrokenPipeError:
            # `crawler query ... | head`: the reader left; say nothing more.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 0
        except KeyboardInterrupt:
            print("crawler: interrupted", file=sys.stderr)
            return 130
    run.__name__ = func.__name__
    run.__doc__ = func.__doc__
    return run


def fail(message: str) -> int:
    print(f"crawler: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def cmd_query(args: argparse.Namespace) -> int:
    """`crawler query DB SQL [--json|--jsonl|--csv]`"""
    query.run(args.db, args.sql, sys.stdout, args.format)
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    """`crawler stats DB [--crawl ID] [--json]`"""
    conn = query.open_readonly(args.db)
    try:
        built = report.build_report(conn, args.crawl, top=args.top,
                                    max_distance=args.distance)
    finally:
        conn.close()
    sys.stdout.write(report.to_json(built) + "\n" if args.json else report.render_text(built))
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    """`crawler search DB TERMS [-n N] [--crawl ID] [--jsonl]`"""
    conn = query.open_readonly(args.db)
    try:
        hits = search.search(conn, args.terms, limit=args.limit, crawl_id=args.crawl)
    finally:
        conn.close()
    if args.jsonl:
        sys.stdout.write(search.to_jsonl(hits))
    else:
        color = sys.stdout.isatty() and "NO_COLOR" not in os.environ
        sys.stdout.write(search.render_text(hits, color=color))
    return 0 if hits else 1


def cmd_export(args: argparse.Namespace) -> int:
    """`crawler export DB --format jsonl|csv|warc|markdown [--what ...] -o FILE|DIR/`,
    or `--what screenshots -o DIR`"""
    fmt = args.format or export_mod.guess_format(args.output)
    if args.what == "screenshots":
        fmt = "png"  # one file per screenshot, in the folder -o names
    if fmt is None and args.output in (None, "-"):
        fmt = "jsonl"  # to a terminal or a pipe, JSON Lines unless told otherwise
    if fmt is None:
        return fail("say which format: --format jsonl|csv|warc|markdown (or an -o name ending "
                    "in .jsonl, .csv, .warc, .warc.gz or /)")
    what = args.what or ("corpus" if fmt == "markdown" else "pages")
    options = export_mod.Options(crawl_id=args.crawl, item_type=args.item_type,
                                 chunk_size=args.chunk_size, dedupe=args.dedupe,
                                 max_distance=args.distance)
    conn = query.open_readonly(args.db)
    try:
        if args.crawl is not None:
            query.resolve_crawl(conn, args.crawl)
        result = export_mod.export(conn, fmt, what, args.output, options=options)
    finally:
        conn.close()
    _export_summary(fmt, what, args.output, result)
    return 0


def _export_summary(fmt: str, what: str, where: str | None,
                    result: export_mod.ExportResult) -> None:
    """One line on stderr about what was written (not when the data itself went to stdout)."""
    if fmt == "warc":
        print(f"wrote {result.records} pages ({2 * result.records} request/response records) "
              f"to {where}", file=sys.stderr)
        if result.skipped:
            print(f"crawler: warning: left out {result.skipped} page(s) without a stored body "
                  "(redirects, bodies not kept, or store.body: false)", file=sys.stderr)
        return
    if where not in (None, "-"):
        if what == "corpus":
            unit = "files" if fmt == "markdown" else "records"
            print(f"wrote {result.documents} pages ({result.records} {unit}) to {where}",
                  file=sys.stderr)
        else:
            print(f"wrote {result.records} {what} to {where}", file=sys.stderr)
    if result.left_out:
        print(f"left out {result.left_out} duplicate page(s)", file=sys.stderr)
