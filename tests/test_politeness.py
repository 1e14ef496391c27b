"""Politeness measured at the server: per-host delay, per-host concurrency, hosts in parallel.

Timing bounds allow for a noisy two-core machine, and each check also asserts
the opposite side (enough requests, the bound reached, the delay really applied)
so that none of them can pass by doing nothing.
"""

from __future__ import annotations

import statistics
import time

import pytest

from crawler import crawl
from tests.conftest import make_config, scalar
from tests.site import Page, chain_site, html_page, reachable, tree_site

pytestmark = pytest.mark.timeout(90)

# The delay counts from when a fetch starts; the server sees the request a
# little later, and on a loaded machine one request's connect can lag by tens
# of ms. So each gap may fall short by JITTER, but the median gap - robust to
# one late request - must be within TOLERANCE of the delay. An engine that
# ignores or shortens the delay fails both (its gaps are a few ms).
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
