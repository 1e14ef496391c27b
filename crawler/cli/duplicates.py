"""Duplicate pages in a crawl database: exact (same body) and near (close SimHash).

Two notions, one way to choose among copies:

- *exact*: the same `pages.content_hash` (the body's SHA-256), the same
  bytes: a page reached under two URLs.
- *near*: main-content SimHashes (`pages.simhash`, kept with
  `store.markdown`) at most `max_distance` bits apart: a printer version, a
  URL with tracking parameters, a syndicated copy, a page whose only change
  is a date or a counter. Exact copies have equal SimHashes, so every exact
  group is inside a near one (when the page has main text at all).

Of each group one page is kept: the one whose URL is its own canonical URL
(`metadata ->> 'canonical'`), else the shortest URL (tracking parameters and
`/print/` paths make URLs longer), else the first fetched.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from crawler.cli.query import execute
from crawler.html import simhash as sim

DEDUPE = ("none", "exact", "near")


@dataclass
class Group:
    """Copies of one page: the one kept first, then the others."""

    pages: list[dict[str, Any]] = field(default_factory=list)  # id, url, simhash, ...
    identical: bool = False  # every body is the same (same content_hash)

    @property
    def kept(self) -> dict[str, Any]:
        return self.pages[0]

    def distance(self) -> int:
        """The most bits any copy's SimHash differs from the kept page's."""
        first = self.kept.get("simhash")
        return max((sim.distance(sim.from_signed(first), sim.from_signed(p["simhash"]))
                    for p in self.pages[1:] if first is not None and p.get("simhash") is not None),
                   default=0)


def _pages(conn: sqlite3.Connection, crawl_id: int | None, where: str) -> list[dict[str, Any]]:
    cursor = execute(conn, f"""
        SELECT id, url, simhash, content_hash, metadata ->> 'canonical' AS canonical
        FROM pages WHERE (:crawl IS NULL OR crawl_id = :crawl) AND {where} ORDER BY id""",
        {"crawl": crawl_id})
    names = [c[0] for c in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _kept_first(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The page to keep first: its own canonical URL, else the shortest URL, else the first."""
    def rank(page: dict[str, Any]) -> tuple[int, int, int]:
        own = page.get("canonical") is not None and page["canonical"] == page["url"]
        return (0 if own else 1, len(page["url"]), page["id"])
    return sorted(pages, key=rank)


def near_groups(conn: sqlite3.Connection, crawl_id: int | None, *,
                max_distance: int = sim.MAX_DISTANCE, where: str = "1") -> list[Group]:
    """Groups of near-duplicate pages (largest first) among pages with a SimHash."""
    pages = _pages(conn, crawl_id, f"simhash IS NOT NULL AND {where}")
    by_id = {page["id"]: page for page in pages}
    groups = []
    for ids in sim.clusters(((p["id"], p["simhash"]) for p in pages), max_distance):
        members = _kept_first([by_id[i] for i in ids])
        hashes = {p["content_hash"] for p in members}
        groups.append(Group(members, identical=len(hashes) == 1 and None not in hashes))
    return groups


def exact_groups(conn: sqlite3.Connection, crawl_id: int | None, *,
                 where: str = "1") -> list[Group]:
    """Groups of pages with the same body (content_hash), largest first."""
    by_hash: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for page in _pages(conn, crawl_id, f"content_hash IS NOT NULL AND {where}"):
        by_hash[page["content_hash"]].append(page)
    groups = [Group(_kept_first(pages), identical=True)
              for pages in by_hash.values() if len(pages) > 1]
    return sorted(groups, key=lambda g: -len(g.pages))


def left_out(conn: sqlite3.Connection, crawl_id: int | None, how: str, *,
             max_distance: int = sim.MAX_DISTANCE, where: str = "1") -> set[int]:
    """Ids of the pages `--dedupe how` leaves out: every copy but the kept one."""
    if how == "none":
        return set()
    groups = (exact_groups(conn, crawl_id, where=where) if how == "exact" else
              near_groups(conn, crawl_id, max_distance=max_distance, where=where))
    return {page["id"] for group in groups for page in group.pages[1:]}


def group_rows(groups: list[Group], top: int) -> list[dict[str, Any]]:
    """The largest groups as report rows: size, how far apart, the kept URL, the others."""
    return [{"pages": len(g.pages), "bits": g.distance(), "identical": g.identical,
             "kept": g.kept["url"], "copies": [p["url"] for p in g.pages[1:]]}
            for g in groups[:top]]
