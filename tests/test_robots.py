"""robots.txt (RFC 9309) against loopback servers: rules, failures and retries, TTL, Crawl-delay.

Every timing is measured at the server; each bound allows for a noisy
two-core machine and is paired with a check that the behaviour happened at all.
"""

from __future__ import annotations

import itertools

import pytest

from crawler import crawl
from crawler.politeness.robots import agent_token
from tests.conftest import make_config as _make_config
from tests.conftest import rows, scalar
from tests.site import Page, html_page, refused_port, tree_site
from tests.test_politeness import assert_spaced

pytestmark = pytest.mark.timeout(60)

# Obey robots.txt, and retry an unreachable one quickly.
ROBOTS = {"robots_txt": "obey", "robots_backoff": 0.05, "robots_max_backoff": 0.2}


def make_config(urls, **sections):
    sections["politeness"] = {**ROBOTS, **sections.get("politeness", {})}
    return _make_config(urls, **sections)


def robots(text: str) -> Page:
    return Page(text, content_type="text/plain")


def hosts(*servers) -> dict:
    return {"allowed_domains": [s.host for s in servers]}


def robots_errors(db) -> dict[str, str]:
    return {r["url"]: r["message"]
            for r in rows(db, "SELECT url, message FROM errors WHERE kind = 'robots'")}


async def test_disallowed_urls_are_not_fetched_and_each_is_recorded(site_server,
                                                                     out_db) -> None:
    server = site_server({
        "/robots.txt": robots("User-agent: *\nDisallow: /private/\n"),
        "/": html_page("Home", links=["/public", "/private/a", "/private/b"]),
        "/public": html_page("Public"),
    })

    stats = await crawl(config=make_config([server.url("/")]), output=out_db)

    assert sorted(server.paths) == ["/", "/public", "/robots.txt"]
    assert robots_errors(out_db) == {server.url("/private/a"): "disallowed by robots.txt",
                                     server.url("/private/b"): "disallowed by robots.txt"}
    assert stats.dropped["robots"] == 2


async def test_a_robots_txt_404_allows_everything(site_server, out_db) -> None:
    site = tree_site(5)
    server = site_server(site)  # no /robots.txt: the server answers 404

    stats = await crawl(config=make_config([server.url("/")]), output=out_db)

    assert server.paths[0] == "/robots.txt"
    assert stats.pages == 5
    assert scalar(out_db, "SELECT count(*) FROM errors") == 0


async def test_a_robots_txt_503_makes_its_host_wait_then_resume_while_others_go_on(
        site_server, out_db) -> None:
    flaky = site_server({
        "/robots.txt": [Page("down", status=503), robots("User-agent: *\nDisallow: /no\n")],
        "/": html_page("Home", links=["/a", "/no"]), "/a": html_page("A"),
    }, host="127.0.0.2")
    other = site_server(tree_site(30), host="127.0.0.3", latency=0.03)
    backoff = 0.5  # the wait is backoff * 0.5-1.5 (jitter)
    config = make_config([flaky.url("/"), other.url("/")], scope=hosts(flaky, other),
                         politeness={"robots_backoff": backoff, "robots_max_backoff": backoff,
                                     "per_host_concurrency": 1})

    stats = await crawl(config=config, output=out_db)

    first, second, *pages = flaky.requests
    assert [first.path, second.path] == ["/robots.txt", "/robots.txt"]
    assert backoff * 0.5 - 0.02 <= second.arrived - first.arrived < backoff * 1.5 + 1.0
    assert sorted(r.path for r in pages) == ["/", "/a"]  # only after the retry, by its rules
    meanwhile = [r for r in other.requests if first.arrived < r.arrived < second.arrived]
    assert len(meanwhile) >= 3  # the other host did not wait
    assert robots_errors(out_db) == {flaky.url("/no"): "disallowed by robots.txt"}
    assert stats.pages == 2 + 30


@pytest.mark.parametrize("failure", ["HTTP 503", "HTTP 429", "connection refused"])
async def test_a_robots_txt_that_keeps_failing_gives_its_host_up_and_records_its_urls(
        site_server, out_db, failure: str) -> None:
    other = site_server(tree_site(4), host="127.0.0.3")
    if failure == "connection refused":
        down_base, down = f"http://127.0.0.2:{refused_port('127.0.0.2')}", None
    else:
        status = int(failure.split()[1])
        down = site_server({"/robots.txt": Page("busy", status=status),
                            "/": html_page("Home")}, host="127.0.0.2")
        down_base = down.base
    config = make_config([down_base + "/", down_base + "/b", other.url("/")],
                         scope={"allowed_domains": ["127.0.0.2", "127.0.0.3"]},
                         politeness={"robots_tries": 3})

    stats = await crawl(config=config, output=out_db)

    assert (stats.status, stats.stop_reason) == ("finished", "complete")
    if down is not None:
        assert down.paths == ["/robots.txt"] * 3  # three tries, then nothing more
    errors = robots_errors(out_db)
    assert set(errors) == {down_base + "/", down_base + "/b"}
    for message in errors.values():
        assert message.startswith("robots.txt unreachable after 3 tries (last: ")
        if down is not None:
            assert message.endswith(f"(last: {failure})")
    assert stats.dropped["robots"] == 2
    assert stats.pages == 4  # the other host was crawled in full


