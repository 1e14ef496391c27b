"""What the HTML report draws that `crawler stats` does not list: time series and per-host spread.

All aggregation is in SQL except the latency quantiles per host (SQLite has
no percentile). Times are bucketed so a chart has at most ~80 points however
long the crawl ran; a resumed crawl shows the gap between its runs.
"""

from __future__ import annotations

import sqlite3
import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from crawler.cli.query import execute
from crawler.cli.report import Rows, url_host

BUCKETS = 80
NICE_WIDTHS = (0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600,
               7200, 10800, 21600, 43200, 86400)
# Errors that mean no response came (as opposed to an error status, which is a page).
NO_RESPONSE = ("connection", "timeout", "too_large", "invalid_url", "redirect", "robots")
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
# Half a millisecond added before bucketing: julianday() differences are off by ~1e-5 s,
# which would put a page at exactly 2.5 s into the bucket before (times are ms precise).
SLACK = 0.0005


@dataclass
class Series:
    """Pages over time, in buckets of `width` seconds starting at `start`."""

    width: float
    times: list[str] = field(default_factory=list)     # each bucket's start, ISO 8601 UTC
    pages_per_second: list[float] = field(default_factory=list)
    by_class: dict[str, list[int]] = field(default_factory=dict)  # 2xx..5xx, "no response"


@dataclass
class Extra:
    """The report's additions to `report.Report`."""

    series: Series
    host_latency: Rows  # host, pages, p50_ms, p95_ms, mean_ms (the busiest hosts)
    biggest: Rows       # url, size, status, content_type


def build_extra(conn: sqlite3.Connection, cid: int, *, top: int = 10,
                hosts: int = 15) -> Extra:
    conn.create_function("url_host", 1, url_host, deterministic=True)
    return Extra(series=time_series(conn, cid), host_latency=host_latency(conn, cid, hosts),
                 biggest=_rows(conn, """
                     SELECT url, size, status, content_type FROM pages
                     WHERE crawl_id = ? AND size > 0 ORDER BY size DESC, id LIMIT ?""",
                               (cid, top)))


def _rows(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> Rows:
    cursor = execute(conn, sql, params)
    names = [c[0] for c in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def time_series(conn: sqlite3.Connection, cid: int) -> Series:
    """Pages per second and pages by status class per bucket, with failures by the time."""
    first, last = execute(conn, """
        SELECT min(t), max(t) FROM (
            SELECT fetched_at AS t FROM pages WHERE crawl_id = ?1
            UNION ALL SELECT at FROM errors WHERE crawl_id = ?1)""", (cid,)).fetchone()
    if first is None:
        return Series(width=1.0)
    start = _parse_time(first)
    span = (_parse_time(last) - start).total_seconds()
    width = next((w for w in NICE_WIDTHS if w * BUCKETS >= span), NICE_WIDTHS[-1])
    count = int((span + SLACK) / width) + 1
    series = Series(width=width, by_class={name: [0] * count
                                           for name in (*STATUS_CLASSES, "no response")})
    series.times = [_iso(start + timedelta(seconds=i * width)) for i in range(count)]
    totals = [0] * count
    for bucket, klass, pages in _bucketed_pages(conn, cid, first, width):
        index = min(int(bucket), count - 1)
        totals[index] += pages
        name = f"{klass}xx"
        if name in series.by_class:
            series.by_class[name][index] += pages
    for bucket, failures in _bucketed_failures(conn, cid, first, width):
        series.by_class["no response"][min(int(bucket), count - 1)] += failures
    series.pages_per_second = [round(n / width, 2) for n in totals]
    return series


def _bucketed_pages(conn: sqlite3.Connection, cid: int, first: str,
                    width: float) -> list[tuple[int, int, int]]:
    return execute(conn, """
        SELECT CAST(((julianday(fetched_at) - julianday(?2)) * 86400.0 + ?4) / ?3 AS INTEGER),
               status / 100, count(*)
        FROM pages WHERE crawl_id = ?1 GROUP BY 1, 2""", (cid, first, width, SLACK)).fetchall()


def _bucketed_failures(conn: sqlite3.Connection, cid: int, first: str,
                       width: float) -> list[tuple[int, int]]:
    kinds = ", ".join(f"'{k}'" for k in NO_RESPONSE)
    return execute(conn, f"""
        SELECT CAST(((julianday(at) - julianday(?2)) * 86400.0 + ?4) / ?3 AS INTEGER), count(*)
        FROM errors WHERE crawl_id = ?1 AND kind IN ({kinds}) AND status IS NULL
        GROUP BY 1""", (cid, first, width, SLACK)).fetchall()


def host_latency(conn: sqlite3.Connection, cid: int, hosts: int) -> Rows:
    """The busiest hosts with their pages and latency: median, 95th percentile and mean."""
    busiest = [row[0] for row in execute(conn, """
        SELECT url_host(url), count(*) AS n FROM pages WHERE crawl_id = ?
        GROUP BY 1 ORDER BY n DESC, 1 LIMIT ?""", (cid, hosts)).fetchall()]
    times: dict[str, list[float]] = {host: [] for host in busiest}
    pages: dict[str, int] = dict.fromkeys(busiest, 0)
    for host, elapsed in execute(conn, """
            SELECT url_host(url), elapsed_ms FROM pages WHERE crawl_id = ?""", (cid,)):
        if host in pages:
            pages[host] += 1
            if elapsed is not None:
                times[host].append(elapsed)
    return [{"host": host, "pages": pages[host], **_spread(times[host])} for host in busiest]


def _spread(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50_ms": None, "p95_ms": None, "mean_ms": None}
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered), 1), "p95_ms": round(p95, 1),
            "mean_ms": round(statistics.fmean(ordered), 1)}


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
