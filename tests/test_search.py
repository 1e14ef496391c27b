"""`crawler search`: FTS5 over titles and visible text, ranked by bm25."""

from __future__ import annotations

import json

import pytest

from crawler.cli.query import open_readonly
from crawler.cli.search import CLOSE, OPEN, literal_query, mark, search
from tests.dbsite import SiteDB, run_cli, site_db, two_crawl_db


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> SiteDB:
    return site_db(tmp_path_factory)


def test_a_page_that_repeats_a_term_ranks_above_one_that_mentions_it_once(db: SiteDB) -> None:
    conn = open_readonly(db.path)
    try:
        hits = search(conn, "lighthouse")
    finally:
        conn.close()
    assert [hit.url for hit in hits] == [db.url("/guide"), db.url("/news")]
    assert hits[0].score < hits[1].score  # bm25: lower is better


def test_output_has_url_title_and_highlighted_snippet(db: SiteDB) -> None:
    result = run_cli("search", db.path, "lighthouse")
    assert result.code == 0
    lines = result.out.splitlines()
    assert lines[0] == f"1. {db.url('/guide')}"
    assert lines[1] == "   Guide"
    assert "The [lighthouse] keeper climbs the [lighthouse] stairs" in lines[2]
    news = lines.index(f"2. {db.url('/news')}")
    assert lines[news + 1] == "   News"
    assert "the old [lighthouse] is repainted" in lines[news + 2]


def test_title_matches_are_highlighted(db: SiteDB) -> None:
    result = run_cli("search", db.path, "rope")
    assert result.out.splitlines()[:2] == [f"1. {db.url('/product/2')}", "   [Rope]"]


def test_the_index_is_in_step_with_pages_and_usable_from_sql(db: SiteDB) -> None:
    indexed = db.rows("SELECT count(*) FROM pages_fts")[0][0]
    assert indexed == db.rows("SELECT count(*) FROM pages")[0][0]
    rows = db.rows("""
        SELECT p.url FROM pages_fts JOIN pages AS p ON p.id = pages_fts.rowid
        WHERE pages_fts MATCH 'lighthouse' ORDER BY rank""")
    assert rows == [(db.url("/guide"),), (db.url("/news"),)]
    assert db.rows("SELECT count(*) FROM pages_fts WHERE pages_fts MATCH 'keeper'") == [(1,)]


def test_fts5_syntax_is_supported(db: SiteDB) -> None:
    result = run_cli("search", db.path, '"small harbour" OR ferr*', "--jsonl")
    urls = {json.loads(line)["url"] for line in result.out.splitlines()}
    assert urls == {db.url("/about"), db.url("/news")}


def test_punctuation_that_is_not_fts5_syntax_is_searched_literally(db: SiteDB) -> None:
    result = run_cli("search", db.path, "keeper, stairs!")
    assert result.code == 0
    assert result.out.startswith(f"1. {db.url('/guide')}\n")
    assert literal_query('say "hi" c++') == '"say" """hi""" "c++"'


def test_no_match_exits_1_quietly(db: SiteDB) -> None:
    result = run_cli("search", db.path, "zeppelin")
    assert (result.code, result.out, result.err) == (1, "no matches\n", "")


def test_limit_and_jsonl(db: SiteDB) -> None:
    result = run_cli("search", db.path, "lighthouse", "-n", "1", "--jsonl")
    (line,) = result.out.splitlines()
    hit = json.loads(line)
    assert (hit["url"], hit["title"]) == (db.url("/guide"), "Guide")
    assert "[lighthouse]" in hit["snippet"]
    assert set(hit) == {"page_id", "crawl_id", "url", "title", "snippet", "score"}


def test_crawl_option_restricts_the_search(tmp_path_factory: pytest.TempPathFactory) -> None:
    two = two_crawl_db(tmp_path_factory)
    both = run_cli("search", two.path, "harbour", "--jsonl").out.splitlines()
    assert {json.loads(line)["crawl_id"] for line in both} == {two.crawl_id - 1, two.crawl_id}
    latest = run_cli("search", two.path, "harbour", "--crawl", str(two.crawl_id), "--jsonl")
    assert [json.loads(line)["url"] for line in latest.out.splitlines()] == [two.url("/")]


def test_an_empty_query_is_a_clear_error(db: SiteDB) -> None:
    result = run_cli("search", db.path, "  ")
    assert (result.code, result.err) == (2, "crawler: error: nothing to search for\n")


def test_marks_become_ansi_on_a_terminal() -> None:
    text = f"a {OPEN}b{CLOSE} c"
    assert mark(text, color=True) == "a \x1b[1;33mb\x1b[0m c"
    assert mark(text, color=False) == "a [b] c"
