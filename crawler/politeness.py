"""Per-host slots: how many requests a host may have in flight and how far apart they start.

One small `HostSlot` per host key, created lazily from the config default or
the first matching `politeness.hosts` rule (Scrapy's downloader slots, minus
the global settings).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from crawler.config import PolitenessConfig
from crawler.robots import RobotsRules
from crawler.urls import parse_url


@dataclass(slots=True)
class HostSlot:
    concurrency: int
    delay: float
    active: int = 0
    next_at: float = 0.0      # earliest start of the next request (monotonic seconds)
    in_heap: bool = False     # the scheduler's ready-heap holds an entry for this host
    cool_until: float = 0.0  # a Retry-After: no request starts before this
    robots: RobotsRules | None = None  # None: not known yet
    robots_pending: bool = False       # robots.txt is being fetched

    def has_room(self) -> bool:
        return self.active < self.concurrency

    def ready(self, now: float) -> bool:
        return self.has_room() and now >= self.ready_at()

    def ready_at(self) -> float:
        """The earliest time the next request may start."""
        return max(self.next_at, self.cool_until)

    def dispatch(self, now: float) -> None:
        """A request was handed to a worker. Until it starts, the next start time is unknown."""
        self.active += 1
        self.next_at = math.inf if self.delay > 0 else now

    def start(self, now: float) -> None:
        """The request's fetch began: the delay counts from here, as the server sees it."""
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
