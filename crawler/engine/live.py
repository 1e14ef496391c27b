"""The live view of a running crawl: on a terminal a panel that explains itself, else plain lines.

On a terminal (rich, redrawn twice a second): the counters; a progress bar
with an ETA when the work is bounded (`limits.max_pages`, or the URL list of
`crawler fetch`); errors by kind; the busiest hosts with what each is doing
or waiting for; and, when nothing is in flight, what the crawl waits for.
Without a terminal, a plain line every 10 s, with the same waiting reason.
Everything shown comes from `engine/status.py`, which reads the engine's state.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from typing import TextIO

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from crawler.engine.status import CrawlStatus, HostStatus
from crawler.stats import CrawlStats, clock

STATE_STYLE = {"fetching": "green", "delay": "cyan", "cooling": "yellow", "robots": "yellow",
               "retry": "yellow", "given up": "red", "ready": "", "idle": "dim"}


class Progress:
    """Live progress on a terminal (rich), or a plain line every few seconds otherwise."""

    def __init__(self, stats: CrawlStats, status: Callable[[], CrawlStatus], *,
                 stream: TextIO | None = None, interval: float | None = None,
                 terminal: bool | None = None) -> None:
        self.stats = stats
        self.status = status
        self.stream = stream or sys.stderr
        self.console = Console(file=self.stream, stderr=self.stream is sys.stderr,
                               force_terminal=terminal)
        self.live = self.console.is_terminal
        self.interval = interval if interval is not None else (0.5 if self.live else 10.0)
        self._eta = Eta()

    async def run(self) -> None:
        """Refresh until cancelled; never spending more than ~5% of the time on it (a crawl
        of many thousands of hosts is refreshed less often)."""
        if not self.live:
            while True:
                await asyncio.sleep(self.interval)
                print(self.line().plain, file=self.stream, flush=True)
        with Live(self.panel(), console=self.console, refresh_per_second=4,
                  transient=True) as live:
            cost = 0.0
            while True:
                await asyncio.sleep(max(self.interval, 20 * cost))
                started = time.perf_counter()
                live.update(self.panel())
                cost = time.perf_counter() - started

    # ---- what is drawn ----

    def line(self, status: CrawlStatus | None = None) -> Text:
        """The counters in one line; with the progress and the waiting reason when there are."""
        status = status or self.status()
        stats = self.stats
        text = Text.assemble(
            ("pages ", "dim"), (f"{stats.pages:,}", "bold"),
            ("  pages/s ", "dim"), f"{stats.pages_per_second:,.1f}",
            ("  queued ", "dim"), f"{status.queued:,}",
            ("  in flight ", "dim"), f"{status.in_flight:,}",
            ("  errors ", "dim"), (f"{stats.errors:,}", "red" if stats.errors else ""),
            ("  items ", "dim"), f"{stats.items:,}",
            ("  elapsed ", "dim"), clock(time.monotonic() - stats.started),
        )
        if status.retries_waiting:
            text.append_text(Text.assemble(("  retries waiting ", "dim"),
                                           f"{status.retries_waiting:,}"))
        if status.total:
            text.append_text(Text.assemble(("  done ", "dim"), self._done(status)))
        if status.waiting_for:
            text.append_text(Text.assemble(("  waiting: ", "yellow"), status.waiting_for))
        return text

    def panel(self) -> RenderableType:
        """Everything, for a terminal."""
        status = self.status()
        parts: list[RenderableType] = [self.line(_without_extras(status))]
        if status.total:
            done = min(status.done or 0, status.total)
            bar = Table.grid(padding=(0, 1))
            bar.add_row(ProgressBar(total=status.total, completed=done, width=40),
                        Text(self._done(status)))
            parts.append(bar)
        if status.errors_by_kind:
            kinds = sorted(status.errors_by_kind.items(), key=lambda kv: (-kv[1], kv[0]))
            parts.append(Text.assemble(("errors by kind: ", "dim"), "  ".join(
                f"{kind} {count:,}" for kind, count in kinds), style="red"))
        if status.hosts:
            parts.append(hosts_table(status))
        if status.waiting_for:
            parts.append(Text.assemble(("waiting: ", "bold yellow"), status.waiting_for))
        return Group(*parts)

    def _done(self, status: CrawlStatus) -> str:
        done, total = status.done or 0, status.total or 0
        share = f"{100 * done / total:.0f}%" if total else ""
        eta = self._eta.update(done, total, time.monotonic())
        return f"{share} {done:,}/{total:,}" + (f"  ETA {clock(eta)[:-2]}" if eta else "")


def hosts_table(status: CrawlStatus) -> Table:
    """The busiest hosts: queued, in flight, pages/s and what each is doing or waiting for."""
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="dim")
    for name, justify in (("host", "left"), ("queued", "right"), ("in flight", "right"),
                          ("pages", "right"), ("pages/s", "right"), ("state", "left")):
        table.add_column(name, justify=justify, no_wrap=name != "state")  # type: ignore[arg-type]
    for host in status.hosts:
        table.add_row(host.host, _queued(host), f"{host.in_flight:,}", f"{host.pages:,}",
                      f"{host.pages_per_second:,.1f}",
                      Text(host.detail, style=STATE_STYLE.get(host.state, "")))
    more = status.hosts_active - len(status.hosts)
    if more > 0:
        table.add_row(Text(f"... {more:,} more hosts", style="dim"))
    return table


def _queued(host: HostStatus) -> str:
    return f"{host.queued:,}" + ("+" if host.more else "")


def _without_extras(status: CrawlStatus) -> CrawlStatus:
    """The status without what the panel shows on lines of its own."""
    return CrawlStatus(queued=status.queued, in_flight=status.in_flight,
                       retries_waiting=status.retries_waiting)


class Eta:
    """Time left at the pace of this run so far (None until there is a pace)."""

    def __init__(self) -> None:
        self._start: tuple[float, int] | None = None

    def update(self, done: int, total: int, now: float) -> float | None:
        if self._start is None:
            self._start = (now, done)
            return None
        since, done_then = self._start
        if done <= done_then or now - since < 1.0:
            return None
        rate = (done - done_then) / (now - since)
        return max(0.0, (total - done) / rate)
