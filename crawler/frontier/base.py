"""The frontier seam: where requests wait, and the set of URLs already seen.

A `Frontier` is asynchronous and works in batches, so it can live on disk
(`SqliteFrontier`, the default: the crawl's own file), in memory
(`MemoryFrontier`), or in another process shared by several crawling
processes (a Redis frontier). The engine never talks to it request by
request: `crawler.frontier.windows.Windows` keeps per-host windows of leased
requests in memory, buffers what workers add and settle, and hands those
over in batches with each write of the store.

A request's life in a frontier:

    add ──► queued ──lease──► leased ──settle──► done | failed | dropped
                                  └──close / recover──► queued

- `add` deduplicates on the canonical URL (unless `dont_filter`): a URL
  is queued once per crawl, however often it is added, by however many
  processes.
- `lease` hands out a host's queued requests, highest priority first, then
  oldest; a leased request belongs to one process until it settles it.
- `recover` puts back leases whose holder is gone (a crashed run; for a
  shared frontier, a node whose leases expired).
- `close` gives back this process's leases at the end of a run.

Exactly once: a frontier with `shares_store = True` writes through the
store's own connection, so the engine adds and settles inside the
transaction that stores the pages they belong to (a page, the URLs its links
produced and its own `done` mark commit or vanish together). Any other
frontier is written right after that transaction commits: a crash in
between re-fetches a page that was stored, never loses one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal, Protocol

from crawler.models import Request

State = Literal["done", "failed", "dropped"]


class Frontier(Protocol):
    """Per-host queues of requests with leases, and the seen-set."""

    # True: add/settle write through the store's connection (see the module docstring).
    shares_store: bool

    async def add(self, entries: Sequence[tuple[str, Request]]) -> int:
        """Queue each (host key, request) whose URL is new; returns how many were."""

    async def lease(self, host: str, limit: int) -> list[Request]:
        """Up to `limit` queued requests of `host`, now leased to this process."""

    async def settle(self, settled: Sequence[tuple[Request, State]]) -> None:
        """Record what became of leased requests."""

    async def hosts(self) -> Mapping[str, int]:
        """Hosts with queued requests, and how many each has."""

    async def recover(self) -> int:
        """Put leases whose holder is gone back in the queue; returns how many."""

    async def close(self) -> None:
        """This process is done: its leases go back to the queue."""
