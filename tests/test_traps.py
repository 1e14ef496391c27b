"""Crawler traps: endless URL spaces stop at their limits, each drop counted by reason."""

from __future__ import annotations

import re

from crawler import crawl
from tests.conftest import make_config, scalar
from tests.site import html_page, tree_site


class EndlessCalendar:
    """/calendar?month=N links to month N+1 (and N-1), for ever."""

    def get(self, path: str) -> str | None:
        if path == "/":
            return html_page("Home", links=["/calendar?month=0"])
        match = re.fullmatch(r"/calendar\?month=(-?\d+)", path)
        if match is None:
            return None
        month = int(match.group(1))
        return html_page(f"Month {month}", links=[f"/calendar?month={month + 1}",
                                                  f"/calendar?month={month - 1}"])


class EndlessDirectories:
    """Every directory links to a subdirectory of the same name: /x/, /x/x/, /x/x/x/ ..."""

    def get(self, path: str) -> str | None:
        if path == "/" or re.fullmatch(r"(/x)+/", path):
            return html_page(path, links=["x/"])
        return None


async def test_a_calendar_trap_stops_at_its_pattern_budget(site_server, out_db) -> None:
    server = site_server()
    server.site = EndlessCalendar()

    stats = await crawl(config=make_config([server.url("/")],
                                           limits={"max_urls_per_pattern": 20}), output=out_db)

    calendar = [p for p in server.paths if p.startswith("/calendar")]
    assert len(calendar) == 20
    assert stats.stop_reason == "complete"          # it ended by itself, not by a limit
    assert stats.dropped["pattern_budget"] >= 1


async def test_repeated_path_segments_are_a_trap(site_server, out_db) -> None:
    server = site_server()
    server.site = EndlessDirectories()

    stats = await crawl(config=make_config([server.url("/")],
                                           scope={"max_repeated_segments": 3}), output=out_db)

    assert sorted(server.paths) == ["/", "/x/", "/x/x/", "/x/x/x/"]
    assert stats.dropped["repeated_segments"] == 1


async def test_long_urls_and_deep_paths_are_dropped_with_their_reasons(site_server,
                                                                      out_db) -> None:
    long_href = "/long?q=" + "a" * 3000
    deep_href = "/" + "/".join(f"d{i}" for i in range(40))
    server = site_server({"/": html_page("Home", links=[long_href, deep_href, "/ok"]),
                          "/ok": html_page("OK")})

    stats = await crawl(config=make_config([server.url("/")]), output=out_db)

    assert sorted(server.paths) == ["/", "/ok"]
    assert stats.dropped["url_too_long"] == 1
    assert stats.dropped["too_many_segments"] == 1


async def test_a_host_budget_bounds_the_urls_taken_from_one_host(site_server, out_db) -> None:
    server = site_server(tree_site(40, fanout=5))

    stats = await crawl(config=make_config([server.url("/")],
                                           limits={"max_urls_per_host": 10}), output=out_db)

    assert len(server.requests) == 10
    assert scalar(out_db, "SELECT count(*) FROM pages") == 10
    assert stats.dropped["host_budget"] >= 1
