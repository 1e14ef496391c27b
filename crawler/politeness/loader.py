"""robots.txt fetched in the background, one fetch per host at a time.

The scheduler does not dispatch a host whose rules are missing or stale: it
asks `RobotsLoader.start`, which marks the slot pending and fetches in a
task; when the answer arrives the politeness layer takes it (rules,
Crawl-delay, or a back-off) and `on_known` puts the host back in line.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from crawler.politeness.robots import RobotsRules
from crawler.politeness.slots import HostSlot, Politeness

Load = Callable[[str], Awaitable[RobotsRules]]


class RobotsLoader:
    """Runs robots.txt fetches and hands their answers to the host slots."""

    def __init__(self, load: Load, politeness: Politeness, *, agent: str,
                 on_known: Callable[[str, HostSlot], None]) -> None:
        self._load = load
        self._politeness = politeness
        self._agent = agent
        self._on_known = on_known
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self, host: str, slot: HostSlot) -> None:
        """Fetch `host`'s robots.txt; the host waits (robots_pending) until it is known."""
        slot.robots_pending = True
        task = asyncio.create_task(self._fetch(host, slot), name=f"robots {host}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _fetch(self, host: str, slot: HostSlot) -> None:
        started = time.monotonic()
        rules = RobotsRules(None)  # cancelled or a bug: no rules rather than a stuck host
        try:
            rules = await self._load(host)
        finally:
            slot.robots_pending = False
            self._politeness.robots_fetched(host, rules, agent=self._agent, started=started,
                                            now=time.monotonic())
        self._on_known(host, slot)

    def cancel(self) -> None:
        """Cancel the fetches still running (the crawl is over)."""
        for task in self._tasks:
            task.cancel()
