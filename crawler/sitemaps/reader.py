"""Sitemaps: find them, stream them, and schedule the URLs they list.

With `sitemaps: true` each start host's sitemaps seed the frontier: the
`Sitemap:` lines of its robots.txt, else `/sitemap.xml` (only that when
`politeness.robots_txt` is `ignore`, since robots.txt is then never read).
A sitemap fetch is a `Request` with `kind="sitemap"`, so it waits for its
host's robots.txt, delay and concurrency like any page; the worker hands it
to `Sitemaps.read` instead of the page path, which returns the request's
`Outcome` like every pipeline stage; no `pages` row is written.

The body is never held whole (`crawler.sitemaps.xml`): each entry is
scheduled as soon as it closes, so when a cap or a syntax error stops the
read, everything before it is used. `<url>` entries become page requests at
depth 0 (scope, dedupe, traps and robots.txt apply as to links) and rows in
`sitemap_urls`; `<sitemap>` entries of an index become sitemap requests one
level deeper, deduplicated like every URL, so an index listing itself ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

from crawler import urls
from crawler.config import CrawlConfig
from crawler.engine import outcome as outcomes
from crawler.engine.outcome import Failure, Outcome
from crawler.errors import FetchError, SitemapError
from crawler.fetch.base import BodyStream, Fetcher
from crawler.models import SITEMAP, Request
from crawler.politeness.retries import RetryPolicy, retry_after
from crawler.politeness.robots import RobotsRules
from crawler.sitemaps.xml import Entry, SitemapParser, XmlBody, normalize_lastmod
from crawler.store.records import Record, SitemapUrlRecord

log = logging.getLogger(__name__)

__all__ = ["SITEMAP", "Sitemaps"]

_ACCEPT = {"Accept": "application/xml, text/xml;q=0.9, */*;q=0.5"}
_LEVEL = "sitemap_level"  # meta: 0 for a discovered sitemap, +1 per index above it
_GUESSED = "sitemap_guessed"  # meta: /sitemap.xml tried because robots.txt named none

Schedule = Callable[[Request], "str | None"]  # None: accepted, else why it was dropped
Settle = Callable[[Request, Outcome], None]


class Sitemaps:
    """Discovers the start hosts' sitemaps and reads them as their requests come up."""

    def __init__(self, config: CrawlConfig, stats: Counter[str], *, fetcher: Fetcher,
                 schedule: Schedule, settle: Settle, write: Callable[[Record], None],
                 flush: Callable[[], Awaitable[object]], retries: RetryPolicy) -> None:
        self.config = config
        self.stats = stats  # fetched, urls, scheduled, children, missing, not_fetched
        self._fetcher = fetcher
        self._schedule = schedule
        self._settle = settle  # for a sitemap refused before it became a request
        self._write = write
        self._flush = flush
        self._retries = retries
        self._robots = config.politeness.robots_txt == "obey"
        self._hosts: set[str] = set()  # start hosts already seeded
        self._waiting: set[str] = set()  # start hosts whose robots.txt is not known yet
        self._requested = 0  # sitemap requests accepted (limits.max_sitemaps)
        self._max_reported = False

    # ---- discovery ----

    def seed(self, url: str) -> None:
        """`url` was accepted as a start URL: its host's sitemaps are to be read."""
        if not self.config.sitemaps:
            return
        host = urls.host_key(url)
        if host in self._hosts:
            return
        self._hosts.add(host)
        if self._robots:
            self._waiting.add(host)  # robots.txt names the sitemaps: wait for it
        else:
            self._guess(host)

    def robots_known(self, host: str, rules: RobotsRules) -> None:
        """`host`'s robots.txt arrived: schedule the sitemaps it names, else /sitemap.xml."""
        if host not in self._waiting or rules.unreachable:
            return  # unreachable for now: wait for the robots.txt that will be tried again
        self._waiting.discard(host)
        if rules.disallow_all:
            return
        robots_url = f"{host}/robots.txt"
        named = list(rules.parser.sitemaps) if rules.parser is not None else []
        for loc in named:
            self._add_sitemap(_sitemap_request(_resolve(robots_url, loc), robots_url, 0))
        if not named:
            self._guess(host)

    def _guess(self, host: str) -> None:
        request = _sitemap_request(f"{host}/sitemap.xml", None, 0)
        request.meta[_GUESSED] = True
        self._add_sitemap(request)

    def _add_sitemap(self, request: Request) -> bool:
        limit = self.config.limits.max_sitemaps
        if limit is not None and self._requested >= limit:
            self.stats["not_fetched"] += 1
            if not self._max_reported:
                self._max_reported = True
                self._settle(request, Outcome("dropped", errors=[Failure(
                    "sitemap", f"limits.max_sitemaps ({limit}) reached: this and "
                    "further sitemaps are not fetched", tries=request.tries + 1)]))
            return False
        if self._schedule(request) is not None:  # out of scope, or already seen
            self.stats["not_fetched"] += 1
            log.debug("sitemap %s not fetched: out of scope or already seen", request.url)
            return False
        self._requested += 1
        return True

    # ---- reading one sitemap ----

    async def read(self, request: Request) -> Outcome:
        """Stream one sitemap and schedule what it lists; a failure is an `errors` row."""
        reading = False
        try:
            async with self._fetcher.stream(request) as body:
                unusable = self._unusable(request, body)
                if unusable is not None:
                    return unusable
                reading = True
                try:
                    await self._parse(request, body)
                except SitemapError as exc:
                    return _read_failed(request, _explained(str(exc), body.content_type))
        except FetchError as exc:
            # Once entries were taken a retry would list them twice: keep what was read.
            if not reading and self._retries.allows(request, kind=exc.kind):
                return outcomes.retry(str(exc))
            return _read_failed(request, f"{exc.kind}: {exc}")
        return Outcome("done")

    def _unusable(self, request: Request, body: BodyStream) -> Outcome | None:
        """The outcome when the answer is not a sitemap to read (retried, missing, an error)."""
        status = body.status
        if self._retries.allows(request, status=status):
            return outcomes.retry(f"HTTP {status}", retry_after(status, body.headers))
        if request.meta.get(_GUESSED) and (400 <= status < 500
                                           or body.content_type == "text/html"):
            self.stats["missing"] += 1  # most sites have no /sitemap.xml: not an error
            log.debug("no sitemap at %s (HTTP %d, %s)", request.url, status, body.content_type)
            return Outcome("done")
        if status >= 400:
            return _read_failed(request, f"HTTP {status}", status)
        return None

    async def _parse(self, request: Request, body: BodyStream) -> None:
        limits = self.config.limits
        level = request.meta.get(_LEVEL, 0)
        parser = SitemapParser(lambda entry: self._take(request, entry),
                               max_entries=limits.max_sitemap_urls,
                               allow_index=level < limits.max_sitemap_depth)
        xml = XmlBody(limits.max_sitemap_decompressed)
        self.stats["fetched"] += 1
        while chunk := await body.read():
            chunk, cut = _within_size(body, chunk, limits.max_sitemap_size)
            for piece in xml.feed(chunk):
                parser.feed(piece)
                await asyncio.sleep(0)  # a big inflated chunk must not hold the loop
            await self._flush()
            if cut:
                raise SitemapError(f"cut at {limits.max_sitemap_size} bytes "
                                   "(limits.max_sitemap_size); the URLs before it were used")
        for piece in xml.close():
            parser.feed(piece)
        parser.close()

    def _take(self, sitemap: Request, entry: Entry) -> None:
        if entry.kind == "url":
            page = Request(entry.loc, referrer=sitemap.url)
            self.stats["urls"] += 1
            self.stats["scheduled"] += self._schedule(page) is None
            # page.url is canonical now (as written if it was not a valid URL).
            self._write(SitemapUrlRecord(page.url, normalize_lastmod(entry.lastmod),
                                         sitemap.url))
        else:
            level = sitemap.meta.get(_LEVEL, 0) + 1
            child = _sitemap_request(entry.loc, sitemap.url, level)
            self.stats["children"] += self._add_sitemap(child)


