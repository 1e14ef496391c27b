"""The page pipeline on the in-memory fake fetcher: one outcome per request, no sockets, no clocks.

Each test runs a whole crawl into a real SQLite file, with `FakeFetcher`
behind the fetcher seam instead of HTTP, so what is checked is the engine:
which outcome each request ends in, and what that writes (frontier state,
page row, errors rows, counters). The same behaviours are tested over real
loopback HTTP in the other test files.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler import Crawler, Request, Spider
from crawler.engine.outcome import Outcome
from crawler.engine.pipeline import Pipeline
from crawler.errors import FetchError
from crawler.fetch.fake import FakeAnswer, FakeFetcher, redirect
from crawler.fetch.mounts import Mounts
from crawler.hooks import Hooks
from crawler.models import Response
from crawler.politeness.retries import RetryPolicy
from crawler.store.records import iso_time
from crawler.urls import canonicalize
from tests.conftest import make_config, rows

pytestmark = pytest.mark.timeout(30)

SITE = "http://site.test"


def url(path: str) -> str:
    return SITE + path


def page(*links: str, title: str = "t") -> str:
    anchors = "".join(f'<a href="{link}">{link}</a>' for link in links)
    return f"<html><head><title>{title}</title></head><body>{anchors}</body></html>"


def states(db: Path) -> dict[str, str]:
    """Each frontier row's URL path and final state."""
    return {row["url"].removeprefix(SITE): row["state"]
            for row in rows(db, "SELECT url, state FROM frontier")}


def errors(db: Path) -> list[tuple[str, str]]:
    return [(row["url"].removeprefix(SITE), row["kind"])
            for row in rows(db, "SELECT url, kind FROM errors ORDER BY id")]


async def run(fake: FakeFetcher, db: Path, **sections: Any) -> Crawler:
    config = make_config([url("/")], **sections)
    crawler = Crawler(config=config, output=db, fetcher=fake)
    await crawler.run()
    return crawler


# -- one outcome per request, over a whole crawl ---------------------------------------


async def test_each_request_ends_in_exactly_one_outcome(out_db) -> None:
    fake = FakeFetcher({
        url("/"): page("/ok", "/missing", "/moved", "/flaky", "/down", "/huge", "/file",
                       "/private", "/broken"),
        url("/ok"): page(title="ok"),
        url("/missing"): 404,
        url("/moved"): redirect("/ok2"),
        url("/ok2"): page(title="ok2"),
        url("/flaky"): [503, page(title="flaky")],
        url("/down"): FetchError("refused", kind="connection"),
        url("/huge"): "<html>" + "x" * 4096 + "</html>",
        url("/file"): FakeAnswer(body=b"%PDF", content_type="application/pdf"),
        url("/private"): page(title="private"),
        url("/broken"): page(title="broken"),
        url("/robots.txt"): FakeAnswer(body="User-agent: *\nDisallow: /private",
                                       content_type="text/plain"),
    })

    class Raising(Spider):
        def parse(self, response: Response) -> Any:
            if response.url.endswith("/broken"):
                raise ValueError("no parse for you")
            yield from super().parse(response)

    config = make_config([url("/")], politeness={"robots_txt": "obey"},
                         fetch={"backoff": 0, "retries": 1, "max_body_size": 2048},
                         store={"non_html": "skip"})
    crawler = Crawler(Raising, config, output=out_db, fetcher=fake)
    stats = await crawler.run()

    assert states(out_db) == {
        "/": "done", "/ok": "done", "/missing": "done", "/moved": "done", "/ok2": "done",
        "/flaky": "done", "/huge": "done", "/file": "done", "/broken": "done",
        "/down": "failed", "/private": "dropped"}
    stored = {row["url"].removeprefix(SITE): row["status"]
              for row in rows(out_db, "SELECT url, status FROM pages")}
    assert stored == {"/": 200, "/ok": 200, "/missing": 404, "/moved": 301, "/ok2": 200,
                      "/flaky": 200, "/huge": 200, "/broken": 200}
    assert sorted(errors(out_db)) == sorted([
        ("/missing", "http"), ("/down", "connection"), ("/huge", "too_large"),
        ("/private", "robots"), ("/broken", "callback")])
    assert fake.fetched(url("/flaky")) == 2 and fake.fetched(url("/down")) == 2
    assert fake.fetched(url("/private")) == 0
    assert stats.retries == 2
    assert stats.dropped["robots"] == 1 and stats.dropped["non_html"] == 1
    assert stats.pages == 8 and stats.status == "finished"


async def test_robots_txt_and_sitemaps_go_through_the_given_fetcher(out_db) -> None:
    fake = FakeFetcher({
        url("/"): page(),
        url("/robots.txt"): FakeAnswer(body=f"Sitemap: {SITE}/map.xml",
                                       content_type="text/plain"),
        url("/map.xml"): FakeAnswer(
            body=f'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
                 f"<url><loc>{SITE}/listed</loc></url></urlset>",
            content_type="application/xml"),
        url("/listed"): page(title="listed"),
    })

    crawler = Crawler(config=make_config([url("/")], sitemaps=True,
                                         politeness={"robots_txt": "obey"}),
                      output=out_db, fetcher=fake)
    await crawler.run()

    asked = [canonicalize(request.url) for request in fake.requests]
    assert asked[0] == url("/robots.txt")  # asked for as http://site.test:80/robots.txt
    assert set(asked) == {url("/robots.txt"), url("/"), url("/map.xml"), url("/listed")}
    assert fake.opened == fake.closed == 1  # the crawl opened and closed what it was given
    assert states(out_db)["/listed"] == "done"


