"""Per-host slots: how many requests a host may have in flight and how far apart they start.

One small `HostSlot` per host key, created lazily from the config default or
the first matching `politeness.hosts` rule (Scrapy's downloader slots, minus
the global settings). A slot's delay is the configured one, raised by the
host's robots.txt Crawl-delay and, with `politeness.adaptive`, by what its
responses say about its load (`throttle.py`).

A request *starts* when it leaves for the server: when the fetcher sent it,
if the fetcher can tell (`crawler.fetch.base.tell_sent`), else when its
fetch began. Until a dispatched request has started, the next one's start
time is unknown, so with a delay nothing more is dispatched to the host.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from crawler.config import PolitenessConfig
from crawler.models import Request
from crawler.politeness import throttle
from crawler.politeness.retries import backoff_delay
from crawler.politeness.robots import RobotsRules
from crawler.urls import host_key, parse_url

log = logging.getLogger(__name__)


@dataclass(slots=True)
class HostSlot:
    concurrency: int
    delay: float              # in force: never below `floor`
    active: int = 0
    next_at: float = 0.0      # earliest start of the next request (monotonic seconds)
    last_start: float = -math.inf  # when the latest request started (left for the server)
    unstarted: int = 0        # requests dispatched that have not started yet
    in_heap: bool = False     # the scheduler's ready-heap holds an entry for this host
    cool_until: float = 0.0  # a Retry-After, or a robots.txt retry: no request starts before this
    robots: RobotsRules | None = None  # None: not known yet
    robots_pending: bool = False       # robots.txt is being fetched
    robots_expires: float = math.inf   # the cached robots.txt is fetched again from then
    robots_failures: int = 0           # unreachable answers in a row
    crawl_delay: float = 0.0           # robots.txt Crawl-delay, capped
    # For the live view (crawler/engine/status.py): what the host is waiting for, and its pace.
    cool_reason: str = ""              # why cool_until was last set ("Retry-After 30 s (HTTP 503)")
    robots_error: str = ""             # the last unreachable robots.txt answer
    pages: int = 0                     # pages stored from this host in this run
    configured_delay: float = field(init=False)

    def __post_init__(self) -> None:
        self.configured_delay = self.delay

    @property
    def floor(self) -> float:
        """The least delay: the configured one, raised by Crawl-delay."""
        return max(self.configured_delay, self.crawl_delay)

    def has_room(self) -> bool:
        return self.active < self.concurrency

    def ready(self, now: float) -> bool:
        return self.has_room() and now >= self.ready_at()

    def ready_at(self) -> float:
        """The earliest time the next request may start; inf: not known until one starts."""
        if self.unstarted > 0 and self.delay > 0:
            return math.inf
        return max(self.next_at, self.cool_until)

    def robots_due(self, now: float) -> bool:
        """robots.txt must be fetched before the next request: not known yet, or expired."""
        return self.robots is None or now >= self.robots_expires

    def dispatch(self) -> None:
        """A request was handed to a worker. Until it starts, the next start time is unknown."""
        self.active += 1
        self.unstarted += 1

    def start(self, at: float) -> None:
        """A dispatched request started at `at`: the next may start `delay` after it."""
        self.unstarted -= 1
        self.sent(at)

    def never_started(self) -> None:
        """A dispatched request will not start after all (the gate said no, a stop)."""
        self.unstarted -= 1

    def sent(self, at: float) -> None:
        """A request to this host left at `at` (robots.txt, a redirect hop, a request)."""
        self.last_start = max(self.last_start, at)
        self.next_at = max(self.next_at, at + self.delay)

    def release(self) -> None:
        self.active -= 1


class Politeness:
    """The slots of all hosts seen so far."""

    def __init__(self, config: PolitenessConfig) -> None:
        self.config = config
        self.slots: dict[str, HostSlot] = {}

    def slot(self, host_key: str) -> HostSlot:
        slot = self.slots.get(host_key)
        if slot is None:
            host = parse_url(host_key).host or ""
            concurrency, delay = self.config.rule_for(host)
            slot = self.slots[host_key] = HostSlot(concurrency, delay)
        return slot

    def robots_fetched(self, host_key: str, rules: RobotsRules, *, agent: str,
                       started: float, now: float) -> None:
        """Take a robots.txt answer: its rules and Crawl-delay, or a retry later, or giving up.

        The cached rules expire `robots_ttl` after the fetch started. An
        unreachable robots.txt cools the host (no request starts) for a
        back-off, after which the next dispatch fetches it again; after
        `robots_tries` such answers in a row the host is given up: every
        request to it is refused, until the TTL lets robots.txt be tried again.
        """
        slot = self.slot(host_key)
        if rules.unreachable:
            self._robots_failed(host_key, slot, rules, now)
            return
        slot.robots, slot.robots_failures, slot.robots_error = rules, 0, ""
        slot.robots_expires = started + self.config.robots_ttl
        crawl_delay = rules.crawl_delay(agent)
        slot.crawl_delay = min(crawl_delay or 0.0, self.config.max_crawl_delay)
        slot.delay = max(slot.floor, slot.delay) if self.config.adaptive else slot.floor
        # robots.txt was a request to this host too: the delay (perhaps raised by its
        # Crawl-delay) counts from it, or from when it was sent if the fetcher told us.
        slot.sent(max(slot.last_start, started))

    def _robots_failed(self, host_key: str, slot: HostSlot, rules: RobotsRules,
                       now: float) -> None:
        config = self.config
        slot.robots_failures += 1
        slot.robots_error = rules.reason.removeprefix("robots.txt unreachable: ")
        tries = slot.robots_failures
        if tries >= config.robots_tries:
            detail = rules.reason.removeprefix("robots.txt unreachable: ")
            reason = f"robots.txt unreachable after {tries} tries (last: {detail})"
            log.warning("%s: %s; not crawling this host", host_key, reason)
            slot.robots = RobotsRules(None, disallow_all=True, reason=reason)
            slot.robots_expires = now + config.robots_ttl
            slot.robots_failures = 0
            return
        wait = backoff_delay(tries, base=config.robots_backoff, cap=config.robots_max_backoff)
        log.info("%s: %s; trying again in %.1fs (try %d of %d)", host_key, rules.reason,
                 wait, tries, config.robots_tries)
        slot.robots = None
        slot.cool_until = max(slot.cool_until, now + wait)
        slot.cool_reason = "robots.txt"

    def observe(self, host_key: str, latency: float, status: int | None) -> None:
        """A response from `host_key` took `latency` seconds (status None: it timed out).

        With `politeness.adaptive`, the host's delay moves towards what its
        latency allows, and at least doubles when it is overloaded.
        """
        if not self.config.adaptive:
            return
        slot = self.slot(host_key)
        slot.delay = throttle.adapt(slot.delay, latency, status,
                                    target_concurrency=self.config.target_concurrency,
                                    floor=slot.floor, cap=self.config.max_delay)
        # The new delay holds from the latest start, not from the start after next.
        if slot.last_start > -math.inf:
            slot.next_at = slot.last_start + slot.delay


class Starts:
    """When each dispatched request starts, for its host's delay.

    With `tells_sent` the fetcher calls `sent` as each request leaves, and a
    request starts then; else it starts when its worker begins the fetch
    (`began`). `on_ready(host, slot)` hears when a host may be ready again (a
    request started, or will not). A request is known from its dispatch until
    its fetch ended (`ended`) or it will not start after all (`not_started`).
    """

    def __init__(self, politeness: Politeness, *, tells_sent: bool,
                 on_ready: Callable[[str, HostSlot], None]) -> None:
        self._politeness = politeness
        self._tells_sent = tells_sent
        self._on_ready = on_ready
        self._at: dict[int, float | None] = {}  # id(request) -> its start (None: not yet)

    def dispatched(self, request: Request) -> None:
        self._at[id(request)] = None

    def began(self, request: Request) -> float:
        """A worker began fetching `request`; returns when."""
        now = time.monotonic()
        if not self._tells_sent:
            self._at[id(request)] = now
            self._start(request, now)
        return now

    def sent(self, request: Request, url: str, at: float) -> None:
        """The fetcher sent `request` to `url` at `at`.

        The first time, `request` starts; later hops of a redirect it follows,
        and requests that were never dispatched (robots.txt), only move their
        host's next start.
        """
        if self._at.get(id(request), 0.0) is None:
            self._at[id(request)] = at
            self._start(request, at)
        else:
            self._politeness.slot(host_key(url)).sent(at)

    def ended(self, request: Request, began: float) -> float:
        """The fetch of `request`, begun at `began`, is over; returns when it started.

        A request the fetcher never sent (it could not connect, say), or sent
        without telling, is taken to have started when its fetch began: its
        host, which waited for it, may go on `delay` after that.
        """
        start = self._at.pop(id(request), None)
        if start is None:
            start = began
            self._start(request, start)
        return start

    def not_started(self, request: Request) -> None:
        """`request` was dispatched and will not start (the gate said no, or a stop
        took it back): its host no longer waits for it."""
        if self._at.pop(id(request), 0.0) is None:
            host = host_key(request.url)
            slot = self._politeness.slot(host)
            slot.never_started()
            self._on_ready(host, slot)

    def _start(self, request: Request, at: float) -> None:
        host = host_key(request.url)
        slot = self._politeness.slot(host)
        slot.start(at)
        self._on_ready(host, slot)
