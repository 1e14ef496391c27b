"""`crawler query`: read-only SQL over a database made by a real crawl, as table, JSON, CSV."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from crawler.cli.query import QueryError, open_readonly
from tests.dbsite import SiteDB, crawler_command, run_cli, site_db, subprocess_env

KNOWN = "SELECT url, final_url, status, title, depth FROM pages ORDER BY url"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> SiteDB:
    return site_db(tmp_path_factory)


def known_rows(db: SiteDB) -> list[dict[str, object]]:
    """The rows KNOWN must return, written out from what the site serves."""
    rows = [
        ("/", "/", 200, "Home", 0), ("/about", "/about", 200, "About us", 1),
        ("/data.json", "/data.json", 200, None, 1), ("/deep/1", "/deep/1", 200, "Deep 1", 1),
        ("/deep/2", "/deep/2", 200, "Deep 2", 2), ("/deep/3", "/deep/3", 200, "Deep 3", 3),
        ("/gone", "/gone", 410, "Not found", 2), ("/guide", "/guide", 200, "Guide", 1),
        ("/gz", "/gz", 200, "Compressed", 1), ("/missing", "/missing", 404, "Not found", 1),
        ("/news", "/news", 200, "News", 1), ("/old", "/old", 302, None, 1),
        ("/moved", "/moved", 200, "Moved here", 1),
        ("/product/1", "/product/1", 200, "Lamp", 1),
        ("/product/2", "/product/2", 200, "Rope", 1), ("/slow", "/slow", 200, "Slow", 1),
    ]
    return [{"url": db.url(u), "final_url": db.url(f), "status": s, "title": t, "depth": d}
            for u, f, s, t, d in sorted(rows, key=lambda r: db.url(r[0]))]


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_table_output_is_aligned_with_exact_rows(db: SiteDB) -> None:
    result = run_cli("query", db.path,
                     "SELECT status, count(*) AS n FROM pages GROUP BY status ORDER BY status")
    assert result.code == 0
    assert result.out == (
        "status   n\n"
        "------  --\n"
        "   200  13\n"
        "   302   1\n"
        "   404   1\n"
        "   410   1\n"
        "(4 rows)\n"
    )


def test_table_shows_every_known_page(db: SiteDB) -> None:
    result = run_cli("query", db.path, KNOWN)
    lines = result.out.splitlines()
    assert lines[-1] == "(16 rows)"
    body = lines[2:-1]
    assert [line.split()[0] for line in body] == [r["url"] for r in known_rows(db)]
    redirect = next(line for line in body if line.startswith(db.url("/old ")))
    assert redirect.split()[:4] == [db.url("/old"), db.url("/old"), "302", "NULL"]
    null_title = next(line for line in body if line.startswith(db.url("/data.json")))
    assert "NULL" in null_title.split()


def test_table_streams_past_the_rows_used_for_column_widths(db: SiteDB) -> None:
    sql = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1200) "
           "SELECT i FROM n")
    lines = run_cli("query", db.path, sql).out.splitlines()
    assert lines[-1] == "(1200 rows)"
    assert lines[-2].strip() == "1200"
    assert len(lines) == 1200 + 3


def test_json_is_an_array_of_exact_rows(db: SiteDB) -> None:
    result = run_cli("query", db.path, KNOWN, "--json")
    assert result.code == 0
    assert json.loads(result.out) == known_rows(db)


def test_jsonl_is_one_exact_row_per_line(db: SiteDB) -> None:
    result = run_cli("query", db.path, KNOWN, "--jsonl")
    assert [json.loads(line) for line in result.out.splitlines()] == known_rows(db)


def test_csv_round_trips_text_with_commas_and_newlines(db: SiteDB) -> None:
    sql = "SELECT id, url, title, text, elapsed_ms FROM pages ORDER BY id"
    result = run_cli("query", db.path, sql, "--csv")
    parsed = list(csv.DictReader(io.StringIO(result.out)))
    expected = db.rows(sql)
    assert len(parsed) == len(expected) == 16
    for row, (pid, url, title, text, elapsed) in zip(parsed, expected, strict=True):
        assert row == {"id": str(pid), "url": url, "title": title or "", "text": text or "",
                       "elapsed_ms": str(elapsed)}
    assert any("," in r["text"] and "\n" in r["text"] for r in parsed)  # really exercised


def test_blobs_are_base64_in_json_and_summarised_in_tables(db: SiteDB) -> None:
    sql = f"SELECT body FROM pages WHERE url = '{db.url('/data.json')}'"
    (body,) = db.rows(sql)[0]
    as_json = json.loads(run_cli("query", db.path, sql, "--json").out)
    assert base64.b64decode(as_json[0]["body"]) == body == b'{"harbour": "data"}'
    assert f"<blob {len(body)} bytes>" in run_cli("query", db.path, sql).out


def test_items_fields_are_queryable_with_json_extract(db: SiteDB) -> None:
    sql = ("SELECT json_extract(data, '$.name') AS name, json_extract(data, '$.price') AS price, "
           "json_array_length(data, '$.tags') AS tags FROM items WHERE type = 'product' "
           "ORDER BY name")
    result = run_cli("query", db.path, sql, "--jsonl")
    assert [json.loads(line) for line in result.out.splitlines()] == [
        {"name": "Lamp", "price": "12.50", "tags": 2},
        {"name": "Rope", "price": "3.99", "tags": 1},
    ]


@pytest.mark.parametrize("sql", [
    "DELETE FROM pages",
    "UPDATE pages SET title = 'changed'",
    "INSERT INTO crawls (name, started_at, status, config) VALUES ('x', 'now', 'running', '{}')",
    "DROP TABLE links",
    "CREATE TABLE mine (x)",
    "PRAGMA user_version = 99",
    "PRAGMA query_only = OFF",
])
def test_write_statements_are_refused_and_change_nothing(db: SiteDB, sql: str) -> None:
    before = file_digest(db.path)
    result = run_cli("query", db.path, sql)
    assert result.code == 2
    assert result.err.startswith("crawler: error: ")
    assert "Traceback" not in result.err
    assert file_digest(db.path) == before
    assert db.rows("SELECT count(*) FROM pages") == [(16,)]


@pytest.mark.parametrize("sql", ["ATTACH DATABASE '{target}' AS other",
                                 "VACUUM INTO '{target}'"])
def test_statements_that_would_write_another_file_are_refused(
        db: SiteDB, tmp_path: Path, sql: str) -> None:
    target = tmp_path / "other.db"
    result = run_cli("query", db.path, sql.format(target=target))
    assert result.code == 2
    assert "read-only" in result.err
    assert not target.exists()


def test_a_bad_statement_prints_sqlites_message(db: SiteDB) -> None:
    result = run_cli("query", db.path, "SELEC url FROM pages")
    assert (result.code, result.out) == (2, "")
    assert result.err == 'crawler: error: near "SELEC": syntax error\n'
    missing = run_cli("query", db.path, "SELECT nope FROM pages")
    assert missing.err == "crawler: error: no such column: nope\n"


def test_a_missing_database_is_not_created(tmp_path: Path) -> None:
    path = tmp_path / "typo.db"
    result = run_cli("query", path, "SELECT 1")
    assert result.code == 2
    assert result.err == f"crawler: error: {path}: no such database file\n"
    assert not path.exists()


def test_a_file_that_is_not_sqlite_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("just some notes, not a database\n" * 100)
    with pytest.raises(QueryError, match=r"notes\.db: file is not a database"):
        open_readonly(path)


def test_the_connection_itself_refuses_writes(db: SiteDB) -> None:
    conn = open_readonly(db.path)
    try:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM errors")
    finally:
        conn.close()


def test_command_line_errors_never_show_a_traceback(db: SiteDB) -> None:
    proc = subprocess.run(crawler_command("query", db.path, "DELETE FROM pages"),
                          capture_output=True, text=True, env=subprocess_env(), timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.startswith("crawler: error: attempt to write a readonly database")
    assert "Traceback" not in proc.stderr


def test_visible_text_leaves_out_scripts_styles_and_page_furniture(db: SiteDB) -> None:
    (text,) = db.rows(f"SELECT text FROM pages WHERE url = '{db.url('/about')}'")[0]
    assert "We are a small harbour." in text
    for noise in ("tracking", "color: black", "Footer boilerplate"):
        assert noise not in text
