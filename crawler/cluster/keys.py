"""The names of a distributed crawl's keys in Redis, and how requests are written there.

Every key starts with `crawler:{name}:`, so several crawls share one Redis
and `--fresh` deletes exactly one crawl's keys (never FLUSHDB). The seen-set
holds an 8-byte fingerprint per URL, not the URL: ~60 bytes a URL in Redis
instead of ~150 (blake2b, 64 bits: a collision among 10 million URLs has a
chance of about 3 in a million).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from crawler.frontier.codec import RequestCodec
from crawler.models import Request

PREFIX = "crawler:"


@dataclass(frozen=True, slots=True)
class Keys:
    """The keys of one crawl."""

    prefix: str  # "crawler:books:"

    @classmethod
    def of(cls, crawl_name: str) -> Keys:
        return cls(f"{PREFIX}{crawl_name}:")

    @property
    def counts(self) -> str:  # hash: queued, leased, done, failed, dropped, pages
        return self.prefix + "counts"

    @property
    def queued(self) -> str:  # hash: host → requests queued
        return self.prefix + "queued"

    @property
    def nodes(self) -> str:  # hash: node name → JSON of its last report
        return self.prefix + "nodes"

    @property
    def started(self) -> str:  # the crawl's start, Redis time in ms (for max_duration)
        return self.prefix + "started"

    def robots(self, host: str) -> str:
        return f"{self.prefix}robots:{host}"

    def robots_lock(self, host: str) -> str:
        return f"{self.prefix}robots-lock:{host}"

    @property
    def pattern(self) -> str:  # what every key of this crawl matches (SCAN MATCH)
        return self.prefix.replace("[", "\\[").replace("*", "\\*").replace("?", "\\?") + "*"


def raise_if_cancelled(cause: BaseException | None = None) -> None:
    """Go no further if this task was cancelled, even if the cancellation was swallowed.

    Python 3.11's asyncio.wait_for (which redis-py uses for its socket
    timeouts) can swallow a cancellation that arrives as the command finishes;
    a loop that then goes on polling keeps the crawl from ever ending.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from cause


def fingerprint(url: str) -> bytes:
    """The seen-set's member for a canonical URL."""
    return hashlib.blake2b(url.encode(), digest_size=8).digest()


def payload(host: str, request: Request, codec: RequestCodec) -> str:
    """A request as the JSON array the Lua scripts read: [url, host, priority, depth,
    referrer, extra]."""
    return json.dumps([request.url, host, request.priority, request.depth, request.referrer,
                       codec.encode(request)], ensure_ascii=False)


def request_of(lease_id: int, item: bytes | str, codec: RequestCodec) -> Request:
    """The request a leased payload describes; its frontier_id is the lease."""
    url, _host, priority, depth, referrer, extra = _loads(item)
    return codec.decode(url, priority, depth, referrer, extra, lease_id)


def _loads(item: bytes | str) -> list[Any]:
    return json.loads(item)
