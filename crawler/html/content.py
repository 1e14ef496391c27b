"""What a response holds: HTML or not, its body worth reading or not, and its charset.

A leaf module (models.py imports it), so it imports nothing of the crawler's.

Only HTML is parsed for links. What counts as HTML: `text/html`,
`application/xhtml+xml`, and a response without a Content-Type whose first
bytes look like HTML (the WHATWG MIME sniffing patterns). Everything else is
kept per `store.non_html`: `metadata` (the default: a page row with status,
headers and type, the body never read), `body` (kept, not parsed) or `skip`
(no row at all, counted).

The charset is, in order: a byte-order mark, the Content-Type header's,
`<meta charset>` (or its http-equiv form); else UTF-8 when the bytes are
valid UTF-8; else what charset-normalizer detects (slow, so only on that
last path, and on the first 64 KiB). Labels follow the WHATWG Encoding
standard where Python differs: iso-8859-1 and us-ascii mean windows-1252, a
`<meta>` claiming UTF-16 means UTF-8, and labels of codecs that are no web
encoding (base64, idna, utf-7, ...) are ignored. Decoding always replaces bad
bytes, so no body can raise.
"""

from __future__ import annotations

import codecs
import re
from functools import lru_cache
from typing import Literal

NonHtml = Literal["metadata", "body", "skip"]

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})

# WHATWG MIME Sniffing §7.1, the HTML patterns: a tag that only HTML starts
# with, after optional whitespace, followed by a space or ">".
_LOOKS_LIKE_HTML = re.compile(
    rb"[\t\n\x0c\r ]*<(?:!doctype html|html|head|script|iframe|h1|div|font|table|a|style|"
    rb"title|b|body|br|p|!--)[ >]", re.I)
_SNIFF_BYTES = 1445  # the "resource header" the standard sniffs


def is_html(content_type: str | None, body: bytes) -> bool:
    """HTML by its media type, or (without one) by its first bytes."""
    if content_type is None:
        return sniff_html(body)
    return content_type in HTML_TYPES


def sniff_html(body: bytes) -> bool:
    """Whether an untyped body starts like an HTML document."""
    head = body[:_SNIFF_BYTES].removeprefix(codecs.BOM_UTF8)
    return _LOOKS_LIKE_HTML.match(head) is not None


def body_wanted(content_type: str | None, non_html: NonHtml) -> bool:
    """Whether to read a body, from its Content-Type alone.

    Not for a typed non-HTML response unless bodies are kept: the connection
    is closed instead, so a large PDF or video costs its headers only. An
    untyped body must be read to be sniffed.
    """
    return non_html == "body" or content_type is None or content_type in HTML_TYPES


def stored_body(body: bytes, *, html: bool, keep: bool, non_html: NonHtml) -> bytes | None:
    """The body for `pages.body`: HTML when bodies are kept, other types only with `body`."""
    if not keep or not (non_html == "body" or html):
        return None
    return body


# -- charsets -------------------------------------------------------------------------

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_\-:.]+)""", re.I)
_META_BYTES = 4096  # the standard prescans 1024; real pages put <meta> later than that
_DETECT_BYTES = 64 * 1024  # charset-normalizer's time grows with its input
# Python codecs that decode text but are no web encoding (utf-7 is an XSS vector).
_NOT_WEB = frozenset({"utf-7", "unicode-escape", "raw-unicode-escape", "charmap",
                      "punycode", "idna", "undefined"})
# WHATWG Encoding: these labels name windows-1252, which differs in 0x80-0x9F.
_WINDOWS_1252 = frozenset({"iso8859-1", "ascii"})
_PROBE = b"<\xff\xfe\x80\x00>"


def charset_of(declared: str | None, body: bytes) -> str:
    """The charset to decode `body` with; `declared` is the Content-Type header's."""
    bom = _bom_charset(body)
    if bom is not None:  # the bytes say what they are; browsers let it beat the header
        return bom
    for label, from_meta in ((declared, False), (_meta_charset(body), True)):
        name = usable_charset(label) if label else None
        if name is not None:
            return "utf-8" if from_meta and name.startswith("utf-16") else name
    return detect_charset(body)


def detect_charset(body: bytes) -> str:
    """UTF-8 when the bytes are valid UTF-8, else charset-normalizer's best guess."""
    if body.isascii():
        return "utf-8"
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return "utf-8"
    from charset_normalizer import from_bytes  # imported only when it is needed

    best = from_bytes(body[:_DETECT_BYTES]).best()
    name = usable_charset(best.encoding) if best is not None else None
    return name or "utf-8"


@lru_cache(maxsize=256)
def usable_charset(label: str) -> str | None:
    """The codec to use for a charset label, or None when there is none we should use."""
    try:
        name = codecs.lookup(label.strip().strip("\"'")).name
    except (LookupError, ValueError):
        return None
    if name in _NOT_WEB:
        return None
    if name in _WINDOWS_1252:
        return "windows-1252"
    try:
        _PROBE.decode(name, errors="replace")  # base64, rot13, ...: not text codecs
    except (LookupError, UnicodeError, ValueError):
        return None
    return label.strip().strip("\"'").lower()


def decode(body: bytes, charset: str) -> str:
    """`body` as text; bad bytes become U+FFFD, and a failing codec falls back to UTF-8."""
    try:
        return body.decode(charset, errors="replace")
    except (LookupError, UnicodeError, ValueError):
        return body.decode("utf-8", errors="replace")


def _bom_charset(body: bytes) -> str | None:
    if body.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if body.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return None


def _meta_charset(body: bytes) -> str | None:
    match = _META_CHARSET.search(body, 0, _META_BYTES)
    return match.group(1).decode("ascii") if match else None
