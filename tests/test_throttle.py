"""Adaptive throttling: the delay follows the server's latency and backs off on 429/5xx.

The rule is tested on its own; the crawls measure request arrivals at the
server, with bounds loose enough for a noisy machine and tight enough that a
crawler ignoring the setting (gaps of a few ms) fails them.
"""

from __future__ import annotations

import statistics

import pytest
from protego import Protego

from crawler import crawl
from crawler.config import config_from_dict
from crawler.politeness.robots import RobotsRules
from crawler.politeness.slots import Politeness
from crawler.politeness.throttle import FIRST_BACKOFF, adapt
from tests.conftest import make_config, rows
from tests.site import Page, html_page

pytestmark = pytest.mark.timeout(60)


def step(delay: float, latency: float = 0.0, status: int | None = 200, *,
         target: float = 1.0, floor: float = 0.0, cap: float = 60.0) -> float:
    return adapt(delay, latency, status, target_concurrency=target, floor=floor, cap=cap)


def test_the_delay_moves_halfway_towards_latency_over_target_concurrency() -> None:
    delay = 0.0
    for _ in range(12):
        delay = step(delay, 0.4)
    assert delay == pytest.approx(0.4, abs=0.001)
    assert step(0.0, 0.4) == pytest.approx(0.2)
    assert step(0.0, 0.4, target=2.0) == pytest.approx(0.1)


@pytest.mark.parametrize("status", [429, 500, 503, None])
def test_overload_at_least_doubles_the_delay_within_the_cap(status: int | None) -> None:
    assert step(0.3, 0.001, status) == pytest.approx(0.6)
    assert step(0.0, 0.001, status) == FIRST_BACKOFF
    assert step(0.3, 0.001, status, cap=0.5) == 0.5


def test_fast_error_pages_do_not_speed_the_crawl_up() -> None:
    assert step(0.5, 0.001, 404) == 0.5
    assert step(0.5, 2.0, 404) == pytest.approx(1.25)  # a slow one still slows it down


def test_the_floor_holds_even_above_the_cap() -> None:
    assert step(0.5, 0.0, floor=0.5) == 0.5
    assert step(0.1, 0.0, 503, floor=2.0, cap=1.0) == 2.0


@pytest.mark.parametrize(("robots", "floor"), [("", 0.2), ("Crawl-delay: 0.5", 0.5)])
def test_adaptive_delay_never_drops_below_the_host_delay_or_its_crawl_delay(
        robots: str, floor: float) -> None:
    politeness = Politeness(config_from_dict({"politeness": {
        "adaptive": True, "per_host_delay": 0.2}}).politeness)
    host = "http://a.example"
    rules = RobotsRules(Protego.parse(f"User-agent: *\n{robots}\n"))
    politeness.robots_fetched(host, rules, agent="crawler", started=0.0, now=0.0)
    politeness.observe(host, 3.0, 200)
    assert politeness.slot(host).delay == pytest.approx((floor + 3.0) / 2)  # it adapts
    for _ in range(20):
        politeness.observe(host, 0.001, 200)
    assert politeness.slot(host).delay == floor


async def test_adaptive_delay_converges_towards_the_servers_latency(site_server,
                                                                   out_db) -> None:
    latency, n = 0.1, 20
    site = {"/": html_page("Home", links=[f"/p/{i}" for i in range(n)]),
            **{f"/p/{i}": html_page(f"P{i}") for i in range(n)}}
    server = site_server(site, latency=latency)
    config = make_config([server.url("/")], politeness={
        "adaptive": True, "target_concurrency": 1.0, "per_host_delay": 0,
        "per_host_concurrency": 4})

    await crawl(config=config, output=out_db)

    assert len(server.requests) == n + 1
    settled = statistics.median(server.arrival_gaps()[-10:])
    # Without throttling, 4 requests at a time would arrive ~latency/4 apart.
    assert 0.7 * latency <= settled <= 2.5 * latency, server.arrival_gaps()
    assert server.max_concurrency <= 2


async def test_adaptive_throttling_backs_off_on_503_and_recovers(site_server,
                                                                out_db) -> None:
    errors, fine = ["/e1", "/e2", "/e3", "/e4"], ["/ok1", "/ok2"]
    server = site_server({"/": html_page("Home", links=errors + fine),
                          **{p: Page("busy", status=503) for p in errors},
                          **{p: html_page(p) for p in fine}})
    cap = 0.4
    config = make_config([server.url("/")], fetch={"retries": 0}, politeness={
        "adaptive": True, "per_host_delay": 0, "per_host_concurrency": 1, "max_delay": cap})

    await crawl(config=config, output=out_db)

    assert server.paths == ["/", *errors, *fine]
    gaps = server.arrival_gaps()  # gaps[i]: from the i-th request to the next
    slack = 0.05
    assert gaps[1] >= FIRST_BACKOFF - slack        # after the first 503
    assert gaps[2] >= 2 * FIRST_BACKOFF - slack    # doubled
    assert gaps[3] >= cap - slack                  # doubled again, reaching the cap
    assert gaps[4] >= cap - slack
    assert max(gaps[3], gaps[4]) < cap + 0.25      # held at the cap, not doubled to 0.8
    assert gaps[5] < cap - 0.1                     # a fast 200 brings it back down
    assert len(rows(out_db, "SELECT id FROM errors WHERE status = 503")) == 4
