"""Politeness measured at the server: per-host delay, per-host concurrency, hosts in parallel
(and, at the end, a host slot's clock on its own).

Timing bounds allow for a noisy two-core machine, and each check also asserts
the opposite side (enough requests, the bound reached, the delay really applied)
so that none of them can pass by doing nothing.
"""

from __future__ import annotations

import asyncio
import math
import statistics
import time
from contextlib import AbstractAsyncContextManager

import pytest

from crawler import crawl
from crawler.engine.crawler import Crawler
from crawler.fetch.base import PAGE, BodyStream, Fetcher, FetchOptions, Sent, tell_sent
from crawler.fetch.http import HttpFetcher
from crawler.models import Request, Response
from crawler.politeness.slots import HostSlot, Politeness, Starts
from tests.conftest import make_config, scalar
from tests.site import Page, chain_site, html_page, reachable, tree_site

pytestmark = pytest.mark.timeout(90)

# The delay counts from when a request leaves (the HTTP fetcher tells); the
# server sees it a little later, and on a loaded machine one request's arrival
# can lag by tens of ms. So each gap may fall short by JITTER, but the median
# gap - robust to one late request - must be within TOLERANCE of the delay. An
# engine that ignores or shortens the delay fails both (its gaps are a few ms).
TOLERANCE = 0.01
JITTER = 0.1


def assert_spaced(gaps: list[float], delay: float) -> None:
    """Request arrivals to one host were at least `delay` apart, as measured at the server."""
    shown = [round(g, 3) for g in gaps]
    assert gaps, "too few requests to measure a gap"
    assert min(gaps) >= delay - JITTER, f"gaps: {shown}"
    assert statistics.median(gaps) >= delay - TOLERANCE, f"gaps: {shown}"


async def test_per_host_delay_is_kept_between_request_starts(site_server, out_db) -> None:
    site = tree_site(10)
    server = site_server(site)

    stats = await crawl(config=make_config([server.url("/")], politeness={
        "per_host_delay": 0.3, "per_host_concurrency": 1}), output=out_db)

    assert len(server.requests) >= 8
    assert set(server.paths) == reachable(site)
    gaps = server.arrival_gaps()
    assert_spaced(gaps, 0.3)
    assert stats.pages == 10


async def test_per_host_delay_holds_with_concurrency_above_one(site_server, out_db) -> None:
    # the delay is between request starts, whatever the slot's concurrency
    site = tree_site(9, fanout=4)
    server = site_server(site, latency=0.05)

    await crawl(config=make_config([server.url("/")], politeness={
        "per_host_delay": 0.25, "per_host_concurrency": 3}), output=out_db)

    assert len(server.requests) == 9
    gaps = server.arrival_gaps()
    assert_spaced(gaps, 0.25)


class HeldBack:
    """The HTTP fetcher, with the n-th fetch held back `lags[n % len(lags)]` seconds before
    it goes out: what waiting for a pooled connection or a busy event loop does.
    `tells`: it passes on when requests leave (else it cannot tell, like the fake)."""

    def __init__(self, http: Fetcher, lags: list[float], *, tells: bool = True) -> None:
        self.http, self.lags, self.tells, self.fetches = http, lags, tells, 0

    def tell_sent(self, sent: Sent | None) -> bool:
        return self.tells and tell_sent(self.http, sent)

    async def open(self) -> None:
        await self.http.open()

    async def close(self) -> None:
        await self.http.close()

    async def fetch(self, request: Request, options: FetchOptions = PAGE) -> Response:
        lag = self.lags[self.fetches % len(self.lags)]
        self.fetches += 1
        await asyncio.sleep(lag)
        return await self.http.fetch(request, options)

    def stream(self, request: Request, *,
               max_redirects: int = 5) -> AbstractAsyncContextManager[BodyStream]:
        return self.http.stream(request, max_redirects=max_redirects)


@pytest.mark.parametrize(("lags", "tells"), [
    # Every third fetch is held back longer than the delay before it leaves: counted
    # from when the fetch began, the next request would reach the server first.
    pytest.param([0.0, 0.3, 0.0], True, id="counted-from-when-a-request-leaves"),
    # A fetcher that cannot tell: the delay counts from when each fetch began.
    pytest.param([0.1], False, id="a-fetcher-that-cannot-tell-spaces-the-starts"),
])
async def test_per_host_delay_holds_however_long_a_request_takes_to_leave(
        site_server, out_db, lags: list[float], tells: bool) -> None:
    site = tree_site(9, fanout=4)
    server = site_server(site, latency=0.05)
    config = make_config([server.url("/")], politeness={
        "per_host_delay": 0.25, "per_host_concurrency": 3})
    fetcher = HeldBack(HttpFetcher(config.fetch), lags, tells=tells)

    await Crawler(config=config, output=out_db, fetcher=fetcher).run()

    assert fetcher.fetches == len(server.requests) == 9
    assert_spaced(server.arrival_gaps(), 0.25)


