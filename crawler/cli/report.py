"""`crawler stats`: what a crawl fetched, how fast, and what broke.

`build_report` reads one crawl (the latest by default) into a `Report` of
plain lists of dicts, so it can be printed as text (`render_text`) or as
JSON (`dataclasses.asdict`). All aggregation happens in SQL; only the short
top-N lists come back to Python.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from crawler.cli import duplicates
from crawler.cli.query import execute, format_table, resolve_crawl

# Kinds of error that mean "following this link does not get you a page".
BROKEN_KINDS = ("http", "connection", "timeout", "invalid_url")
LINKERS_SHOWN = 5

Rows = list[dict[str, Any]]


@dataclass
class Report:
    """One crawl's numbers; every section is a list of row dicts."""

    crawl: dict[str, Any]
    crawls: Rows = field(default_factory=list)
    by_status: Rows = field(default_factory=list)
    by_content_type: Rows = field(default_factory=list)
    by_host: Rows = field(default_factory=list)
    hosts_total: int = 0
    depth: Rows = field(default_factory=list)
    slowest: Rows = field(default_factory=list)
    errors_by_kind: Rows = field(default_factory=list)
    items_by_type: Rows = field(default_factory=list)
    broken_links: Rows = field(default_factory=list)
    broken_total: int = 0
    # Near-duplicate groups (close main-text SimHashes); None: no page has a SimHash.
    near_duplicates: Rows | None = None
    near_duplicate_groups: int = 0
    exact_duplicate_groups: int = 0


