"""`crawler shell`: one page in an interactive Python prompt, to try selectors before a spider.

    crawler shell https://books.toscrape.com/            fetch it (politely, like a crawl)
    crawler shell https://books.toscrape.com/ --db books.db   the stored page, no request

The prompt is IPython's when it is installed and the input is a terminal,
else Python's own (so the shell can also be driven by piped input). Bound
names: `response`, `request`, `fetch(url)` (fetch another page and rebind
`response`), `extract(fields)` (try extraction rules as written in a
config's `extract.fields`), and `links()`.
"""

from __future__ import annotations

import argparse
import code
import contextlib
import json
import sqlite3
import sys
from collections.abc import Callable, Mapping
from typing import Any

from multidict import CIMultiDict

from crawler.cli.query import open_readonly
from crawler.config import CrawlConfig, config_from_dict, load_config, parse_overrides
from crawler.engine.admission import canonical
from crawler.engine.blocking import run_sync
from crawler.engine.fetchall import Fetching, url_problem
from crawler.errors import CrawlerError
from crawler.html.parser import extract_item, rules_for
from crawler.models import Request, Response

BANNER = """\
crawler shell: {status} {url}  ({size} bytes{where})
  response.css("h1")               nodes (selectolax): .text(), .attributes["href"], .html
  response.css_first("li.next a")  the first node or None; response.title, response.text
  extract({{"title": "h1::text", "tags": ["a.tag::text"]}})   fields as in a config's extract:
  extract()                        the config's own extract rules (with -c CONFIG.yaml)
  links()                          the page's links; response.follow(href) makes a Request
  fetch(url)                       fetch another page into `response`
"""

