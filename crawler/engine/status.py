"""What a running crawl is doing and waiting for, read from the engine's own state.

The live view (`engine/live.py`) shows this; nothing here is guessed. Each
host's state comes from its `HostSlot` (in flight, delay, a Retry-After or a
robots.txt back-off in `cool_until`, robots.txt being fetched or given up),
its window in the frontier and the retries waiting in the scheduler. When
nothing is in flight, `waiting_for` says why, from the host whose turn comes
first: "robots.txt of books.toscrape.com unreachable: name does not resolve;
try 2 of 5 in 20 s".
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field

from crawler.config import CrawlConfig
from crawler.engine.scheduler import Scheduler
from crawler.frontier.windows import Windows
from crawler.politeness.slots import HostSlot
from crawler.stats import CrawlStats
from crawler.urls import parse_url

TOP_HOSTS = 8


@dataclass(frozen=True, slots=True)
class HostStatus:
    """One host as the live view shows it."""

    host: str          # host[:port], as people write it
    queued: int        # requests of this host in memory
    more: bool         # and more may wait in the frontier
    in_flight: int
    pages: int         # stored from this host in this run
    pages_per_second: float
    state: str         # fetching | delay | cooling | robots | retry | given up | ready | idle
    detail: str        # what it waits for, in words
    ready_in: float    # seconds until it may send again (0: now)


@dataclass(frozen=True, slots=True)
class CrawlStatus:
    """The crawl at one moment: the counts, the busiest hosts and what it waits for."""

    queued: int
    in_flight: int
    retries_waiting: int
    hosts: list[HostStatus] = field(default_factory=list)  # the busiest, at most TOP_HOSTS
    hosts_active: int = 0   # hosts with anything queued, in flight or waiting
    waiting_for: str | None = None  # set when nothing is in flight and work remains
    done: int | None = None    # with `total`: the progress bar (max_pages, or a URL list)
    total: int | None = None
    errors_by_kind: dict[str, int] = field(default_factory=dict)


class Rates:
    """Pages per second of each host, smoothed between two looks."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, int, float]] = {}  # host: (when, pages, rate)

    def update(self, host: str, pages: int, now: float) -> float:
        when, before, rate = self._last.get(host, (now, pages, 0.0))
        if now - when >= 0.5:
            rate = 0.5 * rate + 0.5 * (pages - before) / (now - when)
            when, before = now, pages
        self._last[host] = (when, before, rate)
        return rate


def crawl_status(scheduler: Scheduler, windows: Windows, stats: CrawlStats,
                 config: CrawlConfig, *, fetch_only: bool, rates: Rates,
                 now: float | None = None) -> CrawlStatus:
    """The state of the crawl now, for the live view."""
    now = time.monotonic() if now is None else now
    retries = _retries_by_host(scheduler)
    # A crawl may know thousands of hosts: only those with something going on are looked at.
    hosts = [_host(key, slot, windows, scheduler, retries.get(key), rates, now)
             for key, slot in list(scheduler.politeness.slots.items())
             if slot.active or slot.robots_pending or slot.cool_until > now
             or key in retries or windows.pending(key)]
    active = [h for h in hosts if h.state != "idle"]
    active.sort(key=lambda h: (-h.in_flight, -h.pages_per_second, -h.queued, h.host))
    queued, waiting = windows.size(), len(scheduler.retries_waiting)
    if fetch_only:
        left = queued + scheduler.in_flight + waiting
        done, total = stats.ended, stats.ended + left
    else:
        done, total = _page_bound(scheduler, config)
    waiting_for = None
    if scheduler.in_flight == 0 and not scheduler.finished_all:
        waiting_for = explain_wait(active, stopping=scheduler.stop_reason is not None)
    return CrawlStatus(queued=queued, in_flight=scheduler.in_flight, retries_waiting=waiting,
                       hosts=active[:TOP_HOSTS], hosts_active=len(active),
                       waiting_for=waiting_for, done=done, total=total,
                       errors_by_kind=dict(stats.errors_by_kind))


def _page_bound(scheduler: Scheduler, config: CrawlConfig) -> tuple[int | None, int | None]:
    """(pages done, `limits.max_pages`) when there is such a limit."""
    max_pages = config.limits.max_pages
    if max_pages is not None:
        done = scheduler.limits.completed_before + scheduler.limits.completed
        return min(done, max_pages), max_pages
    return None, None


