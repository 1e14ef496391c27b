"""What is still to fetch, per host, and what has been seen.

The engine talks to a frontier only through the `Frontier` Protocol, so a
durable (SQLite) or shared (Redis) frontier can stand in without touching it.
`MemoryFrontier` keeps one priority queue per host key: the scheduler asks for
the next request of a host it has decided is ready, which makes per-host
politeness a question about hosts, not about every queued URL.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from typing import Protocol

from crawler.models import Request


class Frontier(Protocol):
    def seen(self, url: str) -> bool:
        """Mark `url` as seen; True when it had been seen before."""

    def add(self, host: str, request: Request) -> None:
        """Queue an accepted request for `host` (a host key)."""

    def pop(self, host: str) -> Request | None:
        """The next request for `host`, highest priority first, then FIFO."""

    def pending(self, host: str | None = None) -> int:
        """How many requests wait (for one host, or in all)."""

    def hosts(self) -> Iterable[str]:
        """Host keys that have requests waiting."""


class MemoryFrontier:
    """An in-memory frontier: a set of seen URLs and a heap per host."""

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._queues: dict[str, list[tuple[int, int, Request]]] = {}
        self._order = itertools.count()
        self._pending = 0

    def seen(self, url: str) -> bool:
        if url in self._seen:
            return True
        self._seen.add(url)
        return False

    def add(self, host: str, request: Request) -> None:
        queue = self._queues.setdefault(host, [])
        heapq.heappush(queue, (-request.priority, next(self._order), request))
        self._pending += 1

    def pop(self, host: str) -> Request | None:
        queue = self._queues.get(host)
        if not queue:
            return None
        request = heapq.heappop(queue)[2]
        if not queue:
            del self._queues[host]  # hosts come and go; keep the dict small
        self._pending -= 1
        return request

    def pending(self, host: str | None = None) -> int:
        if host is None:
            return self._pending
        return len(self._queues.get(host, ()))

    def hosts(self) -> Iterable[str]:
        return list(self._queues)
