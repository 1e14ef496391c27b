"""`crawler merge OUT SHARD...`: the files of a distributed crawl's processes as one file.

Each process of a distributed crawl writes its own SQLite file (a shard)
with the usual schema. Merging gives one file that `crawler query`, `stats`,
`search` and `export` read as if one process had crawled:

- one `crawls` row: the earliest start, the latest end, the worst status,
  summed counters, and every run of every process listed under
  `stats.merged` (`runs` counts them);
- one `pages` row per URL: a page fetched twice (its process died after
  storing it but before its lease was settled, so another fetched it again)
  is kept once, from the first shard that has it; its links and items come
  with it, the other copy's are dropped with it;
- errors carried over, without a second row for a URL and kind that an
  earlier shard already has; sitemap URLs without repeats;
- the search index rebuilt for the merged pages.

Columns are copied by name, so shards of an older schema version merge too
(what they lack stays NULL). Plain SQL over ATTACHed files: nothing is held
in memory but a table of kept page ids.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler.errors import CrawlerError
from crawler.store.schema import FTS_SETTINGS, SCHEMA, SCHEMA_VERSION

_STATUS_ORDER = ("finished", "interrupted", "running", "failed")  # worst last
_SUMMED = ("pages", "errors", "items", "retries", "noindex", "bytes", "duplicates")
_COUNTERS = ("by_status", "errors_by_kind", "dropped", "sitemaps")


@dataclass
class Merged:
    """What a merge did."""

    crawl_id: int
    pages: int = 0
    duplicates: int = 0  # page rows of URLs another shard (or run) had already
    errors: int = 0
    runs: list[dict[str, Any]] = field(default_factory=list)
    # Shards holding no crawl at all: a node that died before its first write.
    empty: list[str] = field(default_factory=list)


def merge(out: str | Path, shards: Sequence[str | Path], *, name: str | None = None) -> Merged:
    """Merge the crawl called `name` (default: the first shard's latest) from `shards`."""
    out = Path(out)
    if out.exists():
        raise CrawlerError(f"{out} exists: merge into a new file")
    paths = [_shard(path) for path in shards]
    empty = [str(path) for path in paths if _latest_name(path) is None]
    paths = [path for path in paths if str(path) not in empty]
    if not paths:
        raise CrawlerError(f"{', '.join(empty)}: holds no crawl")
    name = name or _latest_name(paths[0]) or ""
    con = sqlite3.connect(out)
    try:
        con.executescript(SCHEMA)
        for setting in FTS_SETTINGS:
            con.execute(setting)
        con.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        merged = _merge_into(con, paths, name)
        merged.empty = empty
        con.execute("INSERT INTO pages_fts(pages_fts) VALUES ('rebuild')")
        con.commit()
    except BaseException:
        con.close()
        out.unlink(missing_ok=True)
        raise
    con.close()
    return merged


def _shard(path: str | Path) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CrawlerError(f"{path}: no such file")
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        with con:
            tables = con.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if tables:  # none: a node died before it wrote anything (see _latest_name)
                con.execute("SELECT count(*) FROM pages").fetchone()
        con.close()
    except sqlite3.DatabaseError as exc:
        raise CrawlerError(f"{path}: not a crawl database ({exc})") from None
    return path


def _latest_name(path: Path) -> str | None:
    """The name of the shard's latest crawl; None when it holds none."""
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = con.execute("SELECT name FROM crawls ORDER BY id DESC LIMIT 1").fetchone()
    except sqlite3.OperationalError:  # no crawls table: created, never written
        row = None
    finally:
        con.close()
    return None if row is None else str(row[0])


def _merge_into(con: sqlite3.Connection, paths: Sequence[Path], name: str) -> Merged:
    crawl_id = con.execute(
        "INSERT INTO crawls (name, started_at, status, config) VALUES (?, '', 'running', '{}')",
        (name,)).lastrowid or 0
    merged = Merged(crawl_id)
    for index, path in enumerate(paths):
        con.execute("ATTACH DATABASE ? AS shard", (f"file:{path}?mode=ro",))
        try:
            runs = _runs(con, name, str(path))
            if runs:
                merged.runs.extend(runs)
                _copy_shard(con, merged, [run["crawl_id"] for run in runs], first=index == 0)
        finally:
            con.commit()
            con.execute("DETACH DATABASE shard")
    if not merged.runs:
        raise CrawlerError(f"no crawl named {name!r} in {', '.join(map(str, paths))}")
    _write_crawl_row(con, merged)
    return merged


def _runs(con: sqlite3.Connection, name: str, path: str) -> list[dict[str, Any]]:
    con.row_factory = sqlite3.Row
    try:
        rows = con.execute("SELECT * FROM shard.crawls WHERE name = ? ORDER BY id",
                           (name,)).fetchall()
    finally:
        con.row_factory = None
    return [{"file": path, "crawl_id": row["id"], "started_at": row["started_at"],
             "finished_at": row["finished_at"], "status": row["status"],
             "config": row["config"], "stats": row["stats"]} for row in rows]


def _copy_shard(con: sqlite3.Connection, merged: Merged, crawls: list[int], *,
                first: bool) -> None:
    ids = ",".join(str(int(c)) for c in crawls)
    offset = con.execute("SELECT coalesce(max(id), 0) FROM main.pages").fetchone()[0]
    errors_before = con.execute("SELECT coalesce(max(id), 0) FROM main.errors").fetchone()[0]
    con.execute("CREATE TEMP TABLE IF NOT EXISTS kept (id INTEGER PRIMARY KEY)")
    con.execute("DELETE FROM temp.kept")
    con.execute(f"""INSERT INTO temp.kept (id)
        SELECT min(p.id) FROM shard.pages p WHERE p.crawl_id IN ({ids})
        AND NOT EXISTS (SELECT 1 FROM main.pages m WHERE m.url = p.url) GROUP BY p.url""")
    total = con.execute(f"SELECT count(*) FROM shard.pages WHERE crawl_id IN ({ids})"
                        ).fetchone()[0]
    kept = con.execute("SELECT count(*) FROM temp.kept").fetchone()[0]
    merged.pages += kept
    merged.duplicates += total - kept
    _copy(con, "pages", {"id": f"p.id + {offset}", "crawl_id": str(merged.crawl_id)},
          "shard.pages p JOIN temp.kept k ON k.id = p.id", alias="p")
    _copy(con, "links", {"page_id": f"l.page_id + {offset}"},
          "shard.links l JOIN temp.kept k ON k.id = l.page_id", alias="l")
    _copy(con, "items", {"page_id": f"i.page_id + {offset}", "crawl_id": str(merged.crawl_id),
                         "id": None},
          f"shard.items i LEFT JOIN temp.kept k ON k.id = i.page_id WHERE i.crawl_id IN ({ids})"
          " AND (i.page_id IS NULL OR k.id IS NOT NULL)", alias="i")
    before = con.total_changes
    _copy(con, "errors", {"crawl_id": str(merged.crawl_id), "id": None},
          f"shard.errors e WHERE e.crawl_id IN ({ids}) AND NOT EXISTS (SELECT 1 FROM "
          f"main.errors m WHERE m.id <= {errors_before} AND m.url = e.url AND m.kind = e.kind)",
          alias="e")
    merged.errors += con.total_changes - before
    _copy(con, "sitemap_urls", {"crawl_id": str(merged.crawl_id)},
          f"shard.sitemap_urls s WHERE s.crawl_id IN ({ids}) AND NOT EXISTS (SELECT 1 FROM "
          "main.sitemap_urls m WHERE m.url = s.url AND m.sitemap = s.sitemap)", alias="s")


def _copy(con: sqlite3.Connection, table: str, computed: dict[str, str | None], source: str,
          *, alias: str) -> None:
    """INSERT INTO main.table the columns both files have, some computed (None: left out)."""
    ours = [row[1] for row in con.execute(f"PRAGMA main.table_info({table})")]
    theirs = {row[1] for row in con.execute(f"PRAGMA shard.table_info({table})")}
    columns = [c for c in ours if (c in computed and computed[c] is not None)
               or (c in theirs and c not in computed)]
    values = [str(computed.get(c) or f"{alias}.{c}") for c in columns]
    con.execute(f"INSERT INTO main.{table} ({', '.join(columns)}) "
                f"SELECT {', '.join(values)} FROM {source}")


def _write_crawl_row(con: sqlite3.Connection, merged: Merged) -> None:
    runs = merged.runs
    started = min((r["started_at"] for r in runs if r["started_at"]), default="")
    finished = max((r["finished_at"] for r in runs if r["finished_at"]), default=None)
    status = max((r["status"] for r in runs),
                 key=lambda s: _STATUS_ORDER.index(s) if s in _STATUS_ORDER else 0)
    stats = _summed([json.loads(r["stats"] or "{}") for r in runs])
    stats.update(pages=merged.pages, errors=merged.errors, duplicates=merged.duplicates,
                 status=status,
                 merged=[{k: r[k] for k in ("file", "crawl_id", "status")} for r in runs])
    con.execute("UPDATE crawls SET started_at = ?, finished_at = ?, status = ?, config = ?, "
                "stats = ?, runs = ? WHERE id = ?",
                (started, finished, status, runs[-1]["config"], json.dumps(stats), len(runs),
                 merged.crawl_id))


def _summed(all_stats: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {key: 0 for key in _SUMMED}
    counters = {key: Counter() for key in _COUNTERS}
    for stats in all_stats:
        for key in _SUMMED:
            total[key] += stats.get(key) or 0
        for key in _COUNTERS:
            counters[key].update(stats.get(key) or {})
    total.update({key: dict(counter) for key, counter in counters.items()})
    return total
