"""What a response holds: HTML or not, and whether its body is worth reading at all.

A leaf module (models.py imports it), so it imports nothing of the crawler's.

Only HTML is parsed for links. What counts as HTML: `text/html`,
`application/xhtml+xml`, and a response without a Content-Type whose first
bytes look like HTML (the WHATWG MIME sniffing patterns). Everything else is
kept per `store.non_html`: `metadata` (the default: a page row with status,
headers and type, the body never read), `body` (kept, not parsed) or `skip`
(no row at all, counted).
"""

from __future__ import annotations

import codecs
import re
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from crawler.models import Response

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


def stored_body(response: Response, *, keep: bool, non_html: NonHtml) -> bytes | None:
    """The body for `pages.body`: HTML when bodies are kept, other types only with `body`."""
    if not keep or not (non_html == "body" or response.is_html):
        return None
    return response.body
