"""Crawling through HTTP proxies: a real forward proxy on loopback sees every request;
rotation per request and per host; per-host proxies and `direct`; the environment's
HTTP_PROXY/NO_PROXY when asked; a failing proxy benched, recorded and replaced; proxy
credentials never in the database or the logs."""

from __future__ import annotations

import json
import os
import subprocess
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from crawler import crawl
from tests.conftest import cli_command, cli_env, make_config, rows, scalar
from tests.site import refused_port, tree_site

pytestmark = pytest.mark.timeout(90)

SECRET = "pr0xy-s3cret-Zq7"  # the proxy's password; must never be written anywhere


def file_bytes(db: Path) -> bytes:
    """The database and its side files, as bytes (what a leak would hide in)."""
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


def crawled_urls(db: Path) -> set[str]:
    return {r["url"] for r in rows(db, "SELECT url FROM pages")}


def test_every_request_goes_through_the_proxy_and_its_password_is_never_written(
        site_server, forward_proxy, tmp_path) -> None:
    site = site_server(tree_site(30), host="127.0.0.2")
    site.site["/robots.txt"] = "User-agent: *\nDisallow: /nowhere\n"
    proxy = forward_proxy(credentials=("crawler", SECRET))
    config = tmp_path / "proxied.yaml"
    config.write_text(f"""\
name: proxied
start_urls: ["{site.url("/")}"]
politeness: {{per_host_delay: 0, per_host_concurrency: 4}}
fetch: {{proxy: "http://crawler:${{PROXY_PASSWORD}}@127.0.0.1:{proxy.port}"}}
""")
    db = tmp_path / "proxied.db"
    env = {**cli_env(), "PROXY_PASSWORD": SECRET}

    done = subprocess.run(cli_command("-vv", "run", str(config), "-o", str(db)), env=env,
                          capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 0, done.stderr
    relayed = proxy.requests
    # The proxy saw every request the site saw, robots.txt included, each with our password.
    assert sorted(r.url for r in relayed) == sorted(site.url(p) for p in site.paths)
    assert set(proxy.urls) == crawled_urls(db) | {site.url("/robots.txt")}
    assert len(crawled_urls(db)) == 30
    assert {r.status for r in relayed} == {200}
    # Nowhere: not in the file (config, headers, errors), not in the logs.
    assert SECRET.encode() not in file_bytes(db)
    assert SECRET not in done.stdout + done.stderr
    stored = json.loads(scalar(db, "SELECT config FROM crawls"))
    assert stored["fetch"]["proxy"] == [
        f"http://crawler:${{PROXY_PASSWORD}}@127.0.0.1:{proxy.port}"]
    stats = json.loads(scalar(db, "SELECT stats FROM crawls"))
    assert stats["proxies"] == {f"http://127.0.0.1:{proxy.port}": {
        "requests": len(relayed), "failures": 0, "last_error": None}}


async def test_a_written_out_proxy_password_is_stored_as_stars(site_server, forward_proxy,
                                                               tmp_path) -> None:
    site = site_server(tree_site(3), host="127.0.0.2")
    proxy = forward_proxy(credentials=("crawler", SECRET))
    db = tmp_path / "x.db"

    stats = await crawl(config=make_config([site.url("/")], fetch={"proxy": proxy.url}),
                        output=db)

    assert stats.pages == 3 and len(proxy.requests) == 3
    assert SECRET.encode() not in file_bytes(db)
    stored = json.loads(scalar(db, "SELECT config FROM crawls"))
    assert stored["fetch"]["proxy"] == [f"http://crawler:***@127.0.0.1:{proxy.port}"]


async def test_a_failing_proxy_is_benched_recorded_and_replaced_by_the_next(
        site_server, forward_proxy, tmp_path) -> None:
    site = site_server(tree_site(60, fanout=4), host="127.0.0.2")
    good = [forward_proxy(), forward_proxy()]
    wrong_password = forward_proxy(credentials=("crawler", "other"))
    dead = f"http://127.0.0.1:{refused_port()}"
    proxies = [dead, good[0].url, f"http://crawler:{SECRET}@127.0.0.1:{wrong_password.port}",
               good[1].url]
    db = tmp_path / "x.db"

    stats = await crawl(config=make_config([site.url("/")], fetch={"proxy": proxies}),
                        output=db)

    # Every page arrived, through the good proxies only, both of them (rotation).
    assert stats.pages == 60
    assert rows(db, "SELECT count(*) AS n FROM pages WHERE status = 200") == [{"n": 60}]
    assert all(len(p.requests) > 5 for p in good)
    assert sum(len(p.requests) for p in good) == len(site.requests) == 60
    # Each failure is an errors row naming the proxy (no password) and what came next.
    failures = rows(db, "SELECT url, message FROM errors WHERE kind = 'proxy'")
    dead_name, wrong_name = dead, f"http://127.0.0.1:{wrong_password.port}"
    assert any(f"proxy {dead_name} failed: " in f["message"] for f in failures)
    assert any(f"proxy {wrong_name} failed: 407 Proxy Authentication Required; trying "
               in f["message"] for f in failures)
    assert all(f["url"] in crawled_urls(db) for f in failures)
    assert scalar(db, "SELECT count(*) FROM errors WHERE kind != 'proxy'") == 0
    # Benched for 10 s after a failure: tried by the first requests only, not by each.
    counted = stats.proxies
    assert 1 <= counted[dead_name]["failures"] <= 8
    assert counted[wrong_name]["failures"] == len(wrong_password.requests) <= 8
    assert SECRET.encode() not in file_bytes(db)


async def test_with_every_proxy_failing_the_request_fails_as_proxy(site_server,
                                                                  tmp_path) -> None:
    site = site_server({"/": "<title>home</title>"}, host="127.0.0.2")
    dead = f"http://127.0.0.1:{refused_port()}"
    db = tmp_path / "x.db"

    stats = await crawl(config=make_config([site.url("/")], fetch={
        "proxy": dead, "retries": 1, "backoff": "10ms"}), output=db)

    assert stats.pages == 0 and site.requests == []
    assert rows(db, "SELECT kind, tries FROM errors WHERE url = ? AND tries = 2",
                site.url("/")) == [{"kind": "proxy", "tries": 2}]


async def test_rotation_per_host_keeps_each_host_on_one_proxy(site_server, forward_proxy,
                                                              tmp_path) -> None:
    sites = [site_server(tree_site(20), host=f"127.0.0.{i}") for i in (2, 3, 4)]
    proxies = [forward_proxy(), forward_proxy()]
    config = make_config([s.url("/") for s in sites],
                         fetch={"proxy": [p.url for p in proxies], "proxy_rotation": "host"})

    stats = await crawl(config=config, output=tmp_path / "x.db")

    assert stats.pages == 60
    through: dict[str, set[int]] = defaultdict(set)
    for i, proxy in enumerate(proxies):
        for url in proxy.urls:
            through[urlsplit(url).netloc].add(i)
    assert {s.netloc for s in sites} == set(through)
    assert all(len(used) == 1 for used in through.values()), through
    assert len(set().union(*through.values())) == 2  # the hosts were spread over both


async def test_a_host_can_have_its_own_proxy_or_go_direct(site_server, forward_proxy,
                                                          tmp_path) -> None:
    proxied, own, direct = (site_server(tree_site(5), host=f"127.0.0.{i}") for i in (2, 3, 4))
    default, special = forward_proxy(), forward_proxy()
    config = make_config([s.url("/") for s in (proxied, own, direct)], fetch={
        "proxy": default.url,
        "hosts": {"127.0.0.3": {"proxy": special.url}, "127.0.0.4": {"proxy": "direct"}}})

    stats = await crawl(config=config, output=tmp_path / "x.db")

    assert stats.pages == 15
    assert {urlsplit(u).hostname for u in default.urls} == {"127.0.0.2"}
    assert {urlsplit(u).hostname for u in special.urls} == {"127.0.0.3"}
    assert len(default.urls) == len(special.urls) == 5  # and .4 through neither


@pytest.mark.parametrize("proxy_env", [True, False])
def test_the_environments_proxies_and_no_proxy_are_used_only_when_asked(
        site_server, forward_proxy, tmp_path, proxy_env) -> None:
    through, bypassed = (site_server(tree_site(5), host=f"127.0.0.{i}") for i in (2, 3))
    proxy = forward_proxy()
    config = tmp_path / "env.yaml"
    config.write_text(f"""\
start_urls: ["{through.url("/")}", "{bypassed.url("/")}"]
politeness: {{robots_txt: ignore, per_host_delay: 0}}
fetch: {{proxy_env: {str(proxy_env).lower()}}}
""")
    env = {**cli_env(), "HTTP_PROXY": proxy.url, "NO_PROXY": "127.0.0.3"}
    env.pop("http_proxy", None)
    env.pop("no_proxy", None)

    done = subprocess.run(cli_command("run", str(config), "-q", "-o", str(tmp_path / "e.db")),
                          env=env, capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 0, done.stderr
    assert scalar(tmp_path / "e.db", "SELECT count(*) FROM pages") == 10
    hosts = {urlsplit(u).hostname for u in proxy.urls}
    assert hosts == ({"127.0.0.2"} if proxy_env else set())
    assert len(proxy.urls) == (5 if proxy_env else 0)
    assert os.environ.get("HTTP_PROXY") != proxy.url  # the test's own process untouched
