"""`crawler search`: full-text search over page titles and text with SQLite FTS5.

The index is the `pages_fts` table, which triggers in storage.py keep in
step with `pages` as the crawl writes it, so plain SQL can use it too:

    SELECT p.url, bm25(pages_fts) FROM pages_fts JOIN pages p ON p.id = pages_fts.rowid
    WHERE pages_fts MATCH 'lighthouse' ORDER BY bm25(pages_fts) LIMIT 10;

Ranking is bm25 (lower is better in SQLite) with a title match weighing
`TITLE_WEIGHT` times a match in the text.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import asdict, dataclass

from crawler.cli.query import QueryError, execute

TITLE_WEIGHT = 5.0
SNIPPET_TOKENS = 16
# Private-use characters mark highlighted terms so any real text survives intact.
OPEN, CLOSE = "\ue000", "\ue001"


@dataclass(frozen=True, slots=True)
class Hit:
    """One matching page; `title` and `snippet` carry OPEN/CLOSE marks around matches."""

    page_id: int
    crawl_id: int
    url: str
    title: str | None
    snippet: str
    score: float


_SQL = f"""
SELECT p.id, p.crawl_id, p.final_url,
       highlight(pages_fts, 0, '{OPEN}', '{CLOSE}'),
       snippet(pages_fts, 1, '{OPEN}', '{CLOSE}', '…', {SNIPPET_TOKENS}),
       bm25(pages_fts, {TITLE_WEIGHT}, 1.0) AS score
FROM pages_fts JOIN pages AS p ON p.id = pages_fts.rowid
WHERE pages_fts MATCH ?1 AND (?2 IS NULL OR p.crawl_id = ?2)
ORDER BY score, p.id
LIMIT ?3
"""


def search(conn: sqlite3.Connection, terms: str, *, limit: int = 10,
           crawl_id: int | None = None) -> list[Hit]:
    """Pages matching `terms`, best first.

    `terms` is FTS5 query syntax (`word`, `"a phrase"`, `pre*`, `a OR b`,
    `title:word`); if it does not parse as such, each word is searched
    for literally instead, so `c++ web-crawler` just works.
    """
    if not terms.strip():
        raise QueryError("nothing to search for")
    try:
        rows = conn.execute(_SQL, (terms, crawl_id, limit)).fetchall()
    except sqlite3.OperationalError:
        rows = execute(conn, _SQL, (literal_query(terms), crawl_id, limit)).fetchall()
    return [Hit(*row) for row in rows]


def literal_query(terms: str) -> str:
    """Every whitespace-separated word as a quoted FTS5 string (all must match)."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in terms.split())


def render_text(hits: list[Hit], *, color: bool = False) -> str:
    """URL, title and snippet per hit; matches in bold colour on a terminal, else [brackets]."""
    if not hits:
        return "no matches\n"
    lines: list[str] = []
    for rank, hit in enumerate(hits, 1):
        lines.append(f"{rank}. {hit.url}")
        if hit.title:
            lines.append(f"   {mark(hit.title, color)}")
        snippet = " ".join(mark(hit.snippet, color).split())
        if snippet:
            lines.append(f"   {snippet}")
        lines.append("")
    return "\n".join(lines)


def mark(text: str, color: bool) -> str:
    """Replace the highlight marks with ANSI bold yellow or with brackets."""
    start, end = ("\x1b[1;33m", "\x1b[0m") if color else ("[", "]")
    return text.replace(OPEN, start).replace(CLOSE, end)


def to_jsonl(hits: list[Hit]) -> str:
    """One JSON object per hit; highlights marked with [brackets]."""
    out = []
    for hit in hits:
        row = asdict(hit)
        row["title"] = mark(hit.title, False) if hit.title else hit.title
        row["snippet"] = re.sub(r"\s+", " ", mark(hit.snippet, False)).strip()
        out.append(json.dumps(row, ensure_ascii=False) + "\n")
    return "".join(out)
