"""What is still to fetch, per host, and what has been seen.

The engine talks to a frontier only through the `Frontier` Protocol, so the
durable SQLite frontier (the default, `crawler.frontier.sqlite`) and this
in-memory one are interchangeable, and a shared (Redis) frontier can follow
without touching the engine. Requests are kept per host key: the scheduler
asks for the next request of a host it has decided is ready, which makes
per-host politeness a question about hosts, not about every queued URL.

A request's life: `add` (accepted, deduplicated) → `pop` (leased to a
worker) → `done` (its page is stored) or `failed` (an error was recorded) or
`dropped` (refused at dispatch: robots.txt, a budget). A leased request can
be given back with `requeue` (a retry that became due, a stop). A durable
frontier leases from disk; on resume, leased-but-unfinished requests go
back to the queue (`recover`), and `close` settles a stopped crawl's leases.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from typing import Protocol

from crawler.models import Request


class Frontier(Protocol):
    """The frontier's interface, as the scheduler and engine use it."""

    # Called with a host key when requests of that host became available
    # asynchronously (a durable frontier loaded them from disk).
    on_available: Callable[[str], None] | None

    def seen(self, url: str) -> bool:
        """True when `url` is certainly known already (a cheap check, no side effect).

        False does not promise the URL is new: `add` has the last word.
        """

    def add(self, host: str, request: Request) -> bool:
        """Accept a new request for `host` (a host key); False if it is a duplicate."""

    def pop(self, host: str) -> Request | None:
        """Lease the next request of `host`: highest priority first, then FIFO."""

    def requeue(self, host: str, request: Request) -> None:
        """Give a leased request back, to be popped again."""

    def done(self, request: Request) -> None:
        """The request's page was stored."""

    def failed(self, request: Request) -> None:
        """The request ended in a recorded error."""

    def dropped(self, request: Request) -> None:
        """The request was refused at dispatch (robots.txt, a budget); it is not retried."""

    def pending(self, host: str | None = None) -> int:
        """How many requests wait (for one host, or in all); > 0 while any may."""

    def size(self) -> int:
        """How many requests wait, for progress reports (an estimate is fine)."""

    async def recover(self) -> int:
        """A resumed crawl: put requests leased by a run that died back in line."""

    async def close(self) -> None:
        """The crawl is over: settle what is still leased so a later run finds it."""

    @property
    def duplicates(self) -> int:
        """Requests found to be duplicates after `add` accepted them (counted late)."""


class MemoryFrontier:
    """An in-memory frontier: a set of seen URLs and a heap per host. Nothing survives the process.

    Faster than the SQLite frontier and unbounded in memory; for tests, short
    crawls and benchmarks (`frontier: memory`).
    """

    def __init__(self) -> None:
        self.on_available: Callable[[str], None] | None = None
        self._seen: set[str] = set()
        self._queues: dict[str, list[tuple[int, int, Request]]] = {}
        self._order = itertools.count()
        self._pending = 0

    @property
    def duplicates(self) -> int:
        return 0  # every duplicate is caught by seen()/add() at once

    def seen(self, url: str) -> bool:
        return url in self._seen

    def add(self, host: str, request: Request) -> bool:
        if not request.dont_filter:
            if request.url in self._seen:
                return False
            self._seen.add(request.url)
        self.requeue(host, request)
        return True

    def requeue(self, host: str, request: Request) -> None:
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

    def done(self, request: Request) -> None:
        pass

    def failed(self, request: Request) -> None:
        pass

    def dropped(self, request: Request) -> None:
        pass

    def pending(self, host: str | None = None) -> int:
        if host is None:
            return self._pending
        return len(self._queues.get(host, ()))

    def size(self) -> int:
        return self._pending

    async def recover(self) -> int:
        return 0  # nothing outlives the process

    async def close(self) -> None:
        pass

