"""ClusterGate: each host's limits across every process of a crawl, decided in Redis.

`enter` is one Lua script (`lua.ENTER`): it drops in-flight tokens whose
holder died, then lets the request start only if the host has a free place
(its concurrency), its next start time has come (the delay, counted between
the starts of two requests from any process, raised by Crawl-delay and
adaptive throttling as this process sees them) and no Retry-After cools it,
and if the cluster-wide host and URL-pattern budgets allow; then it takes
the place and sets the next start time, atomically. An in-flight token
expires after the fetch's longest possible time, so a process that dies
with requests in flight frees their places.

When Redis cannot be reached the gate says "wait a second": dispatch
pauses, nothing is lost, and it goes on when Redis is back.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os

from redis.asyncio import Redis

from crawler import urls
from crawler.cluster import lua
from crawler.cluster.keys import Keys
from crawler.config import CrawlConfig
from crawler.models import SITEMAP, Request
from crawler.politeness.gate import GO, Entry
from crawler.politeness.slots import HostSlot

log = logging.getLogger(__name__)

UNREACHABLE_WAIT = 1.0  # seconds a host waits when Redis could not be asked


class ClusterGate:
    """A `HostGate` shared through Redis."""

    counts_budgets = True

    def __init__(self, client: Redis, keys: Keys, config: CrawlConfig) -> None:
        self.keys = keys
        self._redis = client
        self._config = config
        fetch = config.fetch
        # The longest a request can hold its place: the total timeout, plus a margin.
        self._hold_ms = int((fetch.timeout + fetch.connect_timeout + 30) * 1000)
        self._enter = client.register_script(lua.ENTER)
        self._cool = client.register_script(lua.COOL)
        self._tokens = itertools.count()
        self._node = f"{os.getpid()}-{id(self):x}"
        self._held: dict[int, str] = {}  # id(request) → token
        self._tasks: set[asyncio.Task[None]] = set()
        self._failing = False

    async def enter(self, request: Request, host: str, slot: HostSlot) -> Entry:
        token = f"{self._node}-{next(self._tokens)}"
        try:
            found = await self._enter(args=[
                self.keys.prefix, host, token, slot.concurrency, int(slot.delay * 1000),
                self._hold_ms, *self._budgets(request, host)])
        except Exception as exc:
            self._unreachable(exc)
            return Entry(wait=UNREACHABLE_WAIT)
        self._failing = False
        verdict, detail = int(found[0]), found[1]
        if verdict == 1:
            return Entry(wait=int(detail) / 1000)
        if verdict == 2:
            return Entry(refused=detail.decode() if isinstance(detail, bytes) else str(detail))
        self._held[id(request)] = token
        return GO

    async def leave(self, request: Request, host: str) -> None:
        token = self._held.pop(id(request), None)
        if token is None:
            return
        try:
            await self._redis.zrem(f"{self.keys.prefix}inflight:{host}", token)
        except Exception as exc:  # the token expires by itself
            self._unreachable(exc)

    def cool(self, host: str, seconds: float) -> None:
        task = asyncio.create_task(self._cool_now(host, seconds), name=f"cool {host}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _cool_now(self, host: str, seconds: float) -> None:
        try:
            await self._cool(args=[self.keys.prefix, host, int(seconds * 1000)])
        except Exception as exc:
            self._unreachable(exc)

    def _budgets(self, request: Request, host: str) -> list[object]:
        """[host budget, pattern, pattern budget] for ENTER (-1 and '': none apply)."""
        limits = self._config.limits
        if request.tries or request.kind == SITEMAP:  # counted once, and never sitemaps
            return [-1, "", -1]
        host_budget = -1 if limits.max_urls_per_host is None else limits.max_urls_per_host
        path, query = urls.path_and_query(request.url)
        if not query or limits.max_urls_per_pattern is None:
            return [host_budget, "", -1]
        keys = "&".join(sorted({pair.partition("=")[0] for pair in query.split("&")}))
        return [host_budget, f"{host}{path}?{keys}", limits.max_urls_per_pattern]

    def _unreachable(self, exc: Exception) -> None:
        if not self._failing:
            self._failing = True
            log.warning("cannot reach Redis for host limits (%s: %s); dispatch waits",
                        type(exc).__name__, exc)
