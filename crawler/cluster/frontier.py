"""RedisFrontier: the `Frontier` seam shared by every process of a distributed crawl.

A process leases a host's requests with a deadline and keeps renewing it
while alive (`RENEW` every third of the lease time); when it dies its leases
run out and any other process's `recover()` puts them back in line. Settling
a lease that already ran out does nothing (another process has it now), so
a page is at worst fetched twice, never lost; `crawler merge` keeps one row
per URL. `shares_store` is False: the engine hands each batch over right
after the process's own SQLite file committed the pages it belongs to, adds
before settles, so the cluster never looks empty while a page's links are
on their way.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from redis.asyncio import Redis

from crawler.cluster import lua
from crawler.cluster.keys import Keys, fingerprint, payload, raise_if_cancelled, request_of
from crawler.config import CrawlConfig
from crawler.frontier.base import State
from crawler.frontier.codec import RequestCodec
from crawler.models import Request

log = logging.getLogger(__name__)

BATCH = 500  # requests per script call: a script blocks Redis while it runs
RECOVER_MOST = 1000


def lease_window(config: CrawlConfig) -> int:
    """Requests one process leases per host at once: twice the most the host may have in flight.

    A host's concurrency is the whole cluster's, so a process holding more of
    its requests than it can start soon only keeps them from the others (on a
    small or young crawl, one process would take every URL a page revealed).
    Twice is enough to keep the host busy while the window refills at half.
    """
    politeness = config.politeness
    busiest = max([politeness.per_host_concurrency,
                   *(rule.concurrency for rule in politeness.hosts if rule.concurrency)])
    return max(4, min(1024, 2 * min(busiest, config.fetch.concurrency)))


class RedisFrontier:
    """A `Frontier` in Redis, for several processes at once."""

    shares_store = False

    def __init__(self, client: Redis, keys: Keys, codec: RequestCodec, *,
                 lease_ttl: float, window: int = 8) -> None:
        self.keys = keys
        self.window_max = window  # requests this process leases per host at once
        self._redis = client
        self._codec = codec
        self._ttl_ms = max(1000, int(lease_ttl * 1000))
        self._held: set[int] = set()  # lease ids this process holds
        self._name = uuid.uuid4().hex[:12]  # this process, in its ask tokens
        self._asks = itertools.count()
        self._unanswered: dict[str, str] = {}  # host → token of its lease call that failed
        self._scripts = {name: client.register_script(getattr(lua, name))
                         for name in ("ADD", "LEASE", "SETTLE", "RECOVER", "UNLEASE", "RENEW")}
        self._renewing: asyncio.Task[None] | None = None

    async def add(self, entries: Sequence[tuple[str, Request]]) -> int:
        new = 0
        for start in range(0, len(entries), BATCH):
            args: list[Any] = [self.keys.prefix]
            for host, request in entries[start:start + BATCH]:
                args += [fingerprint(request.url), host, request.priority,
                         payload(host, request, self._codec), 0 if request.dont_filter else 1]
            new += int(await self._scripts["ADD"](args=args))
        return new

    async def lease(self, host: str, limit: int) -> list[Request]:
        # A failed call may have leased and lost only its answer: the next call for
        # the host repeats its token, and LEASE answers it again (see lua.LEASE).
        token = self._unanswered.pop(host, None) or f"{self._name}-{next(self._asks)}"
        try:
            found = await self._scripts["LEASE"](
                args=[self.keys.prefix, host, limit, self._ttl_ms, token])
        except Exception:
            self._unanswered[host] = token
            raise
        leased = [request_of(int(found[i]), found[i + 1], self._codec)
                  for i in range(0, len(found), 2)]
        self._held.update(r.frontier_id for r in leased if r.frontier_id is not None)
        if leased and self._renewing is None:
            self._renewing = asyncio.create_task(self._renew(), name="lease renewal")
        return leased

    async def settle(self, settled: Sequence[tuple[Request, State]]) -> None:
        args: list[Any] = [self.keys.prefix]
        for request, state in settled:
            if request.frontier_id is not None:
                args += [request.frontier_id, state]
                self._held.discard(request.frontier_id)
        for start in range(1, len(args), 2 * BATCH):
            await self._scripts["SETTLE"](args=[self.keys.prefix, *args[start:start + 2 * BATCH]])

    async def hosts(self) -> Mapping[str, int]:
        found = await self._redis.hgetall(self.keys.queued)
        return {_text(host): int(count) for host, count in found.items() if int(count) > 0}

    async def counts(self) -> dict[str, int]:
        """The cluster's totals: queued, leased, done, failed, dropped, pages."""
        found = await self._redis.hgetall(self.keys.counts)
        return {_text(name): int(value) for name, value in found.items()}

    async def recover(self) -> int:
        """Leases whose holder stopped renewing them go back in line; returns how many."""
        back = 0
        while True:
            moved = int(await self._scripts["RECOVER"](args=[self.keys.prefix, RECOVER_MOST]))
            back += moved
            if moved < RECOVER_MOST:
                return back

    async def close(self) -> None:
        """Stop renewing, and give back every lease this process still holds."""
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
            self._renewing = None
        held = sorted(self._held)
        for start in range(0, len(held), BATCH):
            await self._scripts["UNLEASE"](args=[self.keys.prefix, *held[start:start + BATCH]])
        self._held.clear()

    async def _renew(self) -> None:
        """Push this process's lease deadlines out, every third of the lease time."""
        while True:
            await asyncio.sleep(self._ttl_ms / 3000)
            held = list(self._held)
            try:
                for start in range(0, len(held), BATCH):
                    await self._scripts["RENEW"](
                        args=[self.keys.prefix, self._ttl_ms, *held[start:start + BATCH]])
            except Exception as exc:  # Redis away: try again next time; leases may run out
                raise_if_cancelled(exc)
                log.warning("could not renew %d leases in Redis: %s", len(held), exc)
            raise_if_cancelled()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
