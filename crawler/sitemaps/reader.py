"""Sitemaps: find them, stream them, and schedule the URLs they list.

With `sitemaps: true` each start host's sitemaps seed the frontier: the
`Sitemap:` lines of its robots.txt, else `/sitemap.xml` (only that when
`politeness.robots_txt` is `ignore`, since robots.txt is then never read).
A sitemap fetch is a `Request` with `kind="sitemap"`, so it waits for its
host's robots.txt, delay and concurrency like any page; the worker hands it
to `Sitemaps.read` instead of the page path, and no `pages` row is written.

The body is never held whole: chunks go through a gunzip (when the body
starts with the gzip magic bytes, whatever the headers say; aiohttp has
already undone any Content-Encoding) and into an expat parser that keeps
nothing but the `<loc>` and `<lastmod>` of the entry being read. Each entry
is scheduled as soon as it closes, so when a cap or a syntax error stops the
read, everything before it is used. `<url>` entries become page requests at
depth 0 (scope, dedupe, traps and robots.txt apply as to links) and rows in
`sitemap_urls`; `<sitemap>` entries of an index become sitemap requests one
level deeper, deduplicated like every URL, so an index listing itself ends.
"""

from __future__ import annotations

import asyncio
import logging
import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import NamedTuple
from xml.parsers import expat

from crawler import urls
from crawler.config import CrawlConfig
from crawler.errors import FetchError, SitemapError
from crawler.fetch.http import BodyStream, Fetcher
from crawler.models import SITEMAP, Request
from crawler.politeness.retries import RETRY_AFTER_STATUSES, RETRYABLE_KINDS, parse_retry_after
from crawler.politeness.robots import RobotsRules
from crawler.store.sqlite import Store, iso_time

log = logging.getLogger(__name__)

__all__ = ["SITEMAP", "Entry", "SitemapParser", "Sitemaps", "XmlBody", "normalize_lastmod"]

_ACCEPT = {"Accept": "application/xml, text/xml;q=0.9, */*;q=0.5"}
_LEVEL = "sitemap_level"  # meta: 0 for a discovered sitemap, +1 per index above it
_GUESSED = "sitemap_guessed"  # meta: /sitemap.xml tried because robots.txt named none

GZIP_MAGIC = b"\x1f\x8b"
_PIECE = 64 * 1024  # bytes of XML inflated at a time, so a gzip bomb never expands at once
MAX_TEXT = 8192  # characters kept of one <loc> or <lastmod>; more is junk, never a URL

# The engine's side: record an errors row (request, message, HTTP status), and
# ask for another attempt (request, reason, Retry-After), False when tries are used up.
ErrorSink = Callable[[Request, str, int | None], None]
RetrySink = Callable[[Request, str, float | None], bool]


class Entry(NamedTuple):
    """One `<url>` or `<sitemap>` entry: `kind` is "url" or "sitemap"."""

    kind: str
    loc: str
    lastmod: str | None


class Sitemaps:
    """Discovers the start hosts' sitemaps and reads them as their requests come up."""

    def __init__(self, config: CrawlConfig, stats: Counter[str], *,
                 schedule: Callable[[Request], bool], error: ErrorSink,
                 retry: RetrySink) -> None:
        self.config = config
        self.stats = stats  # fetched, urls, scheduled, children, missing, not_fetched
        self._schedule = schedule
        self._error = error
        self._retry = retry
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
                self._error(request, f"limits.max_sitemaps ({limit}) reached: this and "
                                     "further sitemaps are not fetched", None)
            return False
        if not self._schedule(request):  # out of scope, or already seen
            self.stats["not_fetched"] += 1
            log.debug("sitemap %s not fetched: out of scope or already seen", request.url)
            return False
        self._requested += 1
        return True

    # ---- reading one sitemap ----

    async def read(self, request: Request, fetcher: Fetcher, store: Store) -> None:
        """Stream one sitemap and schedule what it lists; a failure is an `errors` row."""
        reading = False
        try:
            async with fetcher.stream(request) as body:
                if not self._usable(request, body):
                    return
                reading = True
                try:
                    await self._parse(request, body, store)
                except SitemapError as exc:
                    self._error(request, _explained(str(exc), body.content_type), None)
        except FetchError as exc:
            # Once entries were taken a retry would list them twice: keep what was read.
            if not reading and exc.kind in RETRYABLE_KINDS and self._retry(
                    request, str(exc), None):
                return
            self._error(request, f"{exc.kind}: {exc}", None)

    def _usable(self, request: Request, body: BodyStream) -> bool:
        """False when the answer is not a sitemap to read (retried, missing or an error)."""
        status = body.status
        if status in self.config.fetch.retry_statuses and self._retry(
                request, f"HTTP {status}", _retry_after(body)):
            return False
        if request.meta.get(_GUESSED) and (400 <= status < 500
                                           or body.content_type == "text/html"):
            self.stats["missing"] += 1  # most sites have no /sitemap.xml: not an error
            log.debug("no sitemap at %s (HTTP %d, %s)", request.url, status, body.content_type)
            return False
        if status >= 400:
            self._error(request, f"HTTP {status}", status)
            return False
        return True

    async def _parse(self, request: Request, body: BodyStream, store: Store) -> None:
        limits = self.config.limits
        level = request.meta.get(_LEVEL, 0)
        parser = SitemapParser(lambda entry: self._take(request, entry, store),
                               max_entries=limits.max_sitemap_urls,
                               allow_index=level < limits.max_sitemap_depth)
        xml = XmlBody(limits.max_sitemap_decompressed)
        self.stats["fetched"] += 1
        while chunk := await body.read():
            chunk, cut = _within_size(body, chunk, limits.max_sitemap_size)
            for piece in xml.feed(chunk):
                parser.feed(piece)
                await asyncio.sleep(0)  # a big inflated chunk must not hold the loop
            await store.maybe_flush()
            if cut:
                raise SitemapError(f"cut at {limits.max_sitemap_size} bytes "
                                   "(limits.max_sitemap_size); the URLs before it were used")
        for piece in xml.close():
            parser.feed(piece)
        parser.close()

    def _take(self, sitemap: Request, entry: Entry, store: Store) -> None:
        if entry.kind == "url":
            page = Request(entry.loc, referrer=sitemap.url)
            self.stats["urls"] += 1
            self.stats["scheduled"] += self._schedule(page)
            # page.url is canonical now (as written if it was not a valid URL).
            store.add_sitemap_url(page.url, normalize_lastmod(entry.lastmod), sitemap.url)
        else:
            level = sitemap.meta.get(_LEVEL, 0) + 1
            child = _sitemap_request(entry.loc, sitemap.url, level)
            self.stats["children"] += self._add_sitemap(child)


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


