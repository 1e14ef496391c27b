"""Bounds on one request: timeouts and body size, against servers that misbehave on purpose.

A server that never answers, dribbles its body, never ends it, or sends a
compression bomb costs at most the configured time or bytes, never the crawl.
"""

from __future__ import annotations

import time

import pytest

from crawler import crawl
from tests.badserver import answer, brotli_bomb, dribble, encoded, endless, gzip_bomb, hang
from tests.conftest import cli_env, config_dict, make_config, rows
from tests.peak_rss import MIB, crawl_in_child
from tests.site import html_page

pytestmark = pytest.mark.timeout(60)

# The timeouts under test; every other bound stays loose so only the one tested can fire.
NO_RETRY = {"retries": 0}
SLACK = 6.0  # seconds a busy 2-core machine may add to a bound before a test calls it broken


def home(*links: str) -> object:
    return answer(html_page("Home", links=list(links)))


async def test_a_dribbling_body_is_cut_by_the_total_timeout(bad_server, out_db) -> None:
    # One byte every 0.1 s never trips the 1 s read timeout; only the total one can end it.
    server = bad_server({"/": home("/dribble", "/fine"), "/dribble": dribble(every=0.1),
                         "/fine": answer(html_page("Fine"))})
    config = make_config([server.url("/")], fetch={
        **NO_RETRY, "timeout": "1.5s", "read_timeout": "1s"})

    started = time.monotonic()
    stats = await crawl(config=config, output=out_db)
    elapsed = time.monotonic() - started

    errors = rows(out_db, "SELECT url, kind, message FROM errors")
    assert [(e["url"], e["kind"]) for e in errors] == [(server.url("/dribble"), "timeout")]
    assert "fetch.timeout 1.5s" in errors[0]["message"]
    tally = server.tally("/dribble")
    assert 1.4 <= tally.duration < 1.5 + SLACK       # cut by the total, not earlier
    assert 1 <= tally.sent < 100                     # it did dribble, and was left early
    assert stats.status == "finished" and elapsed < 1.5 + SLACK
    assert rows(out_db, "SELECT title FROM pages WHERE url = ?", server.url("/fine")) == [
        {"title": "Fine"}]


async def test_a_server_that_never_answers_is_cut_by_the_read_timeout(bad_server,
                                                                       out_db) -> None:
    server = bad_server({"/": home("/hang"), "/hang": hang()})
    config = make_config([server.url("/")], fetch={
        **NO_RETRY, "timeout": "30s", "read_timeout": "0.5s"})

    stats = await crawl(config=config, output=out_db)

    (error,) = rows(out_db, "SELECT url, kind, message FROM errors")
    assert (error["url"], error["kind"]) == (server.url("/hang"), "timeout")
    assert error["message"] == "read timed out: no data for 0.5s"
    tally = server.tally("/hang")
    assert tally.client_left and 0.4 <= tally.duration < 0.5 + SLACK
    assert stats.status == "finished" and stats.pages == 1


async def test_a_connect_that_never_completes_is_cut_by_the_connect_timeout(unaccepting_url,
                                                                             out_db) -> None:
    config = make_config([unaccepting_url], fetch={
        **NO_RETRY, "timeout": "30s", "connect_timeout": "0.5s"})

    started = time.monotonic()
    stats = await crawl(config=config, output=out_db)

    (error,) = rows(out_db, "SELECT kind, message FROM errors")
    assert error == {"kind": "timeout", "message": "connect timed out after 0.5s"}
    assert time.monotonic() - started < 0.5 + SLACK
    assert stats.status == "finished"


# -- size -----------------------------------------------------------------------------

# The crawl runs in a child process whose peak RSS the kernel reports. With a
# 4 MiB cap, a crawl that kept a 1-2 GiB body (or let aiohttp inflate a bomb
# into its buffer) would show it; measured, every one of these stays within
# 4 MiB of the child's peak before the crawl began (~49 MiB).
CAP = "4MB"
RSS_BOUND = 48 * MIB


