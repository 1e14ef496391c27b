"""`crawler fetch`: fetch a list of URLs concurrently and politely, follow no link, store it all.

    crawler fetch https://a.example/ https://b.example/x -o out.db
    crawler fetch -i urls.txt -o out.db        (one URL a line; blank lines and # comments skipped)
    some-command | crawler fetch -i - -o out.db

The list is a crawl named `fetch` (`--name`) in the output file, so running
the same command again after an interruption continues it. A line that is
not an http(s) URL is reported with its line number; the others are fetched.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from crawler.cli.signals import with_signals
from crawler.config import load_config, parse_overrides
from crawler.engine.fetchall import NAME, Fetching, Skipped, url_list
from crawler.errors import CrawlerError
from crawler.stats import CrawlStats, report

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130

EPILOG = """\
examples:
  crawler fetch https://books.toscrape.com/ https://books.toscrape.com/catalogue/page-2.html
  crawler fetch -i urls.txt -o pages.db --concurrency 32 -s politeness.per_host_delay=0.5
  crawler fetch -i urls.txt -c configs/books.yaml      (its politeness, fetch, store and extract)

Each URL is fetched once, as in a crawl: robots.txt, per-host delay and concurrency,
retries, redirects hop by hop, size and time bounds. Responses are stored whatever
their type (store.non_html: body). Nothing is followed.
exit status: 0 finished, 130 interrupted (run it again to continue), 2 bad input, 1 failed.
"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "fetch", help="fetch a list of URLs (no link following) into a database",
        description="Fetch the given URLs concurrently and politely, following no link, "
                    "and store every response in DB.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("urls", nargs="*", metavar="URL", help="URLs to fetch")
    p.add_argument("-i", "--input", metavar="FILE", action="append", default=[],
                   help="read URLs from FILE, one a line ('-': standard input); repeatable")
    p.add_argument("-o", "--output", metavar="DB",
                   help="the SQLite file to write (default: NAME.db)")
    p.add_argument("-c", "--config", metavar="CONFIG.yaml",
                   help="take settings from a crawl config (its start URLs are not used)")
    p.add_argument("--name", default=NAME, help=f"the crawl's name (default: {NAME})")
    p.add_argument("--concurrency", type=int, metavar="N",
                   help="requests in flight at once, over all hosts")
    p.add_argument("-s", "--set", action="append", default=[], metavar="KEY=VALUE",
                   dest="settings", help="set any config key, e.g. -s fetch.timeout=10s")
    again = p.add_mutually_exclusive_group()
    again.add_argument("--fresh", action="store_const", const="never", dest="resume",
                       help="start a new fetch even if DB holds an unfinished one")
    again.add_argument("--resume", action="store_const", const="always", dest="resume",
                       help="continue the last fetch of this name; an error if none is left")
    p.add_argument("-q", "--quiet", action="store_true", help="no live progress and no summary")
    p.set_defaults(func=cmd_fetch)


def cmd_fetch(args: argparse.Namespace) -> int:
    urls, problems = read_urls(args.urls, args.input)
    for problem in problems:
        print(f"crawler: warning: {problem}", file=sys.stderr)
    if not urls and args.resume != "always":
        raise CrawlerError("no URLs to fetch: give them as arguments or with -i FILE")
    fetching = Fetching(urls, config=load_config(args.config) if args.config else None,
                        settings=_settings(args), output=args.output or f"{args.name}.db",
                        name=args.name, progress=not args.quiet,
                        announce=None if args.quiet else _announce)
    stats = asyncio.run(with_signals(_drain(fetching), stop=fetching.crawler.stop,
                                     abort=fetching.crawler.abort))
    if not args.quiet:
        report(stats)
        if problems:
            print(f"crawler: warning: {len(problems)} line(s) were not URLs (above)",
                  file=sys.stderr)
    if stats.status == "interrupted":
        return EXIT_INTERRUPTED
    return EXIT_OK if stats.status == "finished" else EXIT_FAILED


def read_urls(given: list[str], inputs: list[str]) -> tuple[list[str], list[str]]:
    """The URLs of the arguments and of each -i file, and what was wrong with the others."""
    urls, skipped = url_list(given)
    problems = [entry.describe("argument") for entry in skipped]
    for source in inputs:
        good, bad = url_list(_lines(source), comments=True)
        urls += good
        problems += [_where(source, entry) for entry in bad]
    return urls, problems


def _lines(source: str) -> list[str]:
    if source == "-":
        return sys.stdin.read().splitlines()
    try:
        return Path(source).read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise CrawlerError(f"{source}: cannot read: {exc.strerror}") from None


def _where(source: str, entry: Skipped) -> str:
    return entry.describe("<stdin>" if source == "-" else source)


def _settings(args: argparse.Namespace) -> dict[str, Any]:
    settings = parse_overrides(args.settings)
    if args.concurrency is not None:
        settings["fetch.concurrency"] = args.concurrency
    if args.resume is not None:
        settings["resume"] = args.resume
    return settings


async def _drain(fetching: Fetching) -> CrawlStats:
    async for _ in fetching:
        pass  # stored by the crawl; the responses themselves are not needed here
    assert fetching.stats is not None
    return fetching.stats


def _announce(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
