"""Retries, back-off and Retry-After, against a loopback server that misbehaves on purpose."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from crawler import crawl
from crawler.politeness.retries import backoff_delay, parse_retry_after
from tests.conftest import make_config as _make_config
from tests.conftest import rows, scalar
from tests.site import Page, html_page, tree_site

FAST_RETRY = {"backoff": 0.05, "max_backoff": 0.2}


def make_config(urls, **sections):
    sections["fetch"] = {**FAST_RETRY, **sections.get("fetch", {})}
    return _make_config(urls, **sections)


def fails(status: int, times: int, then: str = html_page("Finally")) -> list:
    """A path that answers `status` `times` times, then `then` for good."""
    return [Page(html_page(f"Error {status}"), status=status)] * times + [then]


async def test_a_503_twice_then_200_is_retried_and_stored_once(site_server, out_db) -> None:
    server = site_server({"/": html_page("Home", links=["/flaky"]),
                          "/flaky": fails(503, 2)})

    stats = await crawl(config=make_config([server.url("/")]), output=out_db)

    assert server.paths.count("/flaky") == 3
    assert rows(out_db, "SELECT status, title FROM pages WHERE url = ?",
                server.url("/flaky")) == [{"status": 200, "title": "Finally"}]
    assert scalar(out_db, "SELECT count(*) FROM errors") == 0
    assert stats.retries == 2


async def test_exhausted_tries_land_in_errors_with_every_attempt(site_server, out_db) -> None:
    server = site_server({"/": html_page("Home", links=["/broken"]),
                          "/broken": fails(500, 99)})

    await crawl(config=make_config([server.url("/")], fetch={"retries": 2}), output=out_db)

    assert server.paths.count("/broken") == 3  # the first attempt and two retries
    (error,) = rows(out_db, "SELECT kind, status, tries, message FROM errors WHERE url = ?",
                    server.url("/broken"))
    assert error == {"kind": "http", "status": 500, "tries": 3, "message":
                     "attempt 1: HTTP 500; attempt 2: HTTP 500; attempt 3: HTTP 500"}
    assert scalar(out_db, "SELECT count(*) FROM pages WHERE url = ?", server.url("/broken")) == 1


async def test_statuses_outside_retry_statuses_are_not_retried(site_server, out_db) -> None:
    server = site_server({"/": html_page("Home", links=["/gone"]), "/gone": fails(404, 99)})

    await crawl(config=make_config([server.url("/")]), output=out_db)

    assert server.paths.count("/gone") == 1
    assert scalar(out_db, "SELECT tries FROM errors WHERE url = ?", server.url("/gone")) == 1


async def test_connection_errors_are_retried_then_recorded(refused_url, out_db) -> None:
    await crawl(config=make_config([refused_url], fetch={"retries": 2}), output=out_db)

    (error,) = rows(out_db, "SELECT kind, tries, message FROM errors")
    assert (error["kind"], error["tries"]) == ("connection", 3)
    assert error["message"].startswith("attempt 1: ") and "attempt 3: " in error["message"]


async def test_429_retry_after_cools_that_host_while_others_go_on(site_server, out_db) -> None:
    cooled = site_server({
        "/": [Page(html_page("Slow down"), status=429, headers={"Retry-After": "2"}),
              html_page("Home", links=["/a", "/b"])],
        "/a": html_page("A"), "/b": html_page("B"),
    }, host="127.0.0.2")
    other = site_server(tree_site(12), host="127.0.0.3", latency=0.1)
    config = make_config([cooled.url("/"), other.url("/")],
                         scope={"allowed_domains": ["127.0.0.2", "127.0.0.3"]},
                         politeness={"per_host_concurrency": 1})

    await crawl(config=config, output=out_db)

    first, second, *rest = [r.arrived for r in cooled.requests]
    assert second - first >= 2.0 - 0.05          # the whole host waited out Retry-After
    assert all(t >= first + 2.0 - 0.05 for t in rest)
    meanwhile = [r for r in other.requests if first < r.arrived < first + 1.9]
    assert len(meanwhile) >= 5                   # the other host did not wait
    assert sorted(cooled.paths) == ["/", "/", "/a", "/b"]
    assert scalar(out_db, "SELECT status FROM pages WHERE url = ?", cooled.url("/")) == 200


async def test_retry_after_is_capped_by_max_retry_after(site_server, out_db) -> None:
    server = site_server({"/": [Page("busy", status=503, headers={"Retry-After": "3600"}),
                                html_page("Home")]})

    config = make_config([server.url("/")], politeness={"max_retry_after": "0.3s"})
    await crawl(config=config, output=out_db)

    first, second = [r.arrived for r in server.requests]
    assert 0.3 - 0.05 <= second - first < 2.0


def test_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("120") == 120.0
    later = format_datetime(now + timedelta(seconds=90), usegmt=True)
    assert parse_retry_after(later, now=now) == 90.0
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True),
                             now=now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_backoff_doubles_with_jitter_and_stays_capped() -> None:
    rng = random.Random(7)
    for tries, nominal in [(1, 0.5), (2, 1.0), (3, 2.0), (10, 60.0)]:
        delays = [backoff_delay(tries, base=0.5, cap=60.0, rng=rng) for _ in range(200)]
        assert nominal * 0.5 <= min(delays) and max(delays) <= nominal * 1.5
        assert max(delays) - min(delays) > nominal * 0.5  # jitter spreads retries out