async def test_per_host_concurrency_is_never_exceeded(site_server, out_db) -> None:
    site = tree_site(25, fanout=8)
    server = site_server(site, latency=0.1)

    await crawl(config=make_config([server.url("/")],
                                   politeness={"per_host_concurrency": 2, "per_host_delay": 0},
                                   fetch={"concurrency": 16}),
                output=out_db)

    assert set(server.paths) == reachable(site)
    assert server.max_concurrency <= 2
    assert server.max_concurrency == 2  # the bound is reached, so it is the bound that holds


async def test_global_concurrency_bounds_all_hosts_together(site_server, out_db) -> None:
    servers = [site_server(tree_site(8, fanout=7), host=f"127.0.0.{i}", latency=0.1)
               for i in (1, 2, 3)]

    await crawl(config=make_config([s.url("/") for s in servers],
                                   scope={"allowed_domains": ["127.0.0.1", "127.0.0.2",
                                                              "127.0.0.3"]},
                                   politeness={"per_host_concurrency": 4},
                                   fetch={"concurrency": 2}),
                output=out_db)

    # merge the three request logs: at no moment more than 2 requests overall
    events: list[tuple[float, int]] = []
    for server in servers:
        for request in server.requests:
            events.append((request.arrived, 1))
        for answer in server.answers:
            events.append((answer.finished, -1))
    active = peak = 0
    for _, change in sorted(events, key=lambda e: (e[0], e[1])):
        active += change
        peak = max(peak, active)
    assert sum(len(s.requests) for s in servers) == 24
    assert peak <= 2
    assert peak == 2


async def test_host_rule_overrides_the_default_for_its_host(site_server, out_db) -> None:
    slow = site_server(tree_site(6, fanout=5), host="127.0.0.2", latency=0.05)
    fast = site_server({"/": html_page("Fast", links=[f"/f/{i}" for i in range(12)]
                                       + [slow.url("/")]),
                        **{f"/f/{i}": html_page(f"F{i}") for i in range(12)}},
                       latency=0.1)

    await crawl(config=make_config([fast.url("/")],
                                   scope={"allowed_domains": ["127.0.0.1", "127.0.0.2"]},
                                   politeness={"per_host_concurrency": 4, "per_host_delay": 0,
                                               "hosts": {"127.0.0.2": {"concurrency": 1,
                                                                       "delay": 0.3}}}),
                output=out_db)

    assert len(slow.requests) == 6
    assert_spaced(slow.arrival_gaps(), 0.3)
    assert slow.max_concurrency == 1
    assert len(fast.requests) == 13
    assert fast.max_concurrency > 1  # the default still applies to the other host


async def test_hosts_are_crawled_in_parallel_each_at_its_own_pace(site_server, out_db) -> None:
    per_host, delay = 10, 0.3
    servers = [site_server(tree_site(per_host), host=f"127.0.0.{i}") for i in (1, 2, 3, 4)]
    cfg = make_config([s.url("/") for s in servers],
                      scope={"allowed_domains": [s.host for s in servers]},
                      politeness={"per_host_delay": delay, "per_host_concurrency": 1},
                      fetch={"concurrency": 16})

    started = time.monotonic()
    stats = await crawl(config=cfg, output=out_db)
    wall = time.monotonic() - started

    assert stats.pages == 4 * per_host
    assert scalar(out_db, "SELECT count(*) FROM pages") == 4 * per_host
    for server in servers:
        assert len(server.requests) == per_host
        assert_spaced(server.arrival_gaps(), delay)
    arrivals = sorted(r.arrived for s in servers for r in s.requests)
    span = arrivals[-1] - arrivals[0]
    sum_of_delays = 4 * per_host * delay  # 12 s if the hosts were crawled one after another
    one_host = (per_host - 1) * delay  # 2.7 s: the least one host's delays allow
    assert span >= one_host - JITTER
    assert span < 0.5 * sum_of_delays
    assert wall < 0.5 * sum_of_delays


