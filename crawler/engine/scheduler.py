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
from crawler.engine.admission import Budgets, Scope, canonical_in
from crawler.engine.outcome import Outcome
from crawler.frontier.windows import Windows
from crawler.hooks import Hooks
from crawler.models import SITEMAP, Request
from crawler.politeness.loader import Load, RobotsLoader
from crawler.politeness.robots import robots_agent
from crawler.politeness.slots import HostSlot, Politeness

Settle = Callable[[Request, Outcome], None]

log = logging.getLogger(__name__)


class Scheduler:
    """Owns the host slots, the ready-heap, the retries waiting, in-flight and the end."""

    def __init__(self, config: CrawlConfig, frontier: Windows, queue: asyncio.Queue[Request],
                 *, settle: Settle, dropped: Counter[str], hooks: Hooks,
                 robots: Load | None = None,
                 form: urls.Canonicalizer = urls.DEFAULT_FORM) -> None:
        self.config = config
        self._canonical = canonical_in(form)  # the crawl's form: see Session.form
        self.frontier = frontier
        frontier.on_available = self._available
        self.queue = queue
        self.politeness = Politeness(config.politeness)
        self.in_flight = 0
        self.completed = 0          # requests that produced a stored page
        self.completed_before = 0   # pages a resumed crawl had stored already (max_pages)
        self.stop_reason: str | None = None
        self._scope = Scope(config.scope)
        self._budgets = Budgets(config.limits)
        self._settle = settle
        self._drops = dropped
        self._hooks = hooks
        self._agent = robots_agent(config)
        self._robots = None if robots is None else RobotsLoader(
            robots, self.politeness, agent=self._agent, on_known=self._offer)
        self._ready: list[tuple[float, int, str]] = []
        self._delayed = Waiting()  # requests waiting to be retried
        self.retries_waiting = self._delayed  # the same, read by the live view
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._deadline = _deadline(config)

    # ---- admitting requests (synchronous, called by workers and the engine) ----

    def schedule(self, request: Request, parent: Request | None = None) -> str | None:
        """Admit `request` into the frontier: None, or the reason it was dropped."""
        if parent is not None:
            request.depth = parent.depth + 1
            request.referrer = parent.url
        try:
            url, host = self._canonical(request.url)
        except urls.Rejected as exc:
            return self._dropped(request.url, exc.reason)
        if request.href is None:
            request.href = request.url
        request.url = url
        if self._scope.too_deep(request.depth):
            return self._dropped(url, "max_depth")
        if not request.dont_filter and self.frontier.seen(url):
            return self._dropped(url, "duplicate")
        return self._admit(request, host)

    def schedule_url(self, url: str, parent: Request) -> str | None:
        """`schedule(Request(url), parent)`, without building a Request for a URL already seen.

        Most links of a page lead to pages already seen; this path costs them
        one cached canonicalization and one set lookup.
        """
        try:
            canonical_url, host = self._canonical(url)
        except urls.Rejected as exc:
            return self._dropped(url, exc.reason)
        depth = parent.depth + 1
        if self._scope.too_deep(depth):
            return self._dropped(canonical_url, "max_depth")
        if self.frontier.seen(canonical_url):
            return self._dropped(canonical_url, "duplicate")
        request = Request(canonical_url, href=url, depth=depth, referrer=parent.url)
        return self._admit(request, host)

    def _admit(self, request: Request, host: str) -> str | None:
        reason = self._scope.refuse(request.url, request.kind)
        if reason is None and not self.frontier.add(host, request):
            reason = "duplicate"
        if reason is not None:
            return self._dropped(request.url, reason)
        if self._hooks.request_scheduled:
            self._hooks.emit("request_scheduled", request)
        self._offer(host, self.politeness.slot(host))
        return None

    def _dropped(self, url: str, reason: str) -> str:
        # Inline rather than settle.count_drop: most links of a page end here.
        self._drops[reason] += 1
        if self._hooks.request_dropped:
            self._hooks.emit("request_dropped", url, reason)
        return reason

    # ---- what workers report ----

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
        slot.pages += stored
        self.in_flight -= 1
        self.completed += stored
        self._offer(host, slot)
        self._wake.set()

    def observe(self, request: Request, latency: float, status: int | None) -> None:
        """The response to `request` took `latency` seconds (status None: it timed out)."""
        self.politeness.observe(urls.host_key(request.url), latency, status)

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
            slot.dispatch(now)
            self.in_flight += 1
            self._offer(host, slot)
            return request
        return None

    def _refusal(self, request: Request, host: str, slot: HostSlot) -> Outcome | None:
        """Why `request` may not be sent after all (robots.txt, a budget), or None."""
        if slot.robots is not None and not slot.robots.allowed(request.url, self._agent):
            return outcome.refused(request, slot.robots.reason or "disallowed by robots.txt")
        if request.tries or request.kind == SITEMAP:
            return None
        over = self._budgets.charge(request.url, host)
        return None if over is None else outcome.over_budget(over)

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
        if self._ready and self._under_page_limit():
            times.append(self._ready[0][0])
        if self._deadline is not None:
            times.append(self._deadline)
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


def _deadline(config: CrawlConfig) -> float | None:
    duration = config.limits.max_duration
    return None if duration is None else time.monotonic() + duration
