"""The `crawler` command. Thin: parse arguments, build a config, call the library."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crawler.cli import cluster as cluster_cli
from crawler.cli import commands as cli_commands
from crawler.cli import db as cli_db
from crawler.cli.signals import with_signals
from crawler.config import (
    OVERRIDE_SOURCE,
    CrawlConfig,
    apply_overrides,
    load_config,
    parse_overrides,
)
from crawler.engine.crawler import Crawler
from crawler.errors import CrawlerError, StorageError
from crawler.spider import Spider, load_spider
from crawler.stats import report

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

DESCRIPTION = """\
An asynchronous, polite web crawler. Every crawl writes one SQLite file that
you can query the moment it ends (sqlite3, pandas, Datasette, `crawler query`).
"""

RUN_EPILOG = """\
examples:
  crawler run configs/books.yaml
  crawler run configs/books.yaml -o /tmp/books.db --max-pages 50
  crawler run configs/books.yaml -s politeness.per_host_delay=1 -s scope.max_depth=3
  crawler run myspider.py            (the one Spider subclass in the file)
  crawler run myspider.py:BookSpider (a named class)

resuming: URLs to fetch are kept in the output file. Running the same config
again continues an unfinished crawl of the same name (after Ctrl-C, SIGTERM,
kill -9 or a crash) without fetching a stored page again; --fresh starts over,
--resume insists. --recrawl re-fetches the last crawl's pages with
If-None-Match / If-Modified-Since and records each page as new, changed or
unchanged (pages.change).

many processes: start the same command on each machine (or several on one)
with --frontier redis://host:6379/0 and its own -o file; they share one
frontier, host limits and robots.txt, and each exits when the whole crawl is
done. `crawler status redis://host:6379/0` shows the cluster; `crawler merge
crawl.db shard-*.db` joins the files. --fresh clears this crawl's keys in
Redis (give it to the first process only).

exit status: 0 finished, 130 interrupted (Ctrl-C / SIGTERM), 2 bad config or usage (an
unwritable output, a file another crawl is writing, a spider file that does not load), 1 failed
(storing failed: disk full, I/O error; run the same command again once fixed to resume).
Ctrl-C once stops dispatching, lets in-flight requests finish (at most 10 s), saves
everything and prints the summary; a second Ctrl-C abandons in-flight requests at once.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="crawler", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log more (-vv for debug)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    _add_run(sub)
    cluster_cli.register(sub)
    cli_db.register(sub)
    cli_commands.register(sub)
    return parser


def _add_run(sub: Any) -> None:
    run = sub.add_parser(
        "run", help="run a crawl from a YAML config or a Python spider",
        description="Run a crawl from a YAML config or a Python file holding a Spider subclass.",
        epilog=RUN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument("target", metavar="CONFIG.yaml | SPIDER.py[:Class]",
                     help="a YAML config, or a Python file with a crawler.Spider subclass")
    run.add_argument("-o", "--output", metavar="DB", help="the SQLite file to write")
    run.add_argument("--max-pages", type=int, metavar="N", help="stop after N pages")
    run.add_argument("--concurrency", type=int, metavar="N",
                     help="requests in flight at once, over all hosts")
    run.add_argument("-s", "--set", action="append", default=[], metavar="KEY=VALUE",
                     dest="settings", help="set any config key, e.g. -s fetch.timeout=10s "
                     "(repeatable; the value is read as YAML)")
    again = run.add_mutually_exclusive_group()
    again.add_argument("--fresh", action="store_const", const="never", dest="resume",
                       help="start a new crawl even if OUTPUT holds an unfinished one")
    again.add_argument("--resume", action="store_const", const="always", dest="resume",
                       help="continue the last crawl of this name; an error if none is left")
    run.add_argument("--frontier", metavar="URL",
                     help="share the frontier with other processes: redis://host:6379/0 "
                     "(each process writes its own -o file; `crawler merge` joins them)")
    run.add_argument("--recrawl", action="store_true", default=None,
                     help="re-fetch the last crawl's pages conditionally and record what changed")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="no live progress and no summary")
    # Also after the command (`crawler run x.yaml -v`); SUPPRESS keeps a `crawler -v run`.
    run.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS,
                     help="log more (-vv for debug); a traceback with an error")
    run.set_defaults(func=cmd_run)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=(logging.WARNING, logging.INFO, logging.DEBUG)[min(args.verbose, 2)],
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except StorageError as exc:  # the crawl stopped: what was stored is safe, resumable
        return _fail(exc, EXIT_FAILED, args.verbose)
    except CrawlerError as exc:  # the user can fix it: a config, a path, a spider file
        return _fail(exc, EXIT_USAGE, args.verbose)
    except KeyboardInterrupt:  # before the crawl's own handlers were installed
        print("crawler: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # a bug of ours or in a spider: one line; -v shows where
        hint = "" if args.verbose else " (run again with -v for the traceback)"
        print(f"crawler: error: unexpected {type(exc).__name__}: {exc}{hint}", file=sys.stderr)
        if args.verbose:
            traceback.print_exc()
        return EXIT_FAILED


def _fail(exc: BaseException, status: int, verbose: int) -> int:
    """`crawler: error: <one line>` (a config's mistakes: one a line); the traceback
    only with -v."""
    for line in str(exc).splitlines() or [""]:
        print(f"crawler: error: {line}", file=sys.stderr)
    if verbose:
        traceback.print_exception(exc)
    return status


def cmd_run(args: argparse.Namespace) -> int:
    spider, config = _load_target(args.target, args.settings)
    # A crawl allocates hundreds of short-lived objects per page; with the
    # default threshold (700) the collector ran ~1,000 times on a 10k-page
    # crawl (4% of the time), re-walking the long-lived URL caches.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    config = _apply_flags(config, args)
    announce = None if args.quiet else _announce
    crawler = Crawler(spider, config, output=args.output, progress=not args.quiet,
                      announce=announce)
    stats = asyncio.run(with_signals(crawler.run(), stop=crawler.stop, abort=crawler.abort))
    if not args.quiet:
        report(stats)
    if stats.status == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_OK if stats.status == "finished" else EXIT_FAILED


def _announce(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _load_target(target: str, settings: Sequence[str]) -> tuple[type[Spider] | None, CrawlConfig]:
    path_part = target.partition(":")[0] if ".py:" in target else target
    if path_part.endswith(".py"):
        spider = load_spider(target)
        config = Crawler(spider).config  # the spider's own attributes and custom_settings
        overrides = parse_overrides(settings)
        if overrides:
            config = apply_overrides(config, overrides, source=OVERRIDE_SOURCE)
        return spider, config
    return None, load_config(Path(target), overrides=settings)


def _apply_flags(config: CrawlConfig, args: argparse.Namespace) -> CrawlConfig:
    flags: dict[str, Any] = {}
    if args.max_pages is not None:
        flags["limits.max_pages"] = args.max_pages
    if args.concurrency is not None:
        flags["fetch.concurrency"] = args.concurrency
    if args.output is not None:
        flags["output"] = args.output
    if args.resume is not None:
        flags["resume"] = args.resume
    if args.recrawl:
        flags["recrawl"] = True
    if args.frontier is not None:
        flags["frontier"] = args.frontier
    return apply_overrides(config, flags, source="command line") if flags else config


__all__ = ["build_parser", "main"]
