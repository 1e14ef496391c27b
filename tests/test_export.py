"""`crawler export`: JSONL/CSV of pages, items and links, WARC of pages, all streaming."""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from warcio.archiveiterator import ArchiveIterator

from crawler.cli.export import PAGE_COLUMNS, guess_format
from crawler.store.records import PageRecord, iso_time
from crawler.store.sqlite import Store
from tests.dbsite import (
    USER_AGENT,
    SiteDB,
    build_large_db,
    crawler_command,
    run_cli,
    site_db,
    subprocess_env,
    two_crawl_db,
)


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> SiteDB:
    return site_db(tmp_path_factory)


@pytest.fixture(scope="module")
def warc_records(db: SiteDB, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The WARC export of the crawl, read back record by record."""
    path = tmp_path_factory.mktemp("warc") / "harbour.warc.gz"
    result = run_cli("export", db.path, "--format", "warc", "-o", path)
    assert result.code == 0, result.err
    return read_warc(path)


def read_warc(path: Path) -> list[dict[str, Any]]:
    records = []
    with open(path, "rb") as stream:
        iterator = ArchiveIterator(stream)
        for record in iterator:
            payload = record.content_stream().read()
            records.append({
                "type": record.rec_type,
                "warc": dict(record.rec_headers.headers),
                "http": record.http_headers,
                "payload": payload,
                # Asking for the offset reads the record to its end: payload first.
                "offset": iterator.get_record_offset(),
            })
    return records


def sha1_digest(data: bytes) -> str:
    return "sha1:" + base64.b32encode(hashlib.sha1(data).digest()).decode()


# -- JSON Lines and CSV --------------------------------------------------------


def test_pages_jsonl_has_exact_rows_for_known_pages(db: SiteDB, tmp_path: Path) -> None:
    out = tmp_path / "pages.jsonl"
    result = run_cli("export", db.path, "--format", "jsonl", "-o", out)
    assert (result.code, result.err) == (0, f"wrote 16 pages to {out}\n")
    pages = {p["url"]: p for p in map(json.loads, out.read_text().splitlines())}
    assert len(pages) == 16
    old, moved = pages[db.url("/old")], pages[db.url("/moved")]
    assert (old["status"], old["title"], old["redirects"]) == (302, None, None)
    assert old["headers"]["location"] == "/moved"
    assert (moved["status"], moved["title"], moved["depth"], moved["redirects"]) == (
        200, "Moved here", 1, [[302, db.url("/old")]])
    assert pages[db.url("/missing")]["status"] == 404
    home = pages[db.url("/")]
    assert home["headers"]["set-cookie"] == "session=abc; Path=/\ntheme=dark; Path=/"
    assert home["request_headers"]["user-agent"] == USER_AGENT
    assert list(home) == list(PAGE_COLUMNS)  # every column but the body, in schema order


def test_pages_csv_round_trips(db: SiteDB, tmp_path: Path) -> None:
    out = tmp_path / "pages.csv"
    assert run_cli("export", db.path, "-o", out).code == 0  # format from the suffix
    with open(out, newline="", encoding="utf-8") as f:
        parsed = list(csv.DictReader(f))
    expected = db.rows(f"SELECT {', '.join(PAGE_COLUMNS)} FROM pages ORDER BY id")
    assert [list(row.values()) for row in parsed] == [
        ["" if v is None else str(v) for v in row] for row in expected]


def test_items_csv_is_flat_with_one_column_per_field(db: SiteDB, tmp_path: Path) -> None:
    out = tmp_path / "items.csv"
    result = run_cli("export", db.path, "--what", "items", "--format", "csv", "-o", out)
    assert result.code == 0
    with open(out, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
    assert reader.fieldnames == ["id", "crawl_id", "page_id", "url", "type", "created_at",
                                 "name", "price", "tags"]
    flat = sorted((r["url"], r["type"], r["name"], r["price"], json.loads(r["tags"]))
                  for r in rows)
    assert flat == [(db.url("/product/1"), "product", "Lamp", "12.50", ["light", "brass"]),
                    (db.url("/product/2"), "product", "Rope", "3.99", ["hemp"])]


def test_items_jsonl_nests_the_item_data(db: SiteDB) -> None:
    result = run_cli("export", db.path, "--what", "items", "--type", "product")
    items = sorted((json.loads(line) for line in result.out.splitlines()),
                   key=lambda i: i["data"]["name"])
    assert [(i["type"], i["data"]) for i in items] == [
        ("product", {"name": "Lamp", "price": "12.50", "tags": ["light", "brass"]}),
        ("product", {"name": "Rope", "price": "3.99", "tags": ["hemp"]})]
    page_ids = {i["page_id"] for i in items}
    assert page_ids == {pid for (pid,) in db.rows(
        "SELECT id FROM pages WHERE url LIKE '%/product/%'")}
    none = run_cli("export", db.path, "--what", "items", "--type", "nothing")
    assert (none.code, none.out) == (0, "")


def test_links_are_an_edge_list(db: SiteDB) -> None:
    result = run_cli("export", db.path, "--what", "links", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert len(rows) == db.rows("SELECT count(*) FROM links")[0][0]
    edges = {(r["source"], r["target"]) for r in rows}
    assert (db.url("/"), db.url("/about")) in edges
    assert (db.url("/about"), db.url("/missing")) in edges
    assert (db.url("/news"), db.url("/gone")) in edges
    mail = next(r for r in rows if r["href"].startswith("mailto:"))
    assert (mail["source"], mail["target"], mail["text"]) == (db.url("/"), "", "Mail us")


def test_export_of_one_crawl(tmp_path_factory: pytest.TempPathFactory) -> None:
    two = two_crawl_db(tmp_path_factory)
    latest = run_cli("export", two.path, "--crawl", str(two.crawl_id))
    assert [json.loads(line)["url"] for line in latest.out.splitlines()] == [two.url("/")]
    everything = run_cli("export", two.path)
    assert len(everything.out.splitlines()) == 17
    missing = run_cli("export", two.path, "--crawl", "42")
    assert missing.code == 2 and missing.err.startswith("crawler: error: no crawl with id 42")


@pytest.mark.parametrize(("name", "fmt"), [
    ("a.jsonl", "jsonl"), ("a.csv", "csv"), ("a.warc", "warc"), ("a.WARC.GZ", "warc"),
    ("a.txt", None), (None, None),
])
def test_format_from_the_output_name(name: str | None, fmt: str | None) -> None:
    assert guess_format(name) == fmt


def test_an_unknown_output_suffix_needs_a_format(db: SiteDB, tmp_path: Path) -> None:
    result = run_cli("export", db.path, "-o", tmp_path / "pages.txt")
    assert result.code == 2 and "--format jsonl|csv|warc" in result.err
    assert list(tmp_path.iterdir()) == []


# -- WARC ----------------------------------------------------------------------


def test_warc_has_a_request_and_a_response_per_page(warc_records: list[dict[str, Any]],
                                                    db: SiteDB) -> None:
    assert warc_records[0]["type"] == "warcinfo"
    assert warc_records[0]["warc"]["WARC-Filename"] == "harbour.warc.gz"
    rest = warc_records[1:]
    assert len(rest) == 2 * 15
    assert [r["type"] for r in rest] == ["response", "request"] * 15
    final_urls = sorted(url for (url,) in db.rows(
        "SELECT final_url FROM pages WHERE body IS NOT NULL"))  # not the 302: no body
    for kind in ("response", "request"):
        uris = sorted(r["warc"]["WARC-Target-URI"] for r in rest if r["type"] == kind)
        assert uris == final_urls


def test_warc_payloads_are_the_stored_bodies(warc_records: list[dict[str, Any]],
                                             db: SiteDB) -> None:
    bodies = dict(db.rows("SELECT final_url, body FROM pages"))
    dates = dict(db.rows("SELECT final_url, fetched_at FROM pages"))
    for record in warc_records:
        if record["type"] != "response":
            continue
        url = record["warc"]["WARC-Target-URI"]
        assert record["payload"] == bodies[url]
        assert record["warc"]["WARC-Payload-Digest"] == sha1_digest(bodies[url])
        assert record["warc"]["WARC-Date"] == dates[url]
        assert record["http"].get_header("content-length") == str(len(bodies[url]))


def test_warc_requests_point_at_their_responses(warc_records: list[dict[str, Any]],
                                                db: SiteDB) -> None:
    responses = {r["warc"]["WARC-Record-ID"]: r for r in warc_records if r["type"] == "response"}
    requests = [r for r in warc_records if r["type"] == "request"]
    for request in requests:
        response = responses[request["warc"]["WARC-Concurrent-To"]]
        assert request["warc"]["WARC-Target-URI"] == response["warc"]["WARC-Target-URI"]
    gone = next(r for r in requests if r["warc"]["WARC-Target-URI"] == db.url("/gone"))
    assert gone["http"].protocol == "GET"
    assert gone["http"].statusline == "/gone HTTP/1.1"
    assert gone["http"].get_header("user-agent") == USER_AGENT
    assert gone["http"].get_header("host") == db.base.removeprefix("http://")


def test_warc_responses_keep_real_headers_fixed_for_the_decoded_body(
        warc_records: list[dict[str, Any]], db: SiteDB) -> None:
    by_url = {r["warc"]["WARC-Target-URI"]: r["http"] for r in warc_records
              if r["type"] == "response"}
    gz = by_url[db.url("/gz")]
    assert gz.get_statuscode() == "200"
    assert gz.get_header("content-encoding") is None  # the body is stored decoded
    assert gz.get_header("content-type") == "text/html; charset=utf-8"
    home = by_url[db.url("/")]
    assert [v for k, v in home.headers if k == "set-cookie"] == [
        "session=abc; Path=/", "theme=dark; Path=/"]
    assert by_url[db.url("/missing")].statusline == "404 Not Found"


def test_warc_gz_is_one_gzip_member_per_record(db: SiteDB, tmp_path: Path) -> None:
    path = tmp_path / "x.warc.gz"
    run_cli("export", db.path, "--format", "warc", "-o", path)
    data = path.read_bytes()
    offsets = [r["offset"] for r in read_warc(path)]
    assert len(offsets) == 31
    assert all(data[o:o + 2] == b"\x1f\x8b" for o in offsets)


def test_a_warc_name_writes_uncompressed(db: SiteDB, tmp_path: Path) -> None:
    path = tmp_path / "x.warc"
    assert run_cli("export", db.path, "-o", path).code == 0
    assert path.read_bytes().startswith(b"WARC/1.1\r\n")
    assert len(read_warc(path)) == 31


def test_warcio_tools_read_and_verify_the_export(db: SiteDB, tmp_path: Path) -> None:
    path = tmp_path / "x.warc.gz"
    run_cli("export", db.path, "-o", path)
    warcio = [sys.executable, "-c", "import sys; from warcio.cli import main; main()"]
    index = subprocess.run([*warcio, "index", str(path)], capture_output=True, text=True,
                           check=True, timeout=60)
    entries = [json.loads(line) for line in index.stdout.splitlines()]
    assert [e["warc-type"] for e in entries] == ["warcinfo"] + ["response", "request"] * 15
    check = subprocess.run([*warcio, "check", "-v", str(path)], capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert check.stdout.count("digest pass") == 31


def test_warc_without_bodies_says_so_and_writes_nothing(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    nobody = site_db(tmp_path_factory, body=False)
    out = tmp_path / "x.warc.gz"
    result = run_cli("export", nobody.path, "--format", "warc", "-o", out)
    assert result.code == 2
    assert result.err.startswith("crawler: error: no page in this database has a stored body")
    assert "store.body: false" in result.err and "-s store.body=true" in result.err
    assert list(tmp_path.iterdir()) == []


def test_warc_synthesizes_request_headers_that_were_not_recorded(tmp_path: Path) -> None:
    db = tmp_path / "one.db"
    build_large_db(db, pages=1, body_size=100)  # written without request_headers
    out = tmp_path / "one.warc"
    assert run_cli("export", db, "-o", out).code == 0
    (request,) = [r for r in read_warc(out) if r["type"] == "request"]
    assert request["http"].headers == [("host", "127.0.0.1:9"), ("user-agent", "large/1.0")]
    assert request["http"].statusline == "/page/0 HTTP/1.1"


def test_warc_leaves_out_pages_without_a_body_with_a_warning(tmp_path: Path) -> None:
    db = tmp_path / "mixed.db"

    async def write() -> None:
        async with Store(db) as store:
            await store.start_crawl("mixed", {})
            for i, body in enumerate((b"<p>kept</p>", None)):
                store.write(PageRecord(
                    url=f"http://127.0.0.1:9/{i}", final_url=f"http://127.0.0.1:9/{i}",
                    status=200, depth=0, headers="{}", size=11, fetched_at=iso_time(0),
                    body=body))

    asyncio.run(write())
    out = tmp_path / "mixed.warc.gz"
    result = run_cli("export", db, "-o", out)
    assert result.code == 0
    assert "left out 1 page(s) without a stored body" in result.err
    uris = [r["warc"]["WARC-Target-URI"] for r in read_warc(out) if r["type"] == "response"]
    assert uris == ["http://127.0.0.1:9/0"]


@pytest.mark.parametrize(("args", "message"), [
    (("--format", "warc", "--what", "items", "-o", "x.warc.gz"), "WARC holds pages only"),
    (("--format", "warc"), "WARC export needs a file"),
])
def test_warc_refuses_what_it_cannot_hold(db: SiteDB, args: tuple[str, ...],
                                          message: str) -> None:
    result = run_cli("export", db.path, *args)
    assert result.code == 2 and message in result.err


# -- memory ----------------------------------------------------------------------

PEAK_RSS = """
import resource, subprocess, sys
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(code, peak // 1024 if sys.platform != "darwin" else peak // (1024 * 1024))
"""
LARGE_PAGES, LARGE_BODY = 8_000, 40 * 1024  # 312 MB of bodies
ALLOWED_GROWTH_MB = 30


def peak_rss_mb(*args: str | Path) -> int:
    """Peak RSS in MB of `python -m crawler ARGS` in its own process."""
    proc = subprocess.run([sys.executable, "-c", PEAK_RSS, *crawler_command(*args)],
                          capture_output=True, text=True, env=subprocess_env(), timeout=300)
    code, peak = proc.stdout.split()
    assert code == "0", proc.stderr
    return int(peak)


def test_export_memory_stays_flat_on_a_large_database(tmp_path: Path) -> None:
    small, large = tmp_path / "small.db", tmp_path / "large.db"
    build_large_db(small, pages=10, body_size=LARGE_BODY)
    total = build_large_db(large, pages=LARGE_PAGES, body_size=LARGE_BODY)
    assert total // 2**20 > 10 * ALLOWED_GROWTH_MB  # holding it all would blow the bound
    for fmt, name in (("warc", "out.warc.gz"), ("jsonl", "out.jsonl")):
        baseline = peak_rss_mb("export", small, "--format", fmt, "-o", tmp_path / f"s-{name}")
        peak = peak_rss_mb("export", large, "--format", fmt, "-o", tmp_path / name)
        assert peak < baseline + ALLOWED_GROWTH_MB, (fmt, baseline, peak)
    records = read_warc_types(tmp_path / "out.warc.gz")
    assert records == {"warcinfo": 1, "response": LARGE_PAGES, "request": LARGE_PAGES}


def read_warc_types(path: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    with open(path, "rb") as stream:
        for record in ArchiveIterator(stream):
            counts[record.rec_type] = counts.get(record.rec_type, 0) + 1
    return counts
