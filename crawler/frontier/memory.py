"""The in-memory frontier: a set of seen URLs and a priority queue per host.

Nothing survives the process, and memory grows with the URLs found
(~490 bytes per pending URL measured); for tests, short crawls and
benchmarks (`frontier: memory`).
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping, Sequence

from crawler.frontier.base import State
from crawler.models import Request


class MemoryFrontier:
    """A `Frontier` held in this process."""

    shares_store = False

    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._queues: dict[str, list[tuple[int, int, Request]]] = {}
        self._order = itertools.count()

    async def add(self, entries: Sequence[tuple[str, Request]]) -> int:
        new = 0
        for host, request in entries:
            if not request.dont_filter:
                if request.url in self._seen:
                    continue
                self._seen.add(request.url)
            self._push(host, request)
            new += 1
        return new

    async def lease(self, host: str, limit: int) -> list[Request]:
        queue = self._queues.get(host)
        if not queue:
            return []
        leased = [heapq.heappop(queue)[2] for _ in range(min(limit, len(queue)))]
        if not queue:
            del self._queues[host]  # hosts come and go; keep the dict small
        return leased

    async def settle(self, settled: Sequence[tuple[Request, State]]) -> None:
        pass  # leases are only in the engine's windows: nothing to record

    async def hosts(self) -> Mapping[str, int]:
        return {host: len(queue) for host, queue in self._queues.items()}

    async def recover(self) -> int:
        return 0  # nothing outlives the process

    async def close(self) -> None:
        pass

    def _push(self, host: str, request: Request) -> None:
        queue = self._queues.setdefault(host, [])
        heapq.heappush(queue, (-request.priority, next(self._order), request))