def _retries_by_host(scheduler: Scheduler) -> dict[str, tuple[int, float, str]]:
    """host: (retries waiting, the earliest one's time, why it failed)."""
    found: dict[str, tuple[int, float, str]] = {}
    counts: Counter[str] = Counter()
    for at, request, host in scheduler.retries_waiting.entries():
        counts[host] += 1
        if host not in found or at < found[host][1]:
            found[host] = (0, at, request.failures[-1] if request.failures else "failed")
    return {host: (counts[host], at, why) for host, (_, at, why) in found.items()}


def _host(key: str, slot: HostSlot, windows: Windows, scheduler: Scheduler,
          retry: tuple[int, float, str] | None, rates: Rates, now: float) -> HostStatus:
    queued, more = windows.host_queue(key)
    state, detail, ready_in = host_state(slot, now, queued=queued or more, retry=retry,
                                         tries=scheduler.politeness.config.robots_tries)
    return HostStatus(host=display_host(key), queued=queued, more=more, in_flight=slot.active,
                      pages=slot.pages, pages_per_second=rates.update(key, slot.pages, now),
                      state=state, detail=detail, ready_in=ready_in)


def host_state(slot: HostSlot, now: float, *, queued: bool,
               retry: tuple[int, float, str] | None, tries: int) -> tuple[str, str, float]:
    """(state, what it waits for in words, seconds until it may send) of one host."""
    robots = slot.robots
    if robots is not None and robots.disallow_all and robots.reason:
        return "given up", f"given up: {robots.reason}", 0.0
    if slot.robots_pending:
        again = f" (try {slot.robots_failures + 1} of {tries})" if slot.robots_failures else ""
        return "robots", f"fetching robots.txt{again}", 0.0
    if slot.active:
        return "fetching", "fetching", 0.0
    wait = max(0.0, slot.cool_until - now)
    if wait > 0 and robots is None and slot.robots_failures:
        return "robots", (f"robots.txt unreachable: {plain_reason(slot.robots_error)}; "
                          f"try {slot.robots_failures + 1} of {tries} in {seconds(wait)}"), wait
    if wait > 0:
        return "cooling", f"cooling down: {slot.cool_reason or 'Retry-After'}, " \
                          f"{seconds(wait)} left", wait
    if queued and slot.next_at > now:
        gap = slot.next_at - now
        return "delay", f"delay {slot.delay:g} s, next in {seconds(gap)}", gap
    if retry is not None:
        count, at, why = retry
        wait = max(0.0, at - now)
        return "retry", f"{count} to retry ({why}), the next in {seconds(wait)}", wait
    if queued:
        return "ready", "ready", 0.0
    return "idle", "idle", 0.0


def explain_wait(hosts: list[HostStatus], *, stopping: bool) -> str:
    """Why nothing is in flight: the host whose turn comes first, in one line."""
    if stopping:
        return "stopping: writing what was fetched"
    blocked = [h for h in hosts if h.state not in ("idle", "given up", "ready")]
    if not blocked:
        return "loading the next requests from the frontier"
    first = min(blocked, key=lambda h: h.ready_in)
    text = _describe(first)
    others = len(blocked) - 1
    return text + (f" (and {others} more host{'s' if others > 1 else ''} waiting)"
                   if others else "")


def _describe(host: HostStatus) -> str:
    """One host's wait as a sentence that names it."""
    if host.state == "robots":  # "robots.txt unreachable: ...", "fetching robots.txt ..."
        before, _, after = host.detail.partition("robots.txt")
        return f"{before}robots.txt of {host.host}{after}"
    return f"{host.host}: {host.detail}"


def display_host(key: str) -> str:
    """host[:port] of a host key (`scheme://host:port`), the port only when not the default."""
    url = parse_url(key)
    host = url.host or key
    return host if url.is_default_port() else f"{host}:{url.port}"


_PLAIN = [
    (re.compile(r"DNSError|Name or service not known|nodename nor servname|"
                r"Temporary failure in name resolution|No address associated", re.I),
     "name does not resolve"),
    (re.compile(r"Connection refused|Connect call failed", re.I), "connection refused"),
    (re.compile(r"ssl|certificate", re.I), "TLS handshake failed"),
    (re.compile(r"Connection reset", re.I), "connection reset"),
]


def plain_reason(message: str) -> str:
    """A fetch failure in a few words: 'name does not resolve', 'HTTP 503', 'connect timed out'."""
    for pattern, words in _PLAIN:
        if pattern.search(message):
            return words
    return message if len(message) <= 80 else message[:77] + "..."


def seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"