def url_host(url: str | None) -> str | None:
    """host[:port] of a URL, lower case; the SQL function `url_host` in reports."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        return f"{host}:{parts.port}" if parts.port else host
    except ValueError:
        return None


def _rows(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> Rows:
    cursor = execute(conn, sql, params)
    names = [c[0] for c in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def build_report(conn: sqlite3.Connection, crawl_id: int | None = None, *,
                 top: int = 10, max_distance: int = duplicates.sim.MAX_DISTANCE) -> Report:
    """Aggregate one crawl; `top` bounds the host, slowest, broken-link and duplicate lists."""
    conn.create_function("url_host", 1, url_host, deterministic=True)
    cid = resolve_crawl(conn, crawl_id)
    p = (cid,)
    report = Report(crawl=_crawl_summary(conn, cid), crawls=_all_crawls(conn))
    report.by_status = _rows(conn, """
        SELECT status, count(*) AS pages FROM pages WHERE crawl_id = ?
        GROUP BY status ORDER BY status""", p)
    report.by_content_type = _rows(conn, """
        SELECT coalesce(content_type, '(none)') AS content_type, count(*) AS pages,
               sum(size) AS bytes
        FROM pages WHERE crawl_id = ? GROUP BY 1 ORDER BY pages DESC, 1""", p)
    report.by_host, report.hosts_total = _hosts(conn, cid, top)
    report.depth = _rows(conn, """
        SELECT depth, count(*) AS pages FROM pages WHERE crawl_id = ?
        GROUP BY depth ORDER BY depth""", p)
    report.slowest = _rows(conn, """
        SELECT url, status, round(elapsed_ms, 1) AS elapsed_ms, size FROM pages
        WHERE crawl_id = ? AND elapsed_ms IS NOT NULL
        ORDER BY elapsed_ms DESC, id LIMIT ?""", (cid, top))
    report.errors_by_kind = _rows(conn, """
        SELECT kind, count(*) AS errors FROM errors WHERE crawl_id = ?
        GROUP BY kind ORDER BY errors DESC, kind""", p)
    report.items_by_type = _rows(conn, """
        SELECT type, count(*) AS items FROM items WHERE crawl_id = ?
        GROUP BY type ORDER BY items DESC, type""", p)
    report.broken_links, report.broken_total = _broken_links(conn, cid, top)
    _duplicates(conn, cid, report, top, max_distance)
    return report


def _duplicates(conn: sqlite3.Connection, cid: int, report: Report, top: int,
                max_distance: int) -> None:
    report.exact_duplicate_groups = len(duplicates.exact_groups(conn, cid))
    hashed = execute(conn, "SELECT count(simhash) FROM pages WHERE crawl_id = ?",
                     (cid,)).fetchone()[0]
    if not hashed:
        return
    groups = duplicates.near_groups(conn, cid, max_distance=max_distance)
    report.near_duplicates = duplicates.group_rows(groups, top)
    report.near_duplicate_groups = len(groups)


def _crawl_summary(conn: sqlite3.Connection, cid: int) -> dict[str, Any]:
    row = _rows(conn, """
        SELECT id, name, status, started_at, finished_at,
               (SELECT count(*) FROM pages WHERE crawl_id = c.id) AS pages,
               (SELECT coalesce(sum(size), 0) FROM pages WHERE crawl_id = c.id) AS bytes,
               (SELECT count(*) FROM items WHERE crawl_id = c.id) AS items,
               (SELECT count(*) FROM errors WHERE crawl_id = c.id) AS errors,
               (SELECT count(*) FROM links JOIN pages ON pages.id = links.page_id
                WHERE pages.crawl_id = c.id) AS links
        FROM crawls AS c WHERE id = ?""", (cid,))[0]
    row["duration_s"] = _seconds_between(row["started_at"], row["finished_at"])
    return row


def _all_crawls(conn: sqlite3.Connection) -> Rows:
    return _rows(conn, """
        SELECT c.id, c.name, c.status, c.started_at,
               (SELECT count(*) FROM pages WHERE crawl_id = c.id) AS pages
        FROM crawls AS c ORDER BY c.id""", ())


def _seconds_between(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    try:
        a = datetime.fromisoformat(start.replace("Z", "+00:00"))
        b = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    return round((b - a).total_seconds(), 3)


def _hosts(conn: sqlite3.Connection, cid: int, top: int) -> tuple[Rows, int]:
    rows = _rows(conn, """
        WITH p AS (SELECT url_host(url) AS host, count(*) AS pages,
                          avg(elapsed_ms) AS mean_ms
                   FROM pages WHERE crawl_id = ?1 GROUP BY 1),
             e AS (SELECT url_host(url) AS host, count(*) AS errors
                   FROM errors WHERE crawl_id = ?1 GROUP BY 1),
             hosts AS (SELECT host FROM p UNION SELECT host FROM e)
        SELECT coalesce(hosts.host, '(invalid)') AS host, coalesce(p.pages, 0) AS pages,
               coalesce(e.errors, 0) AS errors, round(p.mean_ms, 1) AS mean_ms
        FROM hosts LEFT JOIN p ON p.host IS hosts.host LEFT JOIN e ON e.host IS hosts.host
        ORDER BY pages DESC, errors DESC, 1""", (cid,))
    return rows[:top], len(rows)


def _broken_links(conn: sqlite3.Connection, cid: int, top: int) -> tuple[Rows, int]:
    kinds = ", ".join(f"'{k}'" for k in BROKEN_KINDS)
    rows = _rows(conn, f"""
        SELECT e.url, e.kind, e.status, e.message, e.referrer,
               (SELECT count(DISTINCT l.page_id) FROM links AS l
                JOIN pages AS p ON p.id = l.page_id
                WHERE l.url = e.url AND p.crawl_id = e.crawl_id) AS linked_from_count
        FROM errors AS e WHERE e.crawl_id = ? AND e.kind IN ({kinds})
        GROUP BY e.url ORDER BY linked_from_count DESC, e.url""", (cid,))
    for row in rows[:top]:
        row["linked_from"] = _linkers(conn, cid, row["url"])
        if not row["linked_from"] and row["referrer"]:
            # Links were not stored (store.links: false): the referrer is all we know.
            row["linked_from"] = [row["referrer"]]
            row["linked_from_count"] = 1
        del row["referrer"]
    return rows[:top], len(rows)


def _linkers(conn: sqlite3.Connection, cid: int, url: str) -> list[str]:
    cursor = execute(conn, """
        SELECT DISTINCT p.url FROM links AS l JOIN pages AS p ON p.id = l.page_id
        WHERE l.url = ? AND p.crawl_id = ? ORDER BY p.url LIMIT ?""",
        (url, cid, LINKERS_SHOWN))
    return [row[0] for row in cursor.fetchall()]


def to_json(report: Report) -> str:
    """The report as indented JSON (the same sections as the text)."""
    return json.dumps(asdict(report), indent=2, ensure_ascii=False)


def render_text(report: Report) -> str:
    """The report as aligned plain text, one titled section after another."""
    lines = _header(report)
    sections: list[tuple[str, Rows]] = [
        ("Pages by status", report.by_status),
        ("Pages by content type", report.by_content_type),
        (_shown("Hosts", len(report.by_host), report.hosts_total), report.by_host),
        ("Depth", _with_bars(report.depth)),
        ("Slowest pages", report.slowest),
        ("Errors by kind", report.errors_by_kind),
        ("Items by type", report.items_by_type),
    ]
    for title, rows in sections:
        lines += _section(title, rows)
    lines += _broken_section(report)
    lines += _duplicate_section(report)
    return "\n".join(lines) + "\n"


def _duplicate_section(report: Report) -> list[str]:
    exact = f"{report.exact_duplicate_groups} group(s) of pages with identical bodies"
    if report.near_duplicates is None:
        return ["", "Near-duplicate pages", f"  not computed: no page has a SimHash (crawl with "
                f"store.markdown: true); {exact}"]
    title = _shown("Near-duplicate pages", len(report.near_duplicates),
                   report.near_duplicate_groups) + f" ({exact})"
    if not report.near_duplicates:
        return ["", title, "  (none)"]
    lines = ["", title]
    for group in report.near_duplicates:
        how = "identical bodies" if group["identical"] else f"within {group['bits']} bits"
        lines.append(f"  {group['pages']} pages, {how}: {group['kept']}")
        lines += [f"      = {url}" for url in group["copies"][:LINKERS_SHOWN]]
        if len(group["copies"]) > LINKERS_SHOWN:
            lines.append(f"      = ... and {len(group['copies']) - LINKERS_SHOWN} more")
    return lines


def _header(report: Report) -> list[str]:
    c = report.crawl
    lines = [f"Crawl {c['id']} '{c['name']}' ({c['status']})",
             f"  started {c['started_at']}, finished {c['finished_at'] or '-'}"
             + (f" ({c['duration_s']:g} s)" if c["duration_s"] is not None else ""),
             f"  {c['pages']} pages ({_size(c['bytes'])}), {c['links']} links, "
             f"{c['items']} items, {c['errors']} errors"]
    if len(report.crawls) > 1:
        lines += _section("Crawls in this database", report.crawls)
    return lines


def _section(title: str, rows: Rows) -> list[str]:
    if not rows:
        return ["", title, "  (none)"]
    names = list(rows[0])
    table = format_table(names, [[row[n] for n in names] for row in rows])
    return ["", title, *("  " + line for line in table)]


def _shown(title: str, shown: int, total: int) -> str:
    return f"{title} (top {shown} of {total})" if total > shown else title


def _with_bars(rows: Rows, width: int = 40) -> Rows:
    peak = max((row["pages"] for row in rows), default=0)
    return [{**row, "": "#" * max(1, round(width * row["pages"] / peak))} for row in rows]


def _broken_section(report: Report) -> list[str]:
    title = _shown("Broken links", len(report.broken_links), report.broken_total)
    if not report.broken_links:
        return ["", title, "  (none)"]
    lines = ["", title]
    for row in report.broken_links:
        what = f"{row['status']}" if row["status"] else row["kind"]
        lines.append(f"  {row['url']}  [{what}] {row['message']}")
        more = row["linked_from_count"] - len(row["linked_from"])
        lines += [f"      <- {src}" for src in row["linked_from"]]
        if more > 0:
            lines.append(f"      <- ... and {more} more")
    return lines


def _size(n: int | None) -> str:
    value = float(n or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
