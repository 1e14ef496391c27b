"""`crawler stats`: the report of a real crawl of the loopback site."""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from pathlib import Path

import pytest

from crawler.cli.query import open_readonly
from crawler.cli.report import Report, build_report, url_host
from crawler.store.sqlite import Store
from tests.dbsite import (
    SLOW_DELAY,
    TWO_CRAWL_PAGES,
    SiteDB,
    run_cli,
    site_db,
    two_crawl_db,
)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> SiteDB:
    return site_db(tmp_path_factory)


@pytest.fixture(scope="module")
def report(db: SiteDB) -> Report:
    conn = open_readonly(db.path)
    try:
        return build_report(conn)
    finally:
        conn.close()


def test_pages_by_status(report: Report) -> None:
    assert report.by_status == [{"status": 200, "pages": 13}, {"status": 302, "pages": 1},
                                {"status": 404, "pages": 1}, {"status": 410, "pages": 1}]


def test_pages_by_content_type(report: Report, db: SiteDB) -> None:
    html_bytes = db.rows("SELECT sum(size) FROM pages WHERE content_type = 'text/html'")[0][0]
    assert report.by_content_type == [
        {"content_type": "text/html", "pages": 14, "bytes": html_bytes},
        {"content_type": "application/json", "pages": 1, "bytes": 19},
        {"content_type": "text/plain", "pages": 1, "bytes": 0},  # the 302: body not read
    ]


def test_hosts_with_pages_errors_and_mean_latency(report: Report, db: SiteDB) -> None:
    mean = db.rows("SELECT avg(elapsed_ms) FROM pages")[0][0]
    (host,) = report.by_host
    assert (host["host"], host["pages"], host["errors"]) == (
        db.base.removeprefix("http://"), 16, 2)
    assert abs(host["mean_ms"] - mean) <= 0.051  # rounded to 0.1 ms
    assert report.hosts_total == 1


def test_depth_histogram(report: Report) -> None:
    assert report.depth == [{"depth": 0, "pages": 1}, {"depth": 1, "pages": 12},
                            {"depth": 2, "pages": 2}, {"depth": 3, "pages": 1}]


def test_the_slow_page_is_the_slowest(report: Report, db: SiteDB) -> None:
    slowest = report.slowest[0]
    assert slowest["url"] == db.url("/slow")
    assert slowest["elapsed_ms"] >= SLOW_DELAY * 1000
    times = [row["elapsed_ms"] for row in report.slowest]
    assert times == sorted(times, reverse=True) and len(times) == 10


def test_errors_by_kind_and_items_by_type(report: Report) -> None:
    assert report.errors_by_kind == [{"kind": "http", "errors": 2}]
    assert report.items_by_type == [{"type": "product", "items": 2}]


def test_broken_links_with_the_pages_that_link_to_them(report: Report, db: SiteDB) -> None:
    assert report.broken_total == 2
    assert [(b["url"], b["status"], b["linked_from"], b["linked_from_count"])
            for b in report.broken_links] == [
        (db.url("/missing"), 404, [db.url("/"), db.url("/about")], 2),
        (db.url("/gone"), 410, [db.url("/news")], 1),
    ]


def test_crawl_summary(report: Report, db: SiteDB) -> None:
    crawl = report.crawl
    assert (crawl["id"], crawl["name"], crawl["status"]) == (db.crawl_id, "harbour", "finished")
    assert (crawl["pages"], crawl["items"], crawl["errors"]) == (16, 2, 2)
    assert crawl["links"] == db.rows("SELECT count(*) FROM links")[0][0]
    assert crawl["duration_s"] is not None and crawl["duration_s"] >= SLOW_DELAY


def test_text_report_names_every_section(db: SiteDB) -> None:
    result = run_cli("stats", db.path)
    assert result.code == 0
    out = result.out
    for title in ("Pages by status", "Pages by content type", "Hosts", "Depth",
                  "Slowest pages", "Errors by kind", "Broken links"):
        assert f"\n{title}\n" in out
    assert out.startswith(f"Crawl {db.crawl_id} 'harbour' (finished)\n")
    assert f"  {db.url('/missing')}  [404] HTTP 404\n" in out
    assert f"      <- {db.url('/about')}\n" in out
    assert "  application/json      1     19\n" in out


def test_json_report_matches_the_data_structure(db: SiteDB, report: Report) -> None:
    result = run_cli("stats", db.path, "--json")
    assert json.loads(result.out) == json.loads(json.dumps(asdict(report)))


def test_latest_crawl_by_default_and_any_crawl_by_id(tmp_path_factory: pytest.TempPathFactory
                                                     ) -> None:
    two = two_crawl_db(tmp_path_factory)
    latest = json.loads(run_cli("stats", two.path, "--json").out)
    assert latest["crawl"]["id"] == two.crawl_id
    assert latest["crawl"]["pages"] == TWO_CRAWL_PAGES
    assert [c["pages"] for c in latest["crawls"]] == [16, TWO_CRAWL_PAGES]
    first = json.loads(run_cli("stats", two.path, "--crawl", str(two.crawl_id - 1),
                               "--json").out)
    assert first["crawl"]["pages"] == 16
    assert first["depth"][-1] == {"depth": 3, "pages": 1}
    text = run_cli("stats", two.path).out
    assert "\nCrawls in this database\n" in text


def test_an_unknown_crawl_is_a_clear_error(db: SiteDB) -> None:
    result = run_cli("stats", db.path, "--crawl", "999")
    assert result.code == 2
    assert result.err.startswith("crawler: error: no crawl with id 999")


def test_a_database_without_crawls_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"

    async def create() -> None:
        async with Store(path):
            pass

    asyncio.run(create())
    result = run_cli("stats", path)
    assert (result.code, result.err) == (2, "crawler: error: the database holds no crawl yet\n")


@pytest.mark.parametrize(("url", "host"), [
    ("http://Example.COM/a", "example.com"),
    ("https://127.0.0.1:8443/x?y", "127.0.0.1:8443"),
    ("not a url", ""),
    (None, None),
])
def test_url_host(url: str | None, host: str | None) -> None:
    assert url_host(url) == host
