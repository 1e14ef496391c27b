"""The corpus export: each page's main content as Markdown with its metadata, for RAG.

`crawler export DB --format markdown -o DIR/` writes one `.md` file per page,
`DIR/<host>/<path-slug>-<8 hex of the URL's hash>.md`, starting with YAML
front matter:

    ---
    url: https://herald.example/news/lighthouse
    title: Harbour lighthouse returns to service
    published: '2026-03-14T08:30:00.000Z'
    language: en-GB
    ...
    ---

`--what corpus --format jsonl` writes the same as one JSON object per line,
the Markdown under `markdown`. `--chunk-size N` cuts each page's Markdown
by headings into chunks of at most N characters (`chunks.split_markdown`):
one file or line per chunk, each with the page's fields plus `chunk`
(1-based), `chunks` and `headings` (the heading path).

Which pages: those with Markdown (`store.markdown: true`) and a 2xx status,
each URL once (its latest page, when several crawls share the file), in
the order they were fetched. Files are written into `DIR.part` and moved to
`DIR` when all are written; `DIR` must not exist or be empty, so an export
never mixes with or overwrites other files.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import yaml

from crawler.cli.chunks import split_markdown
from crawler.cli.query import QueryError, execute

# Front matter and JSON fields, in this order; missing ones are left out.
FIELDS = ("url", "title", "description", "author", "published", "modified", "language",
          "canonical", "site_name", "image", "type", "keywords", "fetched_at")
# Pages that are corpus documents (the SQL the near-duplicate search is restricted to).
ELIGIBLE = "markdown IS NOT NULL AND markdown != '' AND status BETWEEN 200 AND 299"
_DOCUMENTS = f"""
SELECT id, crawl_id, url, title, metadata, markdown, fetched_at FROM pages
WHERE id IN (SELECT max(id) FROM pages WHERE {ELIGIBLE}
             AND (:crawl IS NULL OR crawl_id = :crawl) GROUP BY url)
ORDER BY id
"""
_SLUG = re.compile(r"[^a-z0-9]+")
_HOST = re.compile(r"[^a-z0-9.-]+|\.{2,}")


def documents(conn: sqlite3.Connection, crawl_id: int | None,
              skip: set[int]) -> Iterator[tuple[dict[str, Any], str]]:
    """(fields, markdown) of each document, the pages in `skip` left out."""
    cursor = execute(conn, _DOCUMENTS, {"crawl": crawl_id})
    while rows := cursor.fetchmany(64):
        for page_id, crawl, url, title, metadata, markdown, fetched_at in rows:
            if page_id in skip:
                continue
            meta = _json_object(metadata)
            meta.update(url=url, fetched_at=fetched_at, title=meta.get("title") or title)
            fields = {name: meta[name] for name in FIELDS if meta.get(name) is not None}
            fields.update(page_id=page_id, crawl_id=crawl)
            yield fields, markdown


def records(conn: sqlite3.Connection, crawl_id: int | None, skip: set[int],
            chunk_size: int | None) -> Iterator[tuple[dict[str, Any], str]]:
    """(fields, markdown) per document, or per chunk with `chunk`, `chunks`, `headings`."""
    for fields, markdown in documents(conn, crawl_id, skip):
        if chunk_size is None:
            yield fields, markdown
            continue
        pieces = split_markdown(markdown, chunk_size)
        for number, piece in enumerate(pieces, 1):
            yield ({**fields, "chunk": number, "chunks": len(pieces),
                    "headings": piece.headings}, piece.text)


def write_jsonl(conn: sqlite3.Connection, out: TextIO, crawl_id: int | None,
                skip: set[int], chunk_size: int | None) -> tuple[int, int]:
    """One JSON object per document (or chunk); returns (documents, records)."""
    pages: set[int] = set()
    count = 0
    for fields, markdown in records(conn, crawl_id, skip, chunk_size):
        out.write(json.dumps({**fields, "markdown": markdown}, ensure_ascii=False) + "\n")
        pages.add(fields["page_id"])
        count += 1
    return len(pages), count


def write_directory(conn: sqlite3.Connection, directory: str, crawl_id: int | None,
                    skip: set[int], chunk_size: int | None) -> tuple[int, int]:
    """One Markdown file per document (or chunk) under `directory`; (documents, files)."""
    final = Path(directory)
    if final.exists() and (not final.is_dir() or any(final.iterdir())):
        raise QueryError(f"{directory}: exists and is not an empty directory; export into "
                         "a new one")
    part = final.with_name(final.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    try:
        pages: set[int] = set()
        files = 0
        for fields, markdown in records(conn, crawl_id, skip, chunk_size):
            path = part / file_name(fields["url"], fields.get("chunk"))
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(front_matter(fields) + markdown, encoding="utf-8")
            pages.add(fields["page_id"])
            files += 1
        part.mkdir(parents=True, exist_ok=True)
        if final.exists():
            final.rmdir()
        os.replace(part, final)
    except OSError as exc:
        shutil.rmtree(part, ignore_errors=True)
        raise QueryError(f"{directory}: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(part, ignore_errors=True)
        raise
    return len(pages), files


def front_matter(fields: dict[str, Any]) -> str:
    """The fields as a YAML front matter block (without the ids)."""
    shown = {k: v for k, v in fields.items() if k not in ("page_id", "crawl_id")}
    body = yaml.safe_dump(shown, allow_unicode=True, sort_keys=False, width=1 << 16)
    return f"---\n{body}---\n\n"


def file_name(url: str, chunk: int | None = None) -> str:
    """`<host>/<slug>-<8 hex>.md` (`-<chunk>` before `.md` for a chunk): readable,
    unique per URL, and safe on any file system."""
    parts = urlsplit(url)
    host = _HOST.sub("_", (parts.netloc or "unknown").lower()).strip("._") or "unknown"
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    slug = _SLUG.sub("-", path.lower()).strip("-")[:80].strip("-") or "index"
    digest = hashlib.sha1(url.encode()).hexdigest()[:8]
    suffix = f"-{chunk:03d}" if chunk is not None else ""
    return f"{host}/{slug}-{digest}{suffix}.md"


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
