"""Per-host slots: how many requests a host may have in flight and how far apart they start.

One small `HostSlot` per host key, created lazily from the config default or
the first matching `politeness.hosts` rule (Scrapy's downloader slots, minus
the global settings). A slot's delay is the configured one, raised by the
host's robots.txt Crawl-delay and, with `politeness.adaptive`, by what its
responses say about its load (`throttle.py`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field

from crawler.config import PolitenessConfig
from crawler.politeness import throttle
from crawler.politeness.retries import backoff_delay
from crawler.politeness.robots import RobotsRules
from crawler.urls import parse_url

log = logging.getLogger(__name__)


@dataclass(slots=True)
class HostSlot:
    concurrency: int
    delay: float              # in force: never below `floor`
    active: int = 0
    next_at: float = 0.0      # earliest start of the next request (monotonic seconds)
    last_start: float = -math.inf  # when the latest request began
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
        """The earliest time the next request may start."""
        return max(self.next_at, self.cool_until)

    def robots_due(self, now: float) -> bool:
        """robots.txt must be fetched before the next request: not known yet, or expired."""
        return self.robots is None or now >= self.robots_expires

    def dispatch(self, now: float) -> None:
        """A request was handed to a worker. Until it starts, the next start time is unknown."""
        self.active += 1
        self.next_at = math.inf if self.delay > 0 else now

    def start(self, now: float) -> None:
        """The request's fetch began: the delay counts from here, as the server sees it."""
        self.last_start = now
        self.next_at = now + self.delay

    def release(self) -> None:
        self.active -= 1
        if math.isinf(self.next_at):  # dispatched but never started (drained on shutdown)
            self.next_at = 0.0


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
        # robots.txt was a request to this host too: the delay counts from it.
        slot.last_start = max(slot.last_start, started)
        slot.next_at = max(slot.next_at, started + slot.delay)

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
        if not math.isinf(slot.next_at):
            slot.next_at = slot.last_start + slot.delay
