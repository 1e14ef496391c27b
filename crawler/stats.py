"""Counters of a crawl and the final report (the live view is `crawler.engine.live`)."""

from __future__ import annotations

import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table


@dataclass(slots=True)
class CrawlStats:
    """What a crawl did. Returned by `crawl()` and stored as JSON in `crawls.stats`."""

    crawl_id: int = 0
    status: str = "running"            # finished | interrupted | failed
    stop_reason: str | None = None     # complete | max_pages | max_duration | interrupted
    output: Path = Path()
    pages: int = 0
    errors: int = 0
    items: int = 0
    retries: int = 0
    noindex: int = 0  # pages stored without title, text and body (robots noindex)
    bytes: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    errors_by_kind: Counter[str] = field(default_factory=Counter)
    dropped: Counter[str] = field(default_factory=Counter)
    # fetched, urls, scheduled, children, missing, not_fetched (see crawler/sitemaps/reader.py)
    sitemaps: Counter[str] = field(default_factory=Counter)
    # {proxy (no credentials): {requests, failures, last_error}} when proxies were used
    proxies: dict[str, dict[str, Any]] = field(default_factory=dict)
    # requests that reached their end in this run: stored, failed, refused or
    # skipped (a redirect counts once, at its last hop); the live view's "done"
    ended: int = 0
    duration: float = 0.0
    started: float = field(default_factory=time.monotonic)

    @property
    def pages_per_second(self) -> float:
        elapsed = self.duration or (time.monotonic() - self.started)
        return self.pages / elapsed if elapsed > 0 else 0.0

    def count_error(self, kind: str) -> None:
        self.errors += 1
        self.errors_by_kind[kind] += 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status, "stop_reason": self.stop_reason, "pages": self.pages,
            "errors": self.errors, "items": self.items, "retries": self.retries,
            "noindex": self.noindex, "bytes": self.bytes,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "errors_by_kind": dict(self.errors_by_kind), "dropped": dict(self.dropped),
            "sitemaps": dict(self.sitemaps),
            **({"proxies": self.proxies} if self.proxies else {}),
            "duration": round(self.duration, 3),
            "pages_per_second": round(self.pages_per_second, 2),
        }


def report(stats: CrawlStats, stream: TextIO | None = None) -> None:
    """Print the end-of-crawl summary."""
    console = Console(file=stream or sys.stderr, highlight=False)
    table = Table(title=f"crawl {stats.crawl_id}: {stats.status} ({stats.stop_reason})",
                  show_header=False, title_justify="left")
    table.add_column(style="dim")
    table.add_column()
    table.add_row("pages", f"{stats.pages:,}")
    table.add_row("by status", _counts(stats.by_status))
    table.add_row("bytes", size_text(stats.bytes))
    table.add_row("items", f"{stats.items:,}")
    table.add_row("errors", f"{stats.errors:,}  {_counts(stats.errors_by_kind)}".rstrip())
    table.add_row("retries", f"{stats.retries:,}")
    table.add_row("dropped", _counts(stats.dropped) or "0")
    if stats.sitemaps:
        table.add_row("sitemaps", _counts(stats.sitemaps))
    table.add_row("duration", clock(stats.duration))
    table.add_row("pages/s", f"{stats.pages_per_second:,.1f}")
    table.add_row("output", str(stats.output))
    console.print(table)


def _counts(counter: Counter[Any]) -> str:
    return "  ".join(f"{key}: {n:,}" for key, n in sorted(counter.items(), key=str))


def size_text(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1024
    return f"{n:,.1f} GiB"


def clock(seconds: float) -> str:
    """Seconds as h:mm:ss.s."""
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours:d}:{minutes:02d}:{secs:04.1f}"