def oversize_crawl(server, path: str, tmp_path) -> tuple:
    """Crawl `path` alone with the 4 MiB cap in a child; (ChildCrawl, page row, error row)."""
    output = tmp_path / "out.db"
    config = config_dict([server.url(path)], fetch={**NO_RETRY, "max_body_size": CAP})
    child = crawl_in_child(config, output, env=cli_env())
    (page,) = rows(output, "SELECT status, body, size, headers FROM pages")
    (error,) = rows(output, "SELECT kind, status, message FROM errors")
    return child, page, error


def assert_cut_with_flat_memory(child, page, error) -> None:
    assert (page["status"], page["body"], page["size"]) == (200, None, 0)
    assert (error["kind"], error["status"]) == ("too_large", 200)
    assert child.peak < child.before + RSS_BOUND, (
        f"peak RSS {child.peak / MIB:.0f} MiB, {child.growth / MIB:.0f} MiB over the start")
    assert child.stats["status"] == "finished" and child.stats["duration"] < 10


async def test_an_endless_body_is_cut_at_max_body_size_with_flat_memory(bad_server,
                                                                         tmp_path) -> None:
    server = bad_server({"/endless": endless(limit=2 * 1024 * MIB)})

    child, page, error = oversize_crawl(server, "/endless", tmp_path)

    assert_cut_with_flat_memory(child, page, error)
    assert error["message"] == "body exceeds max_body_size (4194304 bytes)"
    tally = server.tally("/endless")
    assert tally.client_left and tally.sent < 64 * MIB  # of the 2 GiB it would have sent


@pytest.fixture(scope="module")
def gzip_1gib() -> bytes:
    return gzip_bomb(1024 * MIB)


async def test_a_gzip_bomb_is_cut_at_max_body_size_with_flat_memory(bad_server, tmp_path,
                                                                     gzip_1gib) -> None:
    server = bad_server({"/bomb": encoded(gzip_1gib, "gzip")})  # 1 MiB that inflates to 1 GiB

    child, page, error = oversize_crawl(server, "/bomb", tmp_path)

    assert_cut_with_flat_memory(child, page, error)
    assert error["message"] == "body exceeds max_body_size (4194304 bytes) once decoded from gzip"
    assert '"content-encoding": "gzip"' in page["headers"]


async def test_a_brotli_bomb_is_cut_at_max_body_size_with_flat_memory(bad_server,
                                                                       tmp_path) -> None:
    pytest.importorskip("brotli")
    server = bad_server({"/bomb": encoded(brotli_bomb(1024 * MIB), "br")})  # 190 KB → 1 GiB

    child, page, error = oversize_crawl(server, "/bomb", tmp_path)

    assert_cut_with_flat_memory(child, page, error)
    assert error["message"] == "body exceeds max_body_size (4194304 bytes) once decoded from br"


async def test_a_declared_oversize_body_is_refused_from_its_headers(bad_server,
                                                                     out_db) -> None:
    server = bad_server({"/": home("/big"), "/big": endless(
        limit=1024 * MIB, declare=True, headers={"X-Kind": "big"})})
    config = make_config([server.url("/")], fetch={**NO_RETRY, "max_body_size": "1MB"})

    stats = await crawl(config=config, output=out_db)

    page = rows(out_db, "SELECT status, body, text, headers FROM pages WHERE url = ?",
                server.url("/big"))
    assert page == [{"status": 200, "body": None, "text": None, "headers": (
        '{"content-length": "1073741824", "content-type": "text/html", '
        '"x-kind": "big", "connection": "close"}')}]
    assert rows(out_db, "SELECT kind, status, message FROM errors") == [{
        "kind": "too_large", "status": 200,
        "message": "Content-Length 1073741824 exceeds max_body_size (1048576 bytes)"}]
    tally = server.tally("/big")
    assert tally.client_left and tally.sent < 64 * MIB  # the body was never read
    assert stats.pages == 2 and stats.errors_by_kind == {"too_large": 1}