async def test_robots_txt_is_obeyed_when_configured(site_server, out_db) -> None:
    server = site_server({
        "/robots.txt": Page("User-agent: *\nDisallow: /private/\n",
                            content_type="text/plain"),
        "/": html_page("Home", links=["/public", "/private/secret"]),
        "/public": html_page("Public"),
        "/private/secret": html_page("Secret"),
    })

    await crawl(config=make_config([server.url("/")], politeness={"robots_txt": "obey"}),
                output=out_db)

    assert "/robots.txt" in server.paths
    assert "/private/secret" not in server.paths
    assert "/public" in server.paths


async def test_a_crawl_whose_last_urls_are_refused_by_robots_ends_at_once(site_server,
                                                                          out_db) -> None:
    # Refusing is the crawl's last act: nothing is in flight to wake the scheduler after it.
    server = site_server({
        "/robots.txt": Page("User-agent: *\nDisallow: /private\n", content_type="text/plain"),
        "/": html_page("Home", links=["/private"]),
    })

    stats = await crawl(config=make_config([server.url("/")], politeness={"robots_txt": "obey"}),
                        output=out_db)

    assert stats.duration < 5.0  # not the 60 s max_duration
    assert stats.dropped["robots"] == 1
    assert server.paths == ["/robots.txt", "/"]


async def test_delayed_chain_is_fetched_in_order(site_server, out_db) -> None:
    # a single chain can only advance one page per delay: the crawl must not end early
    server = site_server(chain_site(5))

    stats = await crawl(config=make_config([server.url("/")], politeness={
        "per_host_delay": 0.2, "per_host_concurrency": 1}), output=out_db)

    assert stats.pages == 5
    assert server.paths == ["/", "/c/1", "/c/2", "/c/3", "/c/4"]


# -- a host slot's clock, without a server -------------------------------------------


def test_a_host_dispatches_nothing_more_until_its_request_has_started() -> None:
    slot = HostSlot(concurrency=3, delay=0.25)
    slot.dispatch()
    assert slot.has_room() and math.isinf(slot.ready_at())  # room, but when may the next go?
    slot.start(10.0)
    assert slot.ready_at() == 10.25
    # other sends to the host (robots.txt, a redirect hop) move its clock on, never back
    slot.sent(10.5)
    slot.sent(10.1)
    assert (slot.last_start, slot.ready_at()) == (10.5, 10.75)


def test_a_request_that_will_not_start_holds_its_host_up_no_longer() -> None:
    slot = HostSlot(concurrency=3, delay=0.25, next_at=5.0)
    slot.dispatch()
    slot.never_started()  # the gate said wait, or a stop took it back
    slot.release()
    assert (slot.active, slot.ready_at()) == (0, 5.0)


def test_without_a_delay_a_request_not_started_yet_holds_nothing_up() -> None:
    slot = HostSlot(concurrency=3, delay=0.0)
    slot.dispatch()
    assert slot.ready(0.0)


def dispatched(url: str) -> tuple[Politeness, Starts, list[str], Request, HostSlot]:
    """A request for `url` dispatched to its host's slot (0.25 s delay) under Starts that
    hear when it is sent; the slot, and the hosts Starts said may be ready again."""
    politeness = Politeness(make_config(["http://a.test/"], politeness={
        "per_host_delay": 0.25, "per_host_concurrency": 3}).politeness)
    ready: list[str] = []
    starts = Starts(politeness, tells_sent=True, on_ready=lambda host, _: ready.append(host))
    request = Request(url)
    slot = politeness.slot("http://a.test:80")
    slot.dispatch()
    starts.dispatched(request)
    return politeness, starts, ready, request, slot


def test_a_request_starts_when_first_sent_and_a_redirect_hop_moves_its_own_host() -> None:
    politeness, starts, ready, request, a = dispatched("http://a.test/sitemap.xml")

    starts.began(request)  # the fetcher will tell: not started yet
    assert math.isinf(a.ready_at()) and ready == []
    starts.sent(request, "http://a.test/sitemap.xml", 10.0)
    starts.sent(request, "http://b.test/sitemap.xml", 10.5)  # a hop followed inside the fetch

    assert (a.ready_at(), politeness.slot("http://b.test:80").ready_at()) == (10.25, 10.75)
    assert ready == ["http://a.test:80"]
    assert starts.ended(request, 9.0) == 10.0  # what the gate hears


def test_a_request_never_sent_started_when_its_fetch_began() -> None:
    _, starts, ready, request, a = dispatched("http://a.test/")

    starts.began(request)
    assert starts.ended(request, 9.0) == 9.0  # it could not connect, say
    assert (a.ready_at(), ready) == (9.25, ["http://a.test:80"])