EPILOG = """\
examples:
  crawler shell https://books.toscrape.com/
  crawler shell https://books.toscrape.com/ -c configs/books.yaml   (its settings and rules)
  crawler shell https://books.toscrape.com/ --db books.db           (no request: the stored page)
  echo 'print(response.css_first("h1").text())' | crawler shell https://books.toscrape.com/
"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "shell", help="open one page in a Python prompt to try selectors and rules",
        description="Fetch one page (or read it from a crawl database) and start an "
                    "interactive Python prompt with `response` bound.",
        epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("url", metavar="URL", help="the page")
    p.add_argument("--db", metavar="DB", help="read the stored page from this database "
                                              "instead of fetching it")
    p.add_argument("--crawl", type=int, metavar="ID", help="with --db: the crawl to read "
                                                           "(default: the latest with URL)")
    p.add_argument("-c", "--config", metavar="CONFIG.yaml",
                   help="settings and extract rules from a crawl config")
    p.add_argument("-s", "--set", action="append", default=[], metavar="KEY=VALUE",
                   dest="settings", help="set any config key for the fetch")
    p.set_defaults(func=cmd_shell)


def cmd_shell(args: argparse.Namespace) -> int:
    config = load_config(args.config) if args.config else None
    settings = parse_overrides(args.settings)
    if args.db:
        response, where = stored_page(args.db, args.url, args.crawl), f", from {args.db}"
    else:
        response, where = fetch_page(args.url, config, settings), ""
    namespace = Namespace(response, config, settings)
    banner = BANNER.format(status=response.status, url=response.url, size=len(response.body),
                           where=where)
    if args.db and not response.body:
        banner += "  (no body was stored for this page: selectors find nothing)\n"
    interact(namespace.names, banner)
    return 0


# --------------------------------------------------------------------------- getting the page

def fetch_page(url: str, config: CrawlConfig | None,
               settings: Mapping[str, Any]) -> Response:
    """Fetch `url` as a crawl would (robots.txt, retries, redirects, bounds); store nothing."""
    problem = url_problem(url)
    if problem is not None:
        raise CrawlerError(problem)

    async def one() -> Response | Fetching:
        fetching = Fetching([url], config=config, settings=settings, name="shell")
        async with fetching as responses:
            async for response in responses:
                return response
        return fetching

    got = run_sync(one)
    if isinstance(got, Fetching):
        why = "; ".join(f"{e.kind}: {e.message}" for e in got.errors) or "no response"
        raise CrawlerError(f"{url}: {why}")
    return got


def stored_page(db: str, url: str, crawl_id: int | None) -> Response:
    """The page of `url` stored in `db` (its latest crawl, or `crawl_id`), as a Response."""
    conn = open_readonly(db)
    try:
        conn.row_factory = sqlite3.Row
        row = _page_row(conn, url, crawl_id)
    finally:
        conn.close()
    if row is None:
        where = f"crawl {crawl_id} of {db}" if crawl_id is not None else db
        raise CrawlerError(f"{url}: no such page in {where} (see: crawler query {db} "
                           "\"SELECT url FROM pages LIMIT 20\")")
    request = Request(row["url"], depth=row["depth"] or 0, referrer=row["referrer"])
    if row["redirects"]:
        request.redirects = tuple((status, hop) for status, hop in json.loads(row["redirects"]))
    headers: CIMultiDict[str] = CIMultiDict(json.loads(row["headers"] or "{}"))
    return Response(url=row["final_url"] or row["url"], request=request, status=row["status"],
                    headers=headers, body=row["body"] or b"", content_type=row["content_type"],
                    charset=row["encoding"], elapsed=(row["elapsed_ms"] or 0) / 1000)


def _page_row(conn: sqlite3.Connection, url: str, crawl_id: int | None) -> sqlite3.Row | None:
    try:
        wanted = canonical(url)[0]
    except ValueError:
        wanted = url
    where = "(url IN (?, ?) OR final_url IN (?, ?))"
    params: list[Any] = [wanted, url, wanted, url]
    if crawl_id is not None:
        where += " AND crawl_id = ?"
        params.append(crawl_id)
    return conn.execute(f"SELECT * FROM pages WHERE {where} ORDER BY crawl_id DESC, id DESC "
                        "LIMIT 1", params).fetchone()


# --------------------------------------------------------------------------- the prompt

class Namespace:
    """The names the prompt starts with; `fetch` rebinds `response` and `request`."""

    def __init__(self, response: Response, config: CrawlConfig | None,
                 settings: Mapping[str, Any]) -> None:
        self.config = config
        self.settings = settings
        self.names: dict[str, Any] = {
            "Request": Request, "fetch": self.fetch,
            "extract": self.extract, "links": self.links}
        self._bind(response)

    def _bind(self, response: Response) -> None:
        self.names["response"] = response
        self.names["request"] = response.request

    def fetch(self, url: str) -> Response:
        """Fetch `url` (relative to the current page) and make it `response`."""
        response = fetch_page(self.names["response"].urljoin(url), self.config, self.settings)
        self._bind(response)
        return response

    def extract(self, fields: Mapping[str, Any] | None = None) -> Any:
        """Fields as in a config (`{"price": "p.price::text", "tags": ["a::text"]}`) applied to
        `response`; without fields, the config's rules that match the page's URL."""
        response: Response = self.names["response"]
        if fields is None:
            if self.config is None:
                raise CrawlerError("extract() needs fields, or a config given with -c")
            rules = rules_for(response.url, self.config.extract)
            return [extract_item(response.tree, rule) for rule in rules]
        rule = config_from_dict({"extract": {"fields": dict(fields)}},
                                source="extract()").extract[0]
        return extract_item(response.tree, rule)

    def links(self) -> list[str]:
        return self.names["response"].links()


def interact(names: dict[str, Any], banner: str) -> None:
    """IPython on a terminal when it is installed; Python's own prompt otherwise."""
    if sys.stdin.isatty():
        start = _ipython()
        if start is not None:
            start(names, banner)
            return
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401  (line editing and history for input())
    code.interact(banner=banner, local=names, exitmsg="")


def _ipython() -> Callable[[dict[str, Any], str], None] | None:
    try:
        from IPython import start_ipython
    except ImportError:
        return None

    def start(names: dict[str, Any], banner: str) -> None:
        print(banner)
        start_ipython(argv=["--no-banner", "--no-confirm-exit"], user_ns=names)
    return start
