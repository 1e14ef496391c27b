"""The records a crawl produces, as they go to its sinks: pages, items, errors, sitemap URLs.

Plain data with no behaviour, so any sink (the SQLite file, a user's own)
can take them. Times are ISO 8601 UTC text, as everywhere in the database.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from crawler.models import Screenshot


def utc_now() -> str:
    """The current time as ISO 8601 UTC text with milliseconds, as stored everywhere."""
    return iso_time(time.time())


def iso_time(epoch: float) -> str:
    """`epoch` as "2026-11-30T21:08:35.123Z" (milliseconds truncated, as datetime's)."""
    second = math.floor(epoch)
    micros = round((epoch - second) * 1_000_000)  # to the microsecond, as datetime does
    if micros == 1_000_000:
        second, micros = second + 1, 0
    return f"{_second_text(second)}{micros // 1000:03d}Z"


@lru_cache(maxsize=8)
def _second_text(second: int) -> str:
    # strftime was 7 us of every page row; a crawl stamps many rows a second.
    return datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S.")


def headers_json(headers: Iterable[tuple[str, str]]) -> str:
    """Headers as a JSON object with lower-case names; repeats joined (set-cookie by newline)."""
    merged: dict[str, str] = {}
    for name, value in headers:
        key = name.lower()
        if key in merged:
            merged[key] += ("\n" if key == "set-cookie" else ", ") + value
        else:
            merged[key] = value
    return json.dumps(merged, ensure_ascii=False)


@dataclass(slots=True)
class PageRecord:
    """One fetched URL as it goes into `pages`; each link is (url|None, href, text).

    `id` is given by the SQLite store when it takes the record (ids are
    assigned there so a page, its links and its items share one batch).
    """

    url: str
    final_url: str
    status: int
    depth: int
    headers: str
    size: int
    fetched_at: str
    content_type: str | None = None
    encoding: str | None = None
    title: str | None = None
    text: str | None = None
    markdown: str | None = None
    referrer: str | None = None
    elapsed_ms: float | None = None
    request_headers: str | None = None
    body: bytes | None = None
    links: Sequence[Sequence[Any]] = ()
    content_hash: str | None = None
    change: str | None = None
    redirects: str | None = None  # JSON [[status, url], ...]
    fetched_by: str = "http"  # or "browser": the body is the DOM after scripts ran
    screenshot: Screenshot | None = None  # of a rendered page, with store.screenshot
    metadata: str | None = None  # JSON object: title, description, author, dates, ...
    simhash: int | None = None  # of the main content's text, as a signed 64-bit integer
    id: int | None = None


@dataclass(slots=True)
class ItemRecord:
    """One extracted item: a typed JSON object, and the page it came from."""

    type: str
    data: Mapping[str, Any]
    url: str | None = None
    page_id: int | None = None
    created_at: str = field(default_factory=utc_now)


@dataclass(slots=True)
class ErrorRecord:
    """One failure: `kind` is the errors.kind value (http, connection, timeout, ...)."""

    url: str
    kind: str
    message: str
    status: int | None = None
    tries: int = 1
    traceback: str | None = None
    depth: int | None = None
    referrer: str | None = None
    at: str = field(default_factory=utc_now)


@dataclass(slots=True)
class SitemapUrlRecord:
    """One URL a sitemap listed, with its `<lastmod>` as ISO 8601 UTC text."""

    url: str
    lastmod: str | None
    sitemap: str


Record = PageRecord | ItemRecord | ErrorRecord | SitemapUrlRecord
