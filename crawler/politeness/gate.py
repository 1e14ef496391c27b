"""The host gate: may this request start now, as far as every process of the crawl knows?

One process's host slots (`slots.py`) already hold its own requests to a
host apart; when several processes share a crawl, the same limits must hold
for all of them together. A worker asks the gate as it is about to start a
request: go, wait (the request goes back to its host's window and the host
cools for that long; no worker sleeps), or never (a cluster-wide budget is
spent). The gate of a single process always says go.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from crawler.models import Request
from crawler.politeness.slots import HostSlot


@dataclass(frozen=True, slots=True)
class Entry:
    """The gate's answer: go (both None), wait `wait` seconds, or refused for `refused`."""

    wait: float | None = None
    refused: str | None = None  # the dropped-counter reason: host_budget, pattern_budget


GO = Entry()


class HostGate(Protocol):
    """Cluster-wide politeness, asked at the start of each request."""

    counts_budgets: bool  # True: it keeps the host and URL-pattern budgets itself

    async def enter(self, request: Request, host: str, slot: HostSlot) -> Entry:
        """May `request` to `host` start now (with this slot's concurrency and delay)?"""

    async def leave(self, request: Request, host: str, *, started: float | None = None,
                    stored: bool = False) -> None:
        """The request that entered has finished.

        `started`: when it started (`time.monotonic()`; None: it never did),
        from which the host's delay counts: when the fetcher sent it, or when
        its fetch began if the fetcher cannot tell; `stored`: it stored a page
        (towards `limits.max_pages`).
        """

    def cool(self, host: str, seconds: float) -> None:
        """Keep every request to `host` from starting for `seconds` (a Retry-After)."""


class LocalGate:
    """The gate of a crawl run by one process: the host slots are the whole story."""

    counts_budgets = False

    async def enter(self, request: Request, host: str, slot: HostSlot) -> Entry:
        return GO

    async def leave(self, request: Request, host: str, *, started: float | None = None,
                    stored: bool = False) -> None:
        pass

    def cool(self, host: str, seconds: float) -> None:
        pass
