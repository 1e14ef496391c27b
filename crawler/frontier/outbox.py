"""Batches on their way to a frontier that does not share the store (Redis).

Each batch is handed over after the pages it belongs to were committed to
the process's own file, in order, adds before settles: so the cluster never
counts a page's request as ended while the URLs its links produced are not
yet queued, and never sees those URLs twice as new. When the frontier cannot
be reached the batches wait here and are tried again with back-off (dispatch
pauses meanwhile, since the hosts stay "being written"); nothing discovered
and nothing settled is dropped while the process lives.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from crawler.frontier.base import Frontier

log = logging.getLogger(__name__)

FIRST_BACKOFF = 0.5
MAX_BACKOFF = 10.0


class Handed(Protocol):
    """What a batch must have for the outbox (frontier.windows._Batch)."""

    new: list[Any]
    settled: list[Any]
    added: int
    added_done: bool


class Outbox:
    """Delivers batches to `frontier` in order, retrying while it is unreachable."""

    def __init__(self, frontier: Frontier, delivered: Callable[[Any], None]) -> None:
        self._frontier = frontier
        self._delivered = delivered  # called with each batch once it is handed over
        self._queue: deque[Handed] = deque()
        self._lock = asyncio.Lock()
        self._retrying: asyncio.Task[None] | None = None
        self._failing_since: float | None = None

    def __len__(self) -> int:
        return len(self._queue)

    async def send(self, batch: Handed) -> None:
        """Queue `batch` and try to hand over everything queued (never raises)."""
        self._queue.append(batch)
        if not await self._drain() and self._retrying is None:
            self._retrying = asyncio.create_task(self._retry(), name="frontier outbox")

    async def close(self, within: float) -> int:
        """Try for `within` seconds to hand over what is left; how many batches were not."""
        deadline = time.monotonic() + within
        while self._queue and time.monotonic() < deadline:
            if not await self._drain():
                await asyncio.sleep(min(FIRST_BACKOFF, max(0.0, deadline - time.monotonic())))
        if self._retrying is not None:
            self._retrying.cancel()
        return len(self._queue)

    async def _drain(self) -> bool:
        """Hand over queued batches in order; False when the frontier failed."""
        async with self._lock:
            while self._queue:
                batch = self._queue[0]
                try:
                    await self._hand_over(batch)
                except Exception as exc:  # unreachable for now: keep it, in order
                    self._failed(exc)
                    return False
                self._queue.popleft()
                self._delivered(batch)
            if self._failing_since is not None:
                log.warning("the frontier is reachable again after %.0fs",
                            time.monotonic() - self._failing_since)
                self._failing_since = None
            return True

    async def _hand_over(self, batch: Handed) -> None:
        if batch.new and not batch.added_done:  # adds first: see the module docstring
            batch.added = await self._frontier.add(batch.new)
            batch.added_done = True
        if batch.settled:
            await self._frontier.settle(batch.settled)

    async def _retry(self) -> None:
        backoff = FIRST_BACKOFF
        try:
            while self._queue:
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF, backoff * 2)
                await self._drain()
        finally:
            self._retrying = None

    def _failed(self, exc: Exception) -> None:
        if self._failing_since is None:
            self._failing_since = time.monotonic()
            log.warning("cannot hand %d batch(es) to the frontier (%s: %s); keeping them and "
                        "trying again", len(self._queue), type(exc).__name__, exc)