def _read_failed(request: Request, message: str, status: int | None = None) -> Outcome:
    """Read (or tried), with an errors row: a sitemap is done whether or not it could be read."""
    return Outcome("done", errors=[outcomes.attempts_failure(request, "sitemap", message,
                                                             status=status)])


def _sitemap_request(url: str, referrer: str | None, level: int) -> Request:
    return Request(url, kind=SITEMAP, referrer=referrer, headers=_ACCEPT,
                   meta={_LEVEL: level})


def _resolve(base: str, loc: str) -> str:
    """`loc` (a Sitemap: line, maybe relative) against `base`; as written if it cannot be."""
    try:
        return urls.join(base, loc)
    except urls.Rejected:
        return loc  # the scheduler counts it under its drop reason


def _explained(message: str, content_type: str | None) -> str:
    """`message`, saying what the server called the body when that was not XML or gzip."""
    if content_type and "xml" not in content_type and "gzip" not in content_type:
        return f"{message} (served as {content_type})"
    return message


def _within_size(body: BodyStream, chunk: bytes, limit: int) -> tuple[bytes, bool]:
    """`chunk` cut where the body passes `limit` bytes, and whether it did."""
    over = body.raw_bytes - limit
    if over <= 0:
        return chunk, False
    if not body.encoded:  # cut to the byte
        return chunk[:max(0, len(chunk) - over)], True
    # Decoded from a compressed transfer: the bytes do not map back, and aiohttp
    # inflates in bounded pieces, so this chunk is used whole and the read ends.
    return chunk, True
