"""When a crawl must stop: pages stored (over every run, or every process) and wall time."""

from __future__ import annotations

import time

from crawler.config import LimitsConfig


class Limits:
    """`limits.max_pages` and `limits.max_duration`, as the scheduler asks about them."""

    def __init__(self, limits: LimitsConfig) -> None:
        self.max_pages = limits.max_pages
        self.completed = 0          # requests of this run that stored a page
        self.completed_before = 0   # pages stored elsewhere: earlier runs, other processes
        duration = limits.max_duration
        self.deadline = None if duration is None else time.monotonic() + duration

    def deadline_in(self, seconds: float) -> None:
        """The crawl must end `seconds` from now (a cluster's clock says so)."""
        if self.deadline is not None:
            self.deadline = time.monotonic() + seconds

    def reached(self) -> str | None:
        """The limit the crawl has reached (the stop reason), or None."""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return "max_duration"
        if self.max_pages is not None and self.completed_before + self.completed >= self.max_pages:
            return "max_pages"
        return None

    def room_for(self, in_flight: int) -> bool:
        """Whether another request may start without passing max_pages."""
        return self.max_pages is None or (
            self.completed_before + self.completed + in_flight < self.max_pages)
