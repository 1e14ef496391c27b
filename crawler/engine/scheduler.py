"""The scheduler: accepts requests into the frontier and dispatches ready ones to the queue.

`schedule()` is synchronous (canonicalize → depth → dedupe → scope →
frontier) so workers never await anything to hand links over. `run()` is the
one coroutine that puts into the bounded queue. It keeps a heap of hosts that
hold pending requests, keyed by the time their slot is next ready, pops the
earliest ready host and dispatches one of its requests; when no host is
ready it sleeps until the earliest one is, or until a worker wakes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from functools import lru_cache

from crawler import urls
from crawler.config import CrawlConfig
from crawler.frontier.memory import Frontier, MemoryFrontier
from crawler.models import SITEMAP, Request
from crawler.politeness.robots import RobotsRules, robots_agent
from crawler.politeness.slots import HostSlot, Politeness

RobotsLoader = Callable[[str], Awaitable[RobotsRules]]

log = logging.getLogger(__name__)


@lru_cache(maxsize=16_384)
def _canonical(url: str) -> tuple[str, str]:
    """(canonical URL, host key); raises urls.Rejected. Cached: links repeat a lot."""
    parsed = urls.parse_url(url)
    canonical = urls.canonicalize(parsed)
    return canonical, urls.host_key(parsed)


class Scheduler:
    """Owns the frontier, the host slots, the in-flight count and the end of the crawl."""

    def __init__(self, config: CrawlConfig, frontier: Frontier | None,
                 queue: asyncio.Queue[Request],
                 *, robots: RobotsLoader | None = None,
                 on_refused: Callable[[Request, str], None] | None = None) -> None:
        self.config = config
        self.frontier: Frontier = frontier or MemoryFrontier()
        self.frontier.on_available = self._available
        self.queue = queue
        self.politeness = Politeness(config.politeness)
        self.dropped: Counter[str] = Counter()
        self.in_flight = 0
        self.completed = 0          # requests that produced a stored page
        self.stop_reason: str | None = None
        self._ready: list[tuple[float, int, str]] = []
        # Requests waiting to be retried: (not before, order, request, host key).
        self._delayed: list[tuple[float, int, Request, str]] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._deadline = _deadline(config)
        self._robots = robots
        self._on_refused = on_refused
        self._tasks: set[asyncio.Task[None]] = set()
        self._per_host: Counter[str] = Counter()  # requests dispatched per host (trap budget)
        self._per_pattern: Counter[tuple[str, str, str]] = Counter()
        self.completed_before = 0  # pages a resumed crawl had stored already (max_pages)

    def attach(self, frontier: Frontier) -> None:
        """Use `frontier` (the durable one is ready only once the database is open)."""
        self.frontier = frontier
        frontier.on_available = self._available

    # ---- accepting requests (synchronous, called by workers and the engine) ----

    def schedule(self, request: Request, parent: Request | None = None) -> bool:
        """Accept `request` into the frontier, or count why it was dropped."""
        if parent is not None:
            request.depth = parent.depth + 1
            request.referrer = parent.url
        try:
            canonical, host = _canonical(request.url)
        except urls.Rejected as exc:
            return self._drop(exc.reason)
        if request.href is None:
            request.href = request.url
        request.url = canonical
        if self._too_deep(request.depth):
            return self._drop("max_depth")
        if not request.dont_filter and self.frontier.seen(canonical):
            return self._drop("duplicate")
        return self._enqueue(request, host)

    def schedule_url(self, url: str, parent: Request) -> bool:
        """`schedule(Request(url), parent)`, without building a Request for a URL already seen.

        Most links of a page lead to pages already seen; this path costs them
        one cached canonicalization and one set lookup.
        """
        try:
            canonical, host = _canonical(url)
        except urls.Rejected as exc:
            return self._drop(exc.reason)
        depth = parent.depth + 1
        if self._too_deep(depth):
            return self._drop("max_depth")
        if self.frontier.seen(canonical):
            return self._drop("duplicate")
        request = Request(canonical, href=url, depth=depth, referrer=parent.url)
        return self._enqueue(request, host)

    def _enqueue(self, request: Request, host: str) -> bool:
        if request.kind == SITEMAP:  # a sitemap file is not a page: only its host is scoped
            reason = self._offsite(request.url)
        else:
            reason = self._out_of_scope(request.url) or self._trap(request.url)
        if reason is not None:
            return self._drop(reason)
        if not self.frontier.add(host, request):
            return self._drop("duplicate")
        self._offer(host, self.politeness.slot(host))
        return True

    def _trap(self, url: str) -> str | None:
        """Why `url`, on its own, looks like a crawler trap (an endless URL space), or None."""
        scope = self.config.scope
        if len(url) > scope.max_url_length:
            return "url_too_long"
        path = urls.path_and_query(url)[0]
        segments = [s for s in path.split("/") if s]
        if len(segments) > scope.max_path_segments:
            return "too_many_segments"
        if segments and max(Counter(segments).values()) > scope.max_repeated_segments:
            return "repeated_segments"
        return None

    def _over_budget(self, url: str, host: str) -> str | None:
        """Whether fetching `url` would exceed its host's or its URL pattern's budget.

        Counted at dispatch, on requests actually sent: the seen-set is on
        disk, so counting at acceptance would also count duplicates it has
        not caught yet. Counts each request once, not each retry.
        """
        limits = self.config.limits
        budget = limits.max_urls_per_host
        if budget is not None and self._per_host[host] >= budget:
            return "host_budget"
        query_budget = limits.max_urls_per_pattern
        path, query = urls.path_and_query(url)
        if query and query_budget is not None:
            keys = "&".join(sorted({pair.partition("=")[0] for pair in query.split("&")}))
            pattern = (host, path, keys)
            if self._per_pattern[pattern] >= query_budget:
                return "pattern_budget"
            self._per_pattern[pattern] += 1
        self._per_host[host] += 1
        return None

    def _drop(self, reason: str) -> bool:
        self.dropped[reason] += 1
        return False

    def _too_deep(self, depth: int) -> bool:
        max_depth = self.config.scope.max_depth
        return max_depth is not None and depth > max_depth

    def _offsite(self, url: str) -> str | None:
        scope = self.config.scope
        if not urls.domain_allowed(urls.host_of(url), scope.allowed_domains,
                                   subdomains=scope.allow_subdomains):
            return "offsite"
        return None

    def _out_of_scope(self, url: str) -> str | None:
        scope = self.config.scope
        if reason := self._offsite(url):
            return reason
        if scope.exclude and any(p.search(url) for p in scope.exclude):
            return "excluded"
        if scope.include and not any(p.search(url) for p in scope.include):
            return "not_included"
        return None

    # ---- worker callbacks ----

    def started(self, request: Request) -> None:
        """A worker began fetching `request`: start its host's delay clock."""
        host = urls.host_key(request.url)
        slot = self.politeness.slot(host)
        slot.start(time.monotonic())
        self._offer(host, slot)

    def finished(self, request: Request, *, stored: bool) -> None:
        """A worker is done with `request` (whatever happened)."""
        host = urls.host_key(request.url)
        slot = self.politeness.slot(host)
        slot.release()
        self.in_flight -= 1
        self.completed += stored
        self._offer(host, slot)
        self._wake.set()

    def observe(self, request: Request, latency: float, status: int | None) -> None:
        """The response to `request` took `latency` seconds (status None: it timed out)."""
        self.politeness.observe(urls.host_key(request.url), latency, status)

    def retry(self, request: Request, delay: float, *, cool_host: float | None = None) -> None:
        """Put `request` back into the frontier after `delay` seconds; no worker waits for it.

        `cool_host` (a Retry-After) also keeps every request to that host
        from starting for that long.
        """
        host = urls.host_key(request.url)
        now = time.monotonic()
        if cool_host is not None:
            slot = self.politeness.slot(host)
            slot.cool_until = max(slot.cool_until, now + cool_host)
        heapq.heappush(self._delayed, (now + delay, next(self._order), request, host))
        self._wake.set()

    def _release_due(self, now: float) -> None:
        """Move retries whose time has come back into the frontier."""
        while self._delayed and self._delayed[0][0] <= now:
            _, _, request, host = heapq.heappop(self._delayed)
            self.frontier.requeue(host, request)
            self._offer(host, self.politeness.slot(host))

    # ---- the dispatch loop ----

    def stop(self, reason: str) -> None:
        """Stop dispatching; the crawl ends once the requests already fetching finish.

        Requests dispatched but not yet picked up by a worker go back to the
        frontier rather than being started after the stop.
        """
        if self.stop_reason is None:
            self.stop_reason = reason
        for request in self.drain_queue():
            self.frontier.requeue(urls.host_key(request.url), request)
        self._wake.set()

    @property
    def finished_all(self) -> bool:
        return self.in_flight == 0 and (self.stop_reason is not None
                                        or (self.frontier.pending() == 0 and not self._delayed))

    async def run(self) -> None:
        """Dispatch until nothing is pending or a stop was asked, then until in-flight is 0."""
        while True:
            self._check_limits()  # may stop the crawl: check the end only after it
            if self.finished_all:
                break
            request = None if self.stop_reason else self._next_ready(time.monotonic())
            if request is not None:
                await self.queue.put(request)
                continue
            await self._sleep()
        if self.stop_reason is None:
            self.stop_reason = "complete"

    def _check_limits(self) -> None:
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self.stop("max_duration")
        max_pages = self.config.limits.max_pages
        if max_pages is not None and self.completed_before + self.completed >= max_pages:
            self.stop("max_pages")

    def _under_page_limit(self) -> bool:
        max_pages = self.config.limits.max_pages
        return max_pages is None or (
            self.completed_before + self.completed + self.in_flight < max_pages)

    def _next_ready(self, now: float) -> Request | None:
        """Pop the request of the earliest ready host, or None if no host is ready now."""
        self._release_due(now)
        while self._ready and self._ready[0][0] <= now and self._under_page_limit():
            _, _, host = heapq.heappop(self._ready)
            slot = self.politeness.slot(host)
            slot.in_heap = False
            if not slot.ready(now):
                self._offer(host, slot)   # its time moved on; put it back where it belongs
                continue
            if self._robots is not None and slot.robots_due(now):
                self._load_robots(host, slot)  # the host comes back once its rules are known
                continue
            request = self.frontier.pop(host)
            if request is None:
                continue  # none in memory; the frontier calls _available when some arrive
            if slot.robots is not None and not slot.robots.allowed(request.url, self._agent):
                self._refuse(request, slot.robots.reason or "disallowed by robots.txt")
                self._offer(host, slot)
                continue
            over = None if request.tries or request.kind == SITEMAP else self._over_budget(
                request.url, host)
            if over is not None:
                self.frontier.dropped(request)
                self._drop(over)
                self._offer(host, slot)
                continue
            slot.dispatch(now)
            self.in_flight += 1
            self._offer(host, slot)
            return request
        return None

    def _available(self, host: str) -> None:
        """The frontier has (or has found it lacks) more requests for `host`."""
        self._offer(host, self.politeness.slot(host))
        self._wake.set()

    def _offer(self, host: str, slot: HostSlot) -> None:
        """Put `host` on the ready-heap if it could run a request at some known time."""
        if slot.in_heap or slot.robots_pending or not slot.has_room() or math.isinf(slot.next_at):
            return
        if not self.frontier.pending(host):
            return
        slot.in_heap = True
        heapq.heappush(self._ready, (slot.ready_at(), next(self._order), host))
        self._wake.set()

    # ---- robots.txt ----

    @property
    def _agent(self) -> str:
        return robots_agent(self.config)

    def _load_robots(self, host: str, slot: HostSlot) -> None:
        slot.robots_pending = True
        task = asyncio.create_task(self._fetch_robots(host, slot), name=f"robots {host}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fetch_robots(self, host: str, slot: HostSlot) -> None:
        assert self._robots is not None
        started = time.monotonic()
        rules = RobotsRules(None)  # cancelled or a bug: no rules rather than a stuck host
        try:
            rules = await self._robots(host)
        finally:
            slot.robots_pending = False
            self.politeness.robots_fetched(host, rules, agent=self._agent, started=started,
                                           now=time.monotonic())
        self._offer(host, slot)

    def _refuse(self, request: Request, reason: str) -> None:
        self.dropped["robots"] += 1
        self.frontier.dropped(request)
        if self._on_refused is not None:
            self._on_refused(request, reason)

    def close(self) -> None:
        """Cancel background work (robots.txt fetches still running)."""
        for task in self._tasks:
            task.cancel()

    async def _sleep(self) -> None:
        """Wait for a wake-up (new work, a freed slot, a stop) or the next host's ready time."""
        if self.finished_all:  # the last pending requests were refused: nothing will wake us
            return
        timeout = None if self.stop_reason else self._time_to_next_event()
        self._wake.clear()
        if timeout == 0.0:
            await asyncio.sleep(0)  # never spin without letting the workers run
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    def _time_to_next_event(self) -> float | None:
        """Seconds until a host is ready or the deadline passes; None: only a wake-up helps."""
        now = time.monotonic()
        timeout = None
        if self._ready and self._under_page_limit():
            timeout = max(0.0, self._ready[0][0] - now)
        if self._delayed:
            until_retry = max(0.0, self._delayed[0][0] - now)
            timeout = until_retry if timeout is None else min(timeout, until_retry)
        if self._deadline is not None:
            until_deadline = max(0.0, self._deadline - now)
            timeout = until_deadline if timeout is None else min(timeout, until_deadline)
        return timeout

    def drain_queue(self) -> list[Request]:
        """Take back what was dispatched but not yet picked up by a worker (on shutdown)."""
        drained = []
        while True:
            try:
                request = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                return drained
            self.queue.task_done()
            self.finished(request, stored=False)
            drained.append(request)


def _deadline(config: CrawlConfig) -> float | None:
    duration = config.limits.max_duration
    return None if duration is None else time.monotonic() + duration