async def test_a_fetcher_mounted_by_pattern_takes_only_its_urls(out_db) -> None:
    plain = FakeFetcher({url("/"): page("/app/one", "/two"), url("/two"): page()})
    rendering = FakeFetcher({url("/app/one"): page(title="rendered")})

    await run(Mounts(plain, [(r"/app/", rendering)]), out_db)  # type: ignore[arg-type]

    assert [r.url for r in rendering.requests] == [url("/app/one")]
    assert {r.url for r in plain.requests} == {url("/"), url("/two")}
    titles = {row["url"]: row["title"] for row in rows(out_db, "SELECT url, title FROM pages")}
    assert titles[url("/app/one")] == "rendered"


async def test_a_redirect_to_a_dropped_target_says_why_under_the_url_the_chain_began(
        out_db) -> None:
    fake = FakeFetcher({url("/"): page("/out"), url("/out"): redirect("http://elsewhere.test/")})

    await run(fake, out_db)

    assert errors(out_db) == [("/out", "redirect")]
    message = rows(out_db, "SELECT message FROM errors")[0]["message"]
    assert message.endswith("not followed (offsite)")
    assert states(out_db)["/out"] == "done"


async def test_an_internal_error_fails_only_its_request(out_db, monkeypatch) -> None:
    fake = FakeFetcher({url("/"): page("/a", "/b"), url("/a"): page(), url("/b"): page()})
    original = Pipeline._page

    async def buggy(self: Pipeline, request: Request, response: Response,
                    fetched_at: float) -> Outcome:
        if request.url.endswith("/a"):
            raise KeyError("a bug of ours")
        return await original(self, request, response, fetched_at)

    monkeypatch.setattr(Pipeline, "_page", buggy)
    crawler = await run(fake, out_db)

    assert states(out_db) == {"/": "done", "/a": "failed", "/b": "done"}
    assert errors(out_db) == [("/a", "internal")]
    assert crawler.stats.status == "finished"


# -- the pipeline alone: a request in, its Outcome out ---------------------------------


async def outcome_of(answers: dict[str, Any], request: Request, *,
                     config: Any = None) -> Outcome:
    config = config or make_config([url("/")], fetch={"retries": 1})
    fake = FakeFetcher(answers)
    pipeline = Pipeline(config, fake, Spider(config), sitemaps=None,  # type: ignore[arg-type]
                        retries=RetryPolicy(config.fetch, config.politeness), hooks=Hooks(),
                        observe=lambda *args: None)
    async with fake:
        return await pipeline.run(request)


async def test_a_page_becomes_a_stored_outcome_with_its_links_to_follow() -> None:
    result = await outcome_of({url("/"): page("/a", "mailto:x@y")}, Request(url("/")))

    assert (result.state, result.counts, result.errors) == ("done", True, [])
    assert result.page is not None and result.page.title == "t"
    assert result.follow == [url("/a"), "mailto:x@y"]  # the scheduler drops the mailto


async def test_a_retryable_status_becomes_retry_until_tries_run_out() -> None:
    first = await outcome_of({url("/"): 503}, Request(url("/")))
    last = await outcome_of({url("/"): 503}, Request(url("/"), tries=1))

    assert (first.state, first.reason, first.page) == ("retry", "HTTP 503", None)
    assert last.state == "done" and last.page is not None and last.page.status == 503
    assert [(e.kind, e.status, e.tries) for e in last.errors] == [("http", 503, 2)]


async def test_no_response_becomes_failed_with_every_attempt_listed() -> None:
    request = Request(url("/"), tries=1, failures=("connect timed out after 10s",))
    result = await outcome_of({url("/"): FetchError("refused", kind="connection")}, request)

    assert result.state == "failed"
    assert [e.kind for e in result.errors] == ["connection"]
    assert result.errors[0].message == "attempt 1: connect timed out after 10s; attempt 2: refused"


async def test_a_redirect_is_a_page_row_and_a_hop_that_does_not_count_as_a_page() -> None:
    result = await outcome_of({url("/"): redirect("/next")}, Request(url("/")))

    assert (result.state, result.counts) == ("done", False)
    assert result.hop is not None and result.hop.url == url("/next")
    assert result.hop.redirects == ((301, url("/")),)



@settings(max_examples=2000, deadline=None)
@given(second=st.integers(0, 4_102_444_800),  # 1970 to 2100
       fraction=st.one_of(st.floats(0, 1, exclude_max=True),
                          st.sampled_from([0.9999996, 0.9999994, 0.0009995, 0.0000005])))
def test_page_times_read_as_datetime_prints_them_to_the_millisecond(
        second: int, fraction: float) -> None:
    # iso_time caches each second's text; its rounding must stay datetime's.
    epoch = second + fraction
    stamp = datetime.fromtimestamp(epoch, UTC)
    expected = stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"
    assert iso_time(epoch) == expected
