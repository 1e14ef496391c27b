"""The scheduler: admits requests into the frontier and dispatches ready ones to the queue.

`schedule()` is synchronous (canonicalize → depth → dedupe → scope → traps
→ frontier) so workers never await anything to hand links over, and it says
why it dropped a URL. `run()` is the one coroutine that puts into the
bounded queue. It keeps a heap of hosts that hold pending requests, keyed by
the time their slot is next ready, pops the earliest ready host and
dispatches one of its requests; when no host is ready it sleeps until the
earliest one is, or until a worker wakes it.
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
from collections.abc import Callable, Iterator

from crawler import urls
from crawler.config import CrawlConfig
from crawler.engine import outcome
from crawler.engine.admission import Admission, Budgets
from crawler.engine.limits import Limits
from crawler.engine.outcome import Outcome
from crawler.frontier.windows import Windows
from crawler.hooks import Hooks
from crawler.models import SITEMAP, Request
from crawler.politeness.gate import Entry, HostGate, LocalGate
from crawler.politeness.loader import Load, RobotsLoader
from crawler.politeness.robots import robots_agent
from crawler.politeness.slots import HostSlot, Politeness, Starts

Settle = Callable[[Request, Outcome], None]

log = logging.getLogger(__name__)


class Scheduler:
    """Owns the host slots, the ready-heap, the retries waiting, in-flight and the end."""

    def __init__(self, config: CrawlConfig, frontier: Windows, queue: asyncio.Queue[Request],
                 *, settle: Settle, dropped: Counter[str], hooks: Hooks,
                 robots: Load | None = None, gate: HostGate | None = None,
                 form: urls.Canonicalizer = urls.DEFAULT_FORM, tells_sent: bool = False) -> None:
        self.config = config
        self.frontier = frontier
        frontier.on_available = self._available
        self.queue = queue
        self.politeness = Politeness(config.politeness)
        self.in_flight = 0
        self.limits = Limits(config.limits)
        self.stop_reason: str | None = None
        self._gate: HostGate = gate or LocalGate()
        # A gate that counts budgets cluster-wide is the only one to count them.
        self._budgets = None if self._gate.counts_budgets else Budgets(config.limits)
        self._settle = settle
        self.admission = Admission(config.scope, frontier, dropped=dropped, hooks=hooks,
                                   offer=self._offer_host, form=form)
        # Admitting requests (synchronous, called by workers and the engine).
        self.schedule = self.admission.schedule
        self.schedule_url = self.admission.schedule_url
        self.schedule_urls = self.admission.schedule_urls
        self._agent = robots_agent(config)
        self._robots = None if robots is None else RobotsLoader(
            robots, self.politeness, agent=self._agent, on_known=self._offer)
        self._ready: list[tuple[float, int, str]] = []
        self._delayed = Waiting()  # requests waiting to be retried
        self.retries_waiting = self._delayed  # the same, read by the live view
        self._order = itertools.count()
        self._wake = asyncio.Event()
        # When each request starts; the fetcher's `sent` (if it `tells_sent`) says.
        self._starts = Starts(self.politeness, tells_sent=tells_sent, on_ready=self._offer)
        self.sent = self._starts.sent

    def _offer_host(self, host: str) -> None:
        self._offer(host, self.politeness.slot(host))

    # ---- what workers report ----

    def started(self, request: Request) -> float:
        """A worker began fetching `request`; returns when. The host's delay counts
        from when the fetcher `sent` it, or from now if the fetcher cannot tell."""
        return self._starts.began(request)

    def finished(self, request: Request, *, stored: bool) -> None:
        """A worker is done with `request` (whatever happened)."""
        host = urls.host_key(request.url)
        slot = self.politeness.slot(host)
        slot.release()
        slot.pages += stored
        self.in_flight -= 1
        self.limits.completed += stored
        self._offer(host, slot)
        self._wake.set()

    def observe(self, request: Request, latency: float, status: int | None) -> None:
        """The response to `request` took `latency` seconds (status None: it timed out)."""
        self.politeness.observe(urls.host_key(request.url), latency, status)

    async def enter(self, request: Request) -> Entry:
        """May `request` start now, cluster-wide (see politeness.gate)?"""
        host = urls.host_key(request.url)
        entry = await self._gate.enter(request, host, self.politeness.slot(host))
        if entry.wait is not None or entry.refused is not None:
            self._starts.not_started(request)
        return entry

    async def leave(self, request: Request, *, started: float, stored: bool) -> None:
        """`request`, which entered, is done with the network: its fetch began at
        `started`; it stored a page or not. The gate hears when it started."""
        await self._gate.leave(request, urls.host_key(request.url),
                               started=self._starts.ended(request, started), stored=stored)

    def bounce(self, request: Request, wait: float) -> None:
        """The gate said wait: `request` goes back first in line, its host cools meanwhile."""
        host = urls.host_key(request.url)
        slot = self.politeness.slot(host)
        slot.cool_until = max(slot.cool_until, time.monotonic() + wait)
        self.frontier.requeue(host, request)

    def retry(self, request: Request, delay: float, *, cool_host: float | None = None) -> None:
        """Put `request` back in line after `delay` seconds; no worker waits for it.

        `cool_host` (a Retry-After) also keeps every request to that host
        from starting for that long.
        """
        host = urls.host_key(request.url)
        now = time.monotonic()
        if cool_host is not None:
            slot = self.politeness.slot(host)
            if now + cool_host > slot.cool_until:
                slot.cool_until = now + cool_host
                why = request.failures[-1] if request.failures else "a retry"
                slot.cool_reason = f"Retry-After {cool_host:g} s ({why})"
            self._gate.cool(host, cool_host)
        self._delayed.push(now + delay, request, host)
        self._wake.set()

    def _release_due(self, now: float) -> None:
        """Move retries whose time has come back into their host's window."""
        for request, host in self._delayed.due(now):
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
        reason = self.limits.reached()
        if reason is not None:
            self.stop(reason)

    def wake(self) -> None:
        """Look again now (something outside the scheduler changed: a cluster's state)."""
        self._wake.set()

    def _next_ready(self, now: float) -> Request | None:
        """Pop the request of the earliest ready host, or None if no host is ready now."""
        self._release_due(now)
        while self._ready and self._ready[0][0] <= now and self.limits.room_for(self.in_flight):
            _, _, host = heapq.heappop(self._ready)
            slot = self.politeness.slot(host)
            slot.in_heap = False
            if not slot.ready(now):
                self._offer(host, slot)   # its time moved on; put it back where it belongs
                continue
            if self._robots is not None and slot.robots_due(now):
                self._robots.start(host, slot)  # the host comes back once its rules are known
                continue
            request = self.frontier.pop(host)
            if request is None:
                continue  # none in memory; the frontier calls _available when some arrive
            refusal = self._refusal(request, host, slot)
            if refusal is not None:
                self._settle(request, refusal)
                self._offer(host, slot)
                continue
            slot.dispatch()
            self._starts.dispatched(request)
            self.in_flight += 1
            self._offer(host, slot)
            return request
        return None

    def _refusal(self, request: Request, host: str, slot: HostSlot) -> Outcome | None:
        """Why `request` may not be sent after all (robots.txt, a budget), or None."""
        if slot.robots is not None and not slot.robots.allowed(request.url, self._agent):
            return outcome.refused(request, slot.robots.reason or "disallowed by robots.txt")
        if request.tries or request.kind == SITEMAP or self._budgets is None:
            return None
        over = self._budgets.charge(request.url, host)
        return None if over is None else outcome.over_budget(over)

    def _available(self, host: str) -> None:
        """The frontier has (or has found it lacks) more requests for `host`."""
        self._offer(host, self.politeness.slot(host))
        self._wake.set()

    def _offer(self, host: str, slot: HostSlot) -> None:
        """Put `host` on the ready-heap if it could run a request at some known time."""
        if (slot.in_heap or slot.robots_pending or not slot.has_room()
                or math.isinf(slot.ready_at())):
            return
        if not self.frontier.pending(host):
            return
        slot.in_heap = True
        heapq.heappush(self._ready, (slot.ready_at(), next(self._order), host))
        self._wake.set()

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
        """Seconds until a host is ready, a retry is due or the deadline passes; None: never."""
        now = time.monotonic()
        times = [self._delayed.next_at()] if self._delayed else []
        if self._ready and self.limits.room_for(self.in_flight):
            times.append(self._ready[0][0])
        if self.limits.deadline is not None:
            times.append(self.limits.deadline)
        return max(0.0, min(times) - now) if times else None

    def drain_queue(self) -> list[Request]:
        """Take back what was dispatched but not yet picked up by a worker (on shutdown)."""
        drained = []
        while True:
            try:
                request = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                return drained
            self.queue.task_done()
            self._starts.not_started(request)
            self.finished(request, stored=False)
            drained.append(request)

    def close(self) -> None:
        """Cancel background work (robots.txt fetches still running)."""
        if self._robots is not None:
            self._robots.cancel()


class Waiting:
    """Requests waiting for a retry, by the time they may go again (a heap)."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, Request, str]] = []
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, not_before: float, request: Request, host: str) -> None:
        heapq.heappush(self._heap, (not_before, next(self._order), request, host))

    def next_at(self) -> float:
        return self._heap[0][0]

    def entries(self) -> list[tuple[float, Request, str]]:
        """(not before, request, host key) of every waiting retry, in no particular order."""
        return [(at, request, host) for at, _, request, host in self._heap]

    def due(self, now: float) -> Iterator[tuple[Request, str]]:
        """(request, host key) of each retry whose time has come, taken off the heap."""
        while self._heap and self._heap[0][0] <= now:
            _, _, request, host = heapq.heappop(self._heap)
            yield request, host