def _retry_after(body: BodyStream) -> float | None:
    if body.status not in RETRY_AFTER_STATUSES:
        return None
    return parse_retry_after(body.headers.get("Retry-After"))


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


# --------------------------------------------------------------------------- the body

class XmlBody:
    """Raw sitemap bytes in, XML bytes out: inflated when the body is gzip, capped in size.

    A body is gzip when it starts with the magic bytes 1f 8b: .xml.gz files are
    often served as application/gzip or application/x-gzip without
    Content-Encoding. Concatenated gzip members are read in turn; bytes after
    the last member that are not another member are ignored, as gzip(1) does.
    """

    def __init__(self, max_xml: int) -> None:
        self.max_xml = max_xml
        self.size = 0  # XML bytes handed out
        self._head = b""  # the first bytes, until there are enough to sniff
        self._sniffed = False
        self._gunzip: zlib._Decompress | None = None
        self._trailing = False  # past the last gzip member: the rest is ignored

    def feed(self, data: bytes) -> Iterator[bytes]:
        """The XML bytes in `data`; raises SitemapError past the cap or on bad gzip."""
        if not self._sniffed:
            self._head += data
            if len(self._head) < len(GZIP_MAGIC):
                return
            data, self._head, self._sniffed = self._head, b"", True
            if data.startswith(GZIP_MAGIC):
                self._gunzip = _gunzip()
        yield from self._capped(self._inflate(data) if self._gunzip else (data,))

    def close(self) -> Iterator[bytes]:
        """What is left at the end of the body; raises SitemapError if the gzip was cut short."""
        if not self._sniffed:
            self._sniffed = True
            yield from self._capped((self._head,) if self._head else ())
        if self._gunzip is not None and not self._trailing:
            yield from self._capped((self._gunzip.flush(),))
            if not self._gunzip.eof:
                raise SitemapError("truncated gzip data")

    def _inflate(self, data: bytes) -> Iterator[bytes]:
        while data and not self._trailing:
            assert self._gunzip is not None
            if self._gunzip.eof:  # another member follows, or trailing garbage
                if not data.startswith(GZIP_MAGIC[:1]):
                    self._trailing = True
                    return
                self._gunzip = _gunzip()
            gunzip = self._gunzip
            try:
                out = gunzip.decompress(data, _PIECE)
            except zlib.error as exc:
                raise SitemapError(f"bad gzip data: {exc}") from None
            data = gunzip.unused_data if gunzip.eof else gunzip.unconsumed_tail
            if out:
                yield out

    def _capped(self, pieces: Iterable[bytes]) -> Iterator[bytes]:
        for piece in pieces:
            room = self.max_xml - self.size
            if len(piece) > room:
                self.size += room
                if room:
                    yield piece[:room]
                raise SitemapError(
                    f"more than {self.max_xml} bytes of XML (limits.max_sitemap_decompressed); "
                    "cut there, the URLs before it were used")
            self.size += len(piece)
            if piece:
                yield piece


def _gunzip() -> zlib._Decompress:
    return zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip header and trailer, not zlib's


# --------------------------------------------------------------------------- the XML

