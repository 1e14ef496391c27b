"""`crawler init NAME [URL]`: a commented starter config (and a spider) that runs as it is.

    crawler init shop https://shop.example/          writes shop.yaml
    crawler init shop https://shop.example/ --spider   and shop_spider.py

Both crawl URL's site within safe bounds (100 pages, depth 3) and yield one
item per page, so `crawler run shop.yaml` works at once; the comments say
what to change next. Existing files are never overwritten without --force.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from crawler.engine.fetchall import url_problem
from crawler.errors import CrawlerError
from crawler.urls import host_of

SANDBOX = "https://books.toscrape.com/"  # a public site made for practising crawling
NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")

CONFIG = """\
# {name}: a crawl of {url}
# Made by `crawler init`. Run it with:   crawler run {name}.yaml
# Then look:   crawler stats {name}.db   crawler report {name}.db -o {name}.html
#              sqlite3 {name}.db "SELECT url, status, title FROM pages LIMIT 20"
# Every key and its default: README.md, "Configuration reference".

name: {name}
start_urls: [{url_json}]
output: {name}.db                  # one SQLite file: pages, links, items, errors

scope:
  # allowed_domains: [{host}]     # the default: the start URLs' hosts (and their subdomains)
  max_depth: 3                     # links followed from the start page; remove for no limit
  # include: ['/catalogue/']       # regexes: only URLs matching one of them are crawled
  # exclude: ['\\?sort=', '/login'] # regexes: URLs matching any are not crawled

limits:
  max_pages: 100                   # stop after this many pages (run again with --resume
  max_duration: 10m                #   and a higher limit to go on)

politeness:
  robots_txt: obey                 # obey | ignore
  per_host_delay: 0.25s            # between the starts of two requests to one host
  per_host_concurrency: 2          # requests in flight to one host

fetch:
  concurrency: 16                  # requests in flight over all hosts
  timeout: 30s
  # user_agent: "{name}bot/1.0 (+https://example.com/about-this-bot)"   # say who you are

store:
  body: true                       # keep the HTML (needed for `crawler export --format warc`)
  markdown: false                  # true: keep Markdown of each page's main content

# Items: fields taken from each page whose URL matches `match` (every page
# without it). Try selectors first:  crawler shell {url}
extract:
  # match: '/product/'
  type: page
  fields:
    title: "title::text"           # the text of the first match
    heading: "h1::text"
    # image: "img::attr(src)"      # an attribute
    # tags: ["a.tag::text"]        # a one-element list: every match, as a list
"""

SPIDER = '''\
"""{name}: a spider made by `crawler init --spider`.

Run it:   crawler run {name}_spider.py
Its settings are in `custom_settings` (any key of the YAML config, dotted).
Try selectors first:   crawler shell {url}
"""

import crawler


class {cls}(crawler.Spider):
    name = "{name}"
    start_urls = [{url_json}]
    custom_settings = {{
        "output": "{name}.db",
        "scope.max_depth": 3,
        "limits.max_pages": 100,
        "politeness.per_host_delay": 0.25,
    }}

    def parse(self, response):
        # One item per page (a dict: an item of type "{name}")...
        heading = response.css_first("h1")
        yield {{
            "url": response.url,
            "title": response.title,
            "heading": heading.text(strip=True) if heading is not None else None,
        }}
        # ... and every link followed (the engine drops those out of scope).
        # To choose: yield response.follow(href, callback=self.parse_item)
        yield from response.links()
'''


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "init", help="write a commented starter config (and a spider) for a site",
        description="Write NAME.yaml, a commented config that crawls URL's site within "
                    "safe bounds and runs as it is; with --spider also NAME_spider.py.")
    p.add_argument("name", metavar="NAME", help="the crawl's name (letters, digits, _ and -)")
    p.add_argument("url", metavar="URL", nargs="?", default=SANDBOX,
                   help=f"where the crawl starts (default: {SANDBOX}, a practice site)")
    p.add_argument("--spider", action="store_true", help="also write a Python spider")
    p.add_argument("-d", "--dir", default=".", metavar="DIR",
                   help="where to write the files (default: here)")
    p.add_argument("--force", action="store_true", help="overwrite files that exist")
    p.set_defaults(func=cmd_init)


def cmd_init(args: argparse.Namespace) -> int:
    files = starter_files(args.name, args.url, spider=args.spider)
    folder = Path(args.dir)
    existing = [name for name in files if (folder / name).exists()]
    if existing and not args.force:
        raise CrawlerError(f"{folder / existing[0]} exists; --force to overwrite it")
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
        print(f"wrote {folder / name}", file=sys.stderr)
    run = " or ".join(f"crawler run {name}" for name in files)
    print(f"next: cd {folder} && {run}" if args.dir != "." else f"next: {run}",
          file=sys.stderr)
    return 0


def starter_files(name: str, url: str, *, spider: bool) -> dict[str, str]:
    """{file name: text} of the starter config and, with `spider`, the spider."""
    if not NAME.fullmatch(name):
        raise CrawlerError(f"invalid name {name!r}: use letters, digits, '_' and '-', "
                           "starting with a letter")
    problem = url_problem(url)
    if problem is not None:
        raise CrawlerError(problem)
    fields = {"name": name, "url": url, "url_json": json.dumps(url), "host": host_of(url),
              "cls": "".join(part.capitalize() for part in re.split(r"[_-]", name)) + "Spider"}
    files = {f"{name}.yaml": CONFIG.format(**fields)}
    if spider:
        files[f"{name}_spider.py"] = SPIDER.format(**fields)
    return files
