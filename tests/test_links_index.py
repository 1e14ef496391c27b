"""The `links(url)` index: built once when a crawl that began without links closes.

Fed each batch's links in random key order it doubled the cost of storing
them (benchmarks/links_index.py), so a new crawl leaves it out until the
store closes; a file that has links keeps it, and one whose crawl died
before closing gets it back the next time it is opened.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from crawler import Crawler
from crawler.store import links_index
from crawler.store.records import PageRecord
from crawler.store.sqlite import Store
from tests.conftest import make_config
from tests.site import html_page

pytestmark = pytest.mark.timeout(30)


def page(n: int) -> PageRecord:
    url = f"http://127.0.0.1/{n}"
    return PageRecord(url=url, final_url=url, status=200, depth=0, headers="{}", size=1,
                      fetched_at="2026-01-01T00:00:00Z",
                      links=[(f"http://127.0.0.1/{n + 1}", f"/{n + 1}", "next")])


def has_links_index(db: Path) -> bool:
    with sqlite3.connect(db) as con:
        return con.execute("SELECT count(*) FROM sqlite_master "
                           "WHERE type = 'index' AND name = 'links_url'").fetchone()[0] == 1


def uses_links_index(db: Path) -> bool:
    with sqlite3.connect(db) as con:
        plan = con.execute("EXPLAIN QUERY PLAN SELECT page_id FROM links "
                           "WHERE url = 'http://127.0.0.1/2'").fetchall()
    return any("links_url" in row[-1] for row in plan)


async def test_a_new_crawl_writes_links_unindexed_and_indexes_them_when_it_closes(
        tmp_path) -> None:
    db = tmp_path / "x.db"
    async with Store(db) as store:
        await store.start_crawl("t", {})
        store.write(page(1))
        await store.flush()
        assert not has_links_index(db)  # other connections see the batch, not the index
    assert has_links_index(db)
    assert uses_links_index(db)


async def test_a_file_that_has_links_keeps_its_index_while_written_again(tmp_path) -> None:
    db = tmp_path / "x.db"
    async with Store(db) as store:
        await store.start_crawl("t", {})
        store.write(page(1))
    async with Store(db) as store:
        await store.resume_crawl(1, {})
        store.write(page(2))
        await store.flush()
        assert has_links_index(db)
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT count(*) FROM links INDEXED BY links_url "
                           "WHERE url > ''").fetchone()[0] == 2


async def test_a_crawl_that_died_before_closing_gets_its_links_index_when_next_opened(
        tmp_path) -> None:
    db = tmp_path / "x.db"
    store = Store(db)
    await store.open()
    await store.start_crawl("t", {})
    store.write(page(1))
    await store.flush()
    # Died here: the connection goes without the store closing (and building the index).
    await store.db.close()
    store.lock.release()
    assert not has_links_index(db)

    async with Store(db):
        assert has_links_index(db)


async def test_a_crawl_says_when_it_indexes_many_links_at_its_end(
        site_server, out_db, monkeypatch) -> None:
    # A million links take seconds to index, after the last page: said, so the crawl
    # does not look hung. Here "many" is lowered to the site's 3 links.
    server = site_server({"/": html_page("home", links=["/a", "/b"]),
                          "/a": html_page("a", links=["/"]), "/b": html_page("b")})
    said: list[str] = []
    monkeypatch.setattr(links_index, "ANNOUNCE_FROM", 3)
    await Crawler(config=make_config([server.url("/")]), output=out_db,
                  announce=said.append, progress=False).run()

    assert f"indexing the 3 links of {out_db} by target (once, as a new crawl ends)" in said
    assert uses_links_index(out_db)


async def test_a_crawl_with_few_links_indexes_them_without_a_word(
        site_server, out_db) -> None:
    server = site_server({"/": html_page("home", links=["/a"]), "/a": html_page("a")})
    said: list[str] = []
    await Crawler(config=make_config([server.url("/")]), output=out_db,
                  announce=said.append, progress=False).run()

    assert not any("indexing" in line for line in said), said
    assert has_links_index(out_db)