_ENTRY_OF_ROOT = {"urlset": "url", "sitemapindex": "sitemap"}
_FIELDS = ("loc", "lastmod")


class SitemapParser:
    """An incremental sitemap parser (expat) that calls `on_entry` as each entry closes.

    Only the root, the entry being read and its `<loc>`/`<lastmod>` text are
    kept, so memory stays flat however long the file. Names are matched on
    the root's namespace (sitemaps.org 0.9, another, or none), so extension
    elements such as `<image:loc>` are not taken for the entry's `<loc>`. A
    DTD that declares entities is refused: a sitemap never needs one, and it
    is how "billion laughs" documents expand (expat >= 2.4 also limits that).
    """

    def __init__(self, on_entry: Callable[[Entry], None], *, max_entries: int,
                 allow_index: bool = True) -> None:
        self.on_entry = on_entry
        self.max_entries = max_entries
        self.allow_index = allow_index
        self.root: str | None = None  # "urlset" or "sitemapindex" once seen
        self.entries = 0
        self._expat = expat.ParserCreate(namespace_separator=" ")
        self._expat.buffer_text = True
        self._expat.StartElementHandler = self._start
        self._expat.EndElementHandler = self._end
        self._expat.CharacterDataHandler = self._chars
        self._expat.EntityDeclHandler = self._entity
        self._depth = 0
        self._ns = ""  # the root's namespace
        self._entry: str | None = None  # the entry element's full name
        self._in_entry = False
        self._field: str | None = None  # "loc" or "lastmod" while inside one
        self._text: list[str] = []
        self._text_size = 0
        self._values: dict[str, str] = {}

    def feed(self, data: bytes) -> None:
        """Parse more of the document; raises SitemapError (entries before it were handed out)."""
        self._parse(data, final=False)

    def close(self) -> None:
        """The document ended: raises SitemapError if it was incomplete."""
        self._parse(b"", final=True)

    def _parse(self, data: bytes, *, final: bool) -> None:
        try:
            self._expat.Parse(data, final)
        except expat.ExpatError as exc:
            raise SitemapError(f"malformed XML: {exc}") from None

    def _start(self, name: str, _attrs: dict[str, str]) -> None:
        self._depth += 1
        ns, _, local = name.rpartition(" ")
        if self._depth == 1:
            self._open_root(ns, local)
        elif self._depth == 2 and name == self._entry:
            self._in_entry, self._values = True, {}
        elif self._depth == 3 and self._in_entry and ns == self._ns and local in _FIELDS:
            self._field, self._text, self._text_size = local, [], 0

    def _open_root(self, ns: str, local: str) -> None:
        if local not in _ENTRY_OF_ROOT:
            raise SitemapError(f"not a sitemap: the root element is <{local}>, "
                               "expected <urlset> or <sitemapindex>")
        if local == "sitemapindex" and not self.allow_index:
            raise SitemapError("a sitemap index nested deeper than limits.max_sitemap_depth; "
                               "its sitemaps are not followed")
        self.root, self._ns = local, ns
        entry = _ENTRY_OF_ROOT[local]
        self._entry = f"{ns} {entry}" if ns else entry

    def _end(self, _name: str) -> None:
        if self._depth == 3 and self._field is not None:
            self._values[self._field] = "".join(self._text).strip()
            self._field = None
        elif self._depth == 2 and self._in_entry:
            self._in_entry = False
            if loc := self._values.get("loc"):
                self._emit(Entry(_ENTRY_OF_ROOT[self.root or "urlset"], loc,
                                 self._values.get("lastmod") or None))
        self._depth -= 1

    def _emit(self, entry: Entry) -> None:
        self.entries += 1
        if self.entries > self.max_entries:
            raise SitemapError(f"more than {self.max_entries} entries "
                               "(limits.max_sitemap_urls); the rest were not read")
        self.on_entry(entry)

    def _chars(self, data: str) -> None:
        if self._field is not None and self._text_size < MAX_TEXT:
            self._text.append(data)
            self._text_size += len(data)

    def _entity(self, name: str, *_args: object) -> None:
        raise SitemapError(f"the document declares an entity ({name}); sitemaps need none")


# --------------------------------------------------------------------------- <lastmod>

_PARTIAL_DATE = re.compile(r"\d{4}(-\d{2}){0,2}")


def normalize_lastmod(text: str | None) -> str | None:
    """`<lastmod>` as ISO 8601 UTC text like every time in the database.

    W3C Datetime allows YYYY, YYYY-MM, YYYY-MM-DD (kept as they are: a date
    has no time zone to convert) and a time with a zone (converted to UTC,
    `2024-05-01T08:00:00.000Z`); a time without a zone is read as UTC.
    Anything else is kept as written, so nothing the sitemap said is lost.
    """
    if not text:
        return None
    if _PARTIAL_DATE.fullmatch(text):
        return text
    try:
        stamp = datetime.fromisoformat(text)
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        return iso_time(stamp.timestamp())
    except (ValueError, OverflowError, OSError):
        return text
