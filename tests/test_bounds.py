"""Bounds on one request: timeouts and body size, against servers that misbehave on purpose.

A server that never answers, dribbles its body, never ends it, or sends a
compression bomb costs at most the configured time or bytes, never the crawl.
"""

from __future__ import annotations

import time

import pytest

from crawler import crawl
from tests.badserver import answer, dribble, hang
from tests.conftest import make_config, rows
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
    assert 5 <= tally.sent < 100                     # it did dribble, and was left early
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
