"""`crawler fetch` and `crawler.fetch_all`: a list of URLs, fetched once each, nothing followed."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import time
from pathlib import Path

import pytest

import crawler
from tests.conftest import cli_command, cli_env, rows, scalar
from tests.site import Page, html_page

pytestmark = pytest.mark.timeout(60)

FAST = {"politeness.robots_txt": "ignore", "politeness.per_host_delay": 0,
        "fetch.retries": 0, "limits.max_duration": "30s"}
FAST_FLAGS = [arg for key, value in FAST.items() for arg in ("-s", f"{key}={value}")]


def linked_site(n: int) -> dict[str, str]:
    """/p/0 .. /p/n-1, each linking to /next/i (never to be fetched: nothing is followed)."""
    return {f"/p/{i}": html_page(f"P{i}", links=[f"/next/{i}", "/p/0"]) for i in range(n)}


def run_cli(*args: str, stdin: str | None = None, cwd: Path | None = None
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_command(*args), capture_output=True, text=True, env=cli_env(),
                          input=stdin, timeout=60, cwd=cwd)


# --------------------------------------------------------------------------- the command

def test_fetch_takes_urls_from_arguments_and_files_and_follows_no_link(
        site_server, tmp_path) -> None:
    server = site_server(linked_site(6))
    listing = tmp_path / "urls.txt"
    listing.write_text("# a comment\n\n" + "\n".join(server.url(f"/p/{i}") for i in (2, 3))
                       + "\n  " + server.url("/p/4") + "  \n")
    out = tmp_path / "out.db"
    done = run_cli("fetch", server.url("/p/0"), server.url("/p/1"), "-i", str(listing),
                   "-o", str(out), "-q", *FAST_FLAGS)
    assert done.returncode == 0, done.stderr
    assert sorted(server.paths) == [f"/p/{i}" for i in range(5)]  # once each, /next/* never
    assert scalar(out, "SELECT count(*) FROM pages WHERE status = 200") == 5
    assert scalar(out, "SELECT name FROM crawls") == "fetch"
    assert scalar(out, "SELECT count(*) FROM links") == 10  # links are stored, not followed


def test_a_line_that_is_not_a_url_is_reported_with_its_line_and_the_rest_go_on(
        site_server, tmp_path) -> None:
    server = site_server(linked_site(3))
    listing = tmp_path / "urls.txt"
    listing.write_text(f"{server.url('/p/0')}\nnot a url\n# fine\nftp://x.example/f\n"
                       f"{server.url('/p/1')}\n")
    out = tmp_path / "out.db"
    done = run_cli("fetch", "-i", str(listing), "-o", str(out), *FAST_FLAGS)
    assert done.returncode == 0
    assert f"crawler: warning: {listing}:2: not an http(s) URL: 'not a url'" in done.stderr
    assert f"crawler: warning: {listing}:4: not an http(s) URL: 'ftp://x.example/f'" \
        in done.stderr
    assert sorted(server.paths) == ["/p/0", "/p/1"]


def test_fetch_reads_urls_from_standard_input(site_server, tmp_path) -> None:
    server = site_server(linked_site(3))
    out = tmp_path / "out.db"
    urls = "\n".join(server.url(f"/p/{i}") for i in range(3)) + "\n"
    done = run_cli("fetch", "-i", "-", "-o", str(out), "-q", *FAST_FLAGS, stdin=urls)
    assert done.returncode == 0, done.stderr
    assert sorted(server.paths) == ["/p/0", "/p/1", "/p/2"]


def test_fetch_with_nothing_to_fetch_is_a_usage_error(tmp_path) -> None:
    done = run_cli("fetch", "-o", str(tmp_path / "x.db"), stdin="")
    assert done.returncode == 2
    assert "no URLs to fetch" in done.stderr


def test_fetch_obeys_robots_txt_and_records_what_it_refused(site_server, tmp_path) -> None:
    site = {**linked_site(2), "/robots.txt": Page("User-agent: *\nDisallow: /p/1\n",
                                                  content_type="text/plain")}
    server = site_server(site)
    out = tmp_path / "out.db"
    done = run_cli("fetch", server.url("/p/0"), server.url("/p/1"), "-o", str(out), "-q",
                   *FAST_FLAGS, "-s", "politeness.robots_txt=obey")  # the last -s wins
    assert done.returncode == 0, done.stderr
    assert server.paths == ["/robots.txt", "/p/0"]
    assert rows(out, "SELECT url, kind FROM errors") == [
        {"url": server.url("/p/1"), "kind": "robots"}]


def test_fetch_keeps_each_hosts_delay(site_server, tmp_path) -> None:
    server = site_server(linked_site(4))
    done = run_cli("fetch", *(server.url(f"/p/{i}") for i in range(4)), "-o",
                   str(tmp_path / "x.db"), "-q", *FAST_FLAGS,
                   "-s", "politeness.per_host_delay=0.3", "--concurrency", "8")
    assert done.returncode == 0, done.stderr
    gaps = server.arrival_gaps()
    # Measured at the server: an arrival can lag its start (connecting), never lead it much.
    assert len(gaps) == 3 and min(gaps) >= 0.2 and sorted(gaps)[1] >= 0.29, gaps


def test_an_interrupted_fetch_continues_where_it_stopped(site_server, tmp_path) -> None:
    # 20 pages of 0.5 s, two at a time: ~5 s of work, interrupted after the first few.
    server = site_server({f"/p/{i}": Page(html_page(f"P{i}"), delay=0.5) for i in range(20)})
    out = tmp_path / "out.db"
    args = ["fetch", *(server.url(f"/p/{i}") for i in range(20)), "-o", str(out), "-q",
            *FAST_FLAGS, "--concurrency", "2", "-s", "politeness.per_host_concurrency=2"]
    first = subprocess.Popen(cli_command(*args), env=cli_env(), stderr=subprocess.PIPE,
                             text=True)
    deadline = time.monotonic() + 20
    while len(server.paths) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    first.send_signal(2)  # Ctrl-C
    assert first.wait(30) == 130
    stopped_after = len(server.paths)
    assert 4 <= stopped_after < 20
    second = run_cli(*args)
    assert second.returncode == 0, second.stderr
    assert sorted(server.paths) == sorted(f"/p/{i}" for i in range(20))  # each once
    assert scalar(out, "SELECT count(*) FROM pages") == 20
    assert rows(out, "SELECT id, status, runs FROM crawls") == [
        {"id": 1, "status": "finished", "runs": 2}]


# --------------------------------------------------------------------------- from Python

async def test_fetch_all_yields_responses_as_they_complete(site_server) -> None:
    server = site_server({"/slow": Page(html_page("Slow"), delay=1.0),
                          "/fast": html_page("Fast"), "/gone": (404, "nope")})
    seen = []
    fetching = crawler.fetch_all([server.url("/slow"), server.url("/fast"), server.url("/gone")],
                                 settings=FAST)
    async for response in fetching:
        seen.append((response.status, response.url.rsplit("/", 1)[1]))
        if response.status == 200 and response.url.endswith("/fast"):
            assert response.css_first("h1").text() == "Fast"
    assert seen[-1] == (200, "slow")  # it came last, though first in the list
    assert sorted(seen) == [(200, "fast"), (200, "slow"), (404, "gone")]
    assert fetching.stats is not None and fetching.stats.pages == 3
    assert fetching.errors == []


async def test_fetch_all_stores_nothing_unless_asked(site_server) -> None:
    server = site_server(linked_site(2))
    fetching = crawler.fetch_all([server.url("/p/0"), server.url("/p/1")], settings=FAST)
    where = fetching.crawler.output
    assert [r.status async for r in fetching] == [200, 200]
    assert not where.exists() and not where.parent.exists()


async def test_fetch_all_lists_urls_that_got_no_response_in_errors(site_server, refused_url,
                                                                   tmp_path) -> None:
    server = site_server(linked_site(1))
    fetching = crawler.fetch_all([server.url("/p/0"), refused_url, "mailto:x@y.z"],
                                 settings=FAST, output=tmp_path / "x.db")
    assert [r.url async for r in fetching] == [server.url("/p/0")]
    assert [(e.url, e.kind) for e in fetching.errors] == [(refused_url, "connection")]
    assert [(s.line, s.text) for s in fetching.skipped] == [(3, "mailto:x@y.z")]
    assert scalar(tmp_path / "x.db", "SELECT kind FROM errors") == "connection"


async def test_fetch_all_follows_a_redirect_and_yields_the_page_it_leads_to(site_server
                                                                            ) -> None:
    server = site_server({"/old": Page(status=301, headers={"Location": "/new"}),
                          "/new": html_page("New", links=["/elsewhere"])})
    responses = [r async for r in crawler.fetch_all([server.url("/old")], settings=FAST)]
    assert [(r.status, r.url) for r in responses] == [(200, server.url("/new"))]
    assert responses[0].request.redirects == ((301, server.url("/old")),)
    assert server.paths == ["/old", "/new"]


async def test_a_slow_reader_holds_the_fetching_back(site_server) -> None:
    server = site_server(linked_site(30))
    urls = [server.url(f"/p/{i}") for i in range(30)]
    settings = {**FAST, "fetch.concurrency": 2, "politeness.per_host_concurrency": 2}
    fetching = crawler.fetch_all(urls, settings=settings)
    async with contextlib.aclosing(fetching.__aiter__()) as responses:
        await anext(responses)
        await asyncio.sleep(1.0)  # the reader is busy; the crawl must not run ahead
        fetched = len(server.paths)
    # one taken, 2 waiting in the hand-over queue, 2 workers blocked handing theirs over
    assert fetched <= 1 + 2 + 2
    await asyncio.sleep(0.3)
    assert len(server.paths) == fetched  # leaving the loop stopped the fetching


async def test_breaking_out_of_a_stored_fetch_leaves_it_resumable(site_server,
                                                                  tmp_path) -> None:
    server = site_server(linked_site(10))
    urls = [server.url(f"/p/{i}") for i in range(10)]
    out = tmp_path / "x.db"
    settings = {**FAST, "fetch.concurrency": 2}
    async with crawler.fetch_all(urls, settings=settings, output=out) as responses:
        async for _ in responses:
            break
    assert scalar(out, "SELECT status FROM crawls") == "interrupted"
    stored_first = scalar(out, "SELECT count(*) FROM pages")
    assert 1 <= stored_first < 10
    rest = [r.url async for r in crawler.fetch_all(urls, settings=settings, output=out)]
    assert sorted(server.paths) == sorted(f"/p/{i}" for i in range(10))  # each once
    assert scalar(out, "SELECT count(*) FROM pages") == 10
    assert len(rest) == 10 - stored_first  # the stored ones are not fetched again
    assert scalar(out, "SELECT status || ' ' || runs FROM crawls") == "finished 2"


async def test_a_yielded_response_keeps_the_whole_page_though_its_text_was_stored(
        site_server, tmp_path) -> None:
    page = ('<html><head><title>T</title><script>var x = 1;</script></head><body>'
            '<nav><a href="/a">A</a><a href="/b">B</a></nav><main><h1>Main</h1></main>'
            '<footer>Foot</footer></body></html>')
    server = site_server({"/": page})
    out = tmp_path / "x.db"
    # The engine takes the visible text from the tree after the callback, stripping nav,
    # footer and script from it; what the reader gets must not have lost them.
    async for response in crawler.fetch_all([server.url("/")], settings=FAST, output=out):
        await asyncio.sleep(0.3)  # read it after the engine is done with the page
        assert [a.text() for a in response.css("nav a")] == ["A", "B"]
        assert response.css_first("script") is not None
    assert scalar(out, "SELECT text FROM pages") == "Main"
