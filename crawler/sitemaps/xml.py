"""Reading sitemap files: gunzip when needed, cap the size, parse incrementally.

Nothing here holds a sitemap whole: chunks go through a gunzip (when the
body starts with the gzip magic bytes, whatever the headers say) and into an
expat parser that keeps nothing but the `<loc>` and `<lastmod>` of the entry
being read, calling back as each entry closes. So when a cap or a syntax
error stops the read, everything before it was used.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import NamedTuple
from xml.parsers import expat

from crawler.errors import SitemapError
from crawler.store.records import iso_time

GZIP_MAGIC = b"\x1f\x8b"
_PIECE = 64 * 1024  # bytes of XML inflated at a time, so a gzip bomb never expands at once
MAX_TEXT = 8192  # characters kept of one <loc> or <lastmod>; more is junk, never a URL


class Entry(NamedTuple):
    """One `<url>` or `<sitemap>` entry: `kind` is "url" or "sitemap"."""

    kind: str
    loc: str
    lastmod: str | None


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