async def test_robots_txt_is_fetched_again_after_its_ttl_and_new_rules_apply(
        site_server, out_db) -> None:
    # /b/early is checked under the first rules; /a and /b are found only when
    # /slow answers, after the TTL, so the second rules decide them.
    server = site_server({
        "/robots.txt": [robots("User-agent: *\nDisallow: /b\n"),
                        robots("User-agent: *\nDisallow: /a\n")],
        "/": html_page("Home", links=["/slow", "/b/early"]),
        "/slow": Page(html_page("Slow", links=["/a", "/b"]), delay=1.2),
        "/a": html_page("A"), "/b": html_page("B"), "/b/early": html_page("Early"),
    })
    config = make_config([server.url("/")], politeness={"robots_ttl": 0.6})

    await crawl(config=config, output=out_db)

    assert server.paths.count("/robots.txt") == 2
    assert sorted(p for p in server.paths if p != "/robots.txt") == ["/", "/b", "/slow"]
    assert set(robots_errors(out_db)) == {server.url("/b/early"), server.url("/a")}


async def test_robots_txt_is_not_fetched_again_within_its_ttl(site_server, out_db) -> None:
    server = site_server({"/robots.txt": robots("User-agent: *\nDisallow: /x\n"),
                          **tree_site(8)})

    await crawl(config=make_config([server.url("/")]), output=out_db)

    assert server.paths.count("/robots.txt") == 1
    assert len(server.paths) == 9


async def test_crawl_delay_spaces_requests_to_its_host(site_server, out_db) -> None:
    server = site_server({"/robots.txt": robots("User-agent: *\nCrawl-delay: 0.3\n"),
                          **tree_site(5)})
    config = make_config([server.url("/")],
                         politeness={"per_host_delay": 0, "per_host_concurrency": 3})

    await crawl(config=config, output=out_db)

    assert len(server.paths) == 6
    assert_spaced(server.arrival_gaps(), 0.3)  # robots.txt counts as a request too


async def test_crawl_delay_is_capped_by_max_crawl_delay(site_server, out_db) -> None:
    server = site_server({"/robots.txt": robots("User-agent: *\nCrawl-delay: 20\n"),
                          **tree_site(4)})
    config = make_config([server.url("/")], politeness={"per_host_delay": 0,
                                                        "max_crawl_delay": "250ms"})

    await crawl(config=config, output=out_db)

    gaps = server.arrival_gaps()
    assert len(gaps) == 4
    assert_spaced(gaps, 0.25)
    assert max(gaps) < 2.0  # far below the 20 s asked for


@pytest.mark.parametrize(("hops", "obeyed"), [(5, True), (6, False)])
async def test_robots_redirects_are_followed_up_to_five(site_server, out_db, hops: int,
                                                        obeyed: bool) -> None:
    # RFC 9309: follow at least five redirects; past that the file may be taken as absent.
    chain = ["/robots.txt"] + [f"/r{i}" for i in range(1, hops)] + ["/real-robots.txt"]
    site = {path: Page("", status=301, headers={"Location": target})
            for path, target in itertools.pairwise(chain)}
    server = site_server({**site,
                          "/real-robots.txt": robots("User-agent: *\nDisallow: /private\n"),
                          "/": html_page("Home", links=["/private", "/open"]),
                          "/private": html_page("Private"), "/open": html_page("Open")})

    await crawl(config=make_config([server.url("/")]), output=out_db)

    assert server.paths[:hops] == chain[:hops]
    assert ("/real-robots.txt" in server.paths) is obeyed
    assert ("/private" in server.paths) is not obeyed
    assert "/open" in server.paths


async def test_groups_are_matched_on_the_product_token_not_the_whole_user_agent(
        site_server, out_db) -> None:
    # The full header contains "example" at a word start; only the "crawler" group is ours.
    server = site_server({
        "/robots.txt": robots("User-agent: example\nDisallow: /\n\n"
                              "User-agent: crawler\nDisallow: /mine\n\n"
                              "User-agent: *\nDisallow: /all\n"),
        "/": html_page("Home", links=["/mine", "/all", "/open"]),
        "/mine": html_page("Mine"), "/all": html_page("All"), "/open": html_page("Open"),
    })
    config = make_config([server.url("/")],
                         fetch={"user_agent": "crawler/0.1 (+https://example.com/bot)"})

    await crawl(config=config, output=out_db)

    assert sorted(server.paths) == ["/", "/all", "/open", "/robots.txt"]


async def test_robots_agent_chooses_the_group_to_obey(site_server, out_db) -> None:
    server = site_server({
        "/robots.txt": robots("User-agent: crawler\nDisallow: /mine\n\n"
                              "User-agent: otherbot\nDisallow: /other\n"),
        "/": html_page("Home", links=["/mine", "/other"]),
        "/mine": html_page("Mine"), "/other": html_page("Other"),
    })
    config = make_config([server.url("/")], politeness={"robots_agent": "OtherBot"})

    await crawl(config=config, output=out_db)

    assert sorted(server.paths) == ["/", "/mine", "/robots.txt"]


@pytest.mark.parametrize(("user_agent", "token"), [
    ("crawler/0.1 (+https://github.com/crawler)", "crawler"),
    ("my_bot-2", "my_bot-"),
    ("  Foo-Bot", "Foo-Bot"),
    ("7bot/1.0", "7bot/1.0"),  # no token at the start: used as it is
])
def test_agent_token_is_the_leading_product_token(user_agent: str, token: str) -> None:
    assert agent_token(user_agent) == token

