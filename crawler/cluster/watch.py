"""ClusterWatch: what one process learns from the cluster, every `cluster.poll_interval`.

- Leases whose holder died (stopped renewing) go back in line (`recover`).
- Hosts other processes queued requests for join this process's windows.
- Whether the crawl is over: nothing queued and nothing leased anywhere (a
  request waiting for a retry stays leased by its process), and the crawl
  has started (something was queued once, or a few polls passed: a process
  joining before the first seeds arrive must not end at once).
- Global limits: pages stored by all processes count towards `max_pages`
  (the gate counts them, and keeps the cluster within it: this only stops
  the process once the total is reached); `max_duration` runs from the
  cluster's start, on Redis's clock.
- This process's report (`crawler status` lists it): pages, rate, errors.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from typing import Any

from redis.asyncio import Redis

from crawler.cluster.frontier import RedisFrontier
from crawler.cluster.gate import ClusterGate
from crawler.cluster.keys import Keys, raise_if_cancelled
from crawler.config import CrawlConfig
from crawler.engine.scheduler import Scheduler
from crawler.frontier.windows import Windows
from crawler.stats import CrawlStats

log = logging.getLogger(__name__)

GRACE_POLLS = 3  # polls a process waits for a crawl that has not started anywhere yet


def node_name(config: CrawlConfig) -> str:
    return config.cluster.node or f"{socket.gethostname()}:{os.getpid()}"


class ClusterWatch:
    """Polls the cluster and tells this process's windows and scheduler what it found."""

    def __init__(self, client: Redis, frontier: RedisFrontier, gate: ClusterGate,
                 config: CrawlConfig, *, windows: Windows, scheduler: Scheduler,
                 stats: CrawlStats) -> None:
        self.keys: Keys = frontier.keys
        self._redis = client
        self._frontier = frontier
        self._gate = gate
        self._config = config
        self._windows = windows
        self._scheduler = scheduler
        self._stats = stats
        self._node = node_name(config)
        self._polls = 0
        self._failing = False
        # Until the first poll says otherwise, assume the cluster has work: a process
        # whose own seeds turned out to be known already must not end at once.
        windows.remote_work({}, busy=True)

    async def run(self) -> None:
        """Poll until cancelled; an unreachable Redis is logged once and polled again."""
        while True:
            try:
                await self.poll()
                self._failing = False
            except Exception as exc:
                raise_if_cancelled(exc)
                if not self._failing:
                    self._failing = True
                    log.warning("cannot reach Redis (%s: %s); dispatch waits, nothing is lost",
                                type(exc).__name__, exc)
            raise_if_cancelled()
            await asyncio.sleep(self._config.cluster.poll_interval)

    async def poll(self) -> None:
        self._polls += 1
        await self._windows.hand_over()
        await self._gate.send_unsent()
        await self._frontier.recover()
        hosts = await self._frontier.hosts()
        counts = await self._frontier.counts()
        self._pages_of_others(counts)
        busy = counts.get("queued", 0) + counts.get("leased", 0) > 0
        started = any(counts.get(k, 0) for k in ("queued", "leased", "done", "failed",
                                                 "dropped"))
        self._windows.remote_work(hosts, busy=busy or (not started
                                                       and self._polls <= GRACE_POLLS))
        await self._limit_duration()
        await self._report()
        self._scheduler.wake()

    def _pages_of_others(self, counts: dict[str, int]) -> None:
        """The pages the other processes stored, for `max_pages` (never more than they did).

        The gate's leaves count this process's pages in Redis. Those it sent,
        answered or not, are left out, so the scheduler's own count is never
        added to a total that already holds some of it: a process never stops
        before the cluster reached max_pages.
        """
        gate = self._gate
        self._scheduler.limits.completed_before = max(
            0, counts.get("pages", 0) - gate.pages_counted - gate.pages_pending)

    async def _limit_duration(self) -> None:
        duration = self._config.limits.max_duration
        seconds, micros = await self._redis.time()
        now = int(seconds) * 1000 + int(micros) // 1000
        await self._redis.set(self.keys.started, now, nx=True)
        if duration is not None:
            started = int(await self._redis.get(self.keys.started) or now)
            self._scheduler.limits.deadline_in(duration - (now - started) / 1000)

    async def _report(self, **extra: Any) -> None:
        stats = self._stats
        report = {"node": self._node, "pid": os.getpid(), "host": socket.gethostname(),
                  "pages": stats.pages, "errors": stats.errors,
                  "pages_per_second": round(stats.pages_per_second, 2),
                  "in_flight": self._scheduler.in_flight, "seen_at": time.time(), **extra}
        await self._redis.hset(self.keys.nodes, self._node, json.dumps(report))

    async def finished(self) -> None:
        """Report this process as finished (best effort: the crawl is over either way)."""
        try:
            await self._gate.send_unsent()
            await self._report(finished=True)
        except Exception as exc:
            log.warning("could not report the end to Redis: %s", exc)
