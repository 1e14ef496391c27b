"""The live view: what each host does, what the crawl waits for, progress; on loopback crawls."""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import os
import pty
import re
import select
import signal
import subprocess
import time
from collections.abc import Callable

import pytest
from rich.console import Console

from crawler import Crawler, fetch_all
from crawler.engine.live import Progress
from crawler.engine.status import (
    CrawlStatus,
    HostStatus,
    explain_wait,
    host_state,
    plain_reason,
)
from crawler.politeness.robots import RobotsRules
from crawler.politeness.slots import HostSlot
from tests.conftest import cli_command, cli_env, make_config
from tests.site import Page, html_page

pytestmark = pytest.mark.timeout(60)

SLOW_ROBOTS = {"robots_txt": "obey", "robots_backoff": "20s", "robots_max_backoff": "20s",
               "robots_tries": 5}


async def wait_for(crawler: Crawler, check: Callable[[CrawlStatus], bool],
                   limit: float = 15.0) -> CrawlStatus:
    """Poll the crawl's status (bounded in time) until `check` holds; return that status."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        status = crawler.status()
        if check(status):
            return status
        await asyncio.sleep(0.05)
    raise AssertionError(f"never seen; last status: {crawler.status()}")


async def stopped(crawler: Crawler, task: asyncio.Task) -> None:
    crawler.stop("interrupted")
    await asyncio.wait_for(task, 15)


def host_of(server) -> str:
    return server.netloc


def render(progress: Progress) -> str:
    console = Console(file=io.StringIO(), width=160, force_terminal=True, color_system=None)
    console.print(progress.panel())
    return console.file.getvalue()  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- waiting reasons

async def test_an_unreachable_robots_txt_is_what_the_crawl_says_it_waits_for(
        site_server, out_db) -> None:
    server = site_server({"/robots.txt": Page("down", status=503), "/": html_page("Home")})
    config = make_config([server.url("/")], politeness=SLOW_ROBOTS)
    crawler = Crawler(config=config, output=out_db)
    task = asyncio.create_task(crawler.run())
    status = await wait_for(crawler, lambda s: s.waiting_for is not None
                            and "unreachable" in s.waiting_for)
    assert re.fullmatch(rf"robots\.txt of {host_of(server)} unreachable: HTTP 503; "
                        r"try 2 of 5 in (\d+|\d\.\d) s", status.waiting_for), status.waiting_for
    wait = float(status.waiting_for.rsplit(" in ", 1)[1].removesuffix(" s"))
    assert 9 <= wait <= 30  # 20 s, x0.5-1.5 jitter
    (host,) = status.hosts
    assert (host.host, host.state, host.in_flight) == (host_of(server), "robots", 0)
    assert server.paths == ["/robots.txt"]  # the page waits for its host's rules
    text = render(Progress(crawler.stats, lambda: status))
    assert f"waiting: robots.txt of {host_of(server)} unreachable: HTTP 503; try 2 of 5" in text
    assert f"{host_of(server)}" in text and "robots.txt unreachable: HTTP 503" in text
    await stopped(crawler, task)


async def test_a_refused_robots_txt_reads_connection_refused(refused_url, out_db) -> None:
    config = make_config([refused_url], politeness=SLOW_ROBOTS)
    crawler = Crawler(config=config, output=out_db)
    task = asyncio.create_task(crawler.run())
    status = await wait_for(crawler, lambda s: bool(s.waiting_for)
                            and "unreachable" in s.waiting_for)
    host = refused_url.removeprefix("http://").rstrip("/")
    assert status.waiting_for.startswith(
        f"robots.txt of {host} unreachable: connection refused; try 2 of 5 in ")
    await stopped(crawler, task)


async def test_a_retry_after_cools_the_host_and_the_view_says_how_long(site_server,
                                                                       out_db) -> None:
    server = site_server({"/": Page("busy", status=503, headers={"Retry-After": "30"})})
    config = make_config([server.url("/")], politeness={"max_retry_after": "60s"})
    crawler = Crawler(config=config, output=out_db)
    task = asyncio.create_task(crawler.run())
    status = await wait_for(crawler, lambda s: bool(s.hosts) and s.hosts[0].state == "cooling")
    (host,) = status.hosts
    assert re.fullmatch(r"cooling down: Retry-After 30 s \(HTTP 503\), (\d+|\d\.\d) s left",
                        host.detail), host.detail
    assert status.retries_waiting == 1 and status.in_flight == 0
    assert status.waiting_for == f"{host_of(server)}: {host.detail}"
    assert server.paths == ["/"]
    await stopped(crawler, task)


async def test_without_a_terminal_the_plain_line_says_what_the_crawl_waits_for(
        site_server, out_db) -> None:
    server = site_server({"/robots.txt": Page("down", status=503), "/": html_page("Home")})
    crawler = Crawler(config=make_config([server.url("/")], politeness=SLOW_ROBOTS),
                      output=out_db)
    stream = io.StringIO()
    progress = Progress(crawler.stats, crawler.status, stream=stream, interval=0.1,
                        terminal=False)
    task = asyncio.create_task(crawler.run())
    printer = asyncio.create_task(progress.run())
    deadline = time.monotonic() + 15
    while "unreachable" not in stream.getvalue() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    printer.cancel()
    await stopped(crawler, task)
    line = next(x for x in stream.getvalue().splitlines() if "unreachable" in x)
    assert line.startswith("pages 0  pages/s 0.0  queued ")
    assert f"waiting: robots.txt of {host_of(server)} unreachable: HTTP 503; try 2 of 5" in line
    assert "\x1b[" not in stream.getvalue()  # plain text, no terminal codes


def test_the_issues_example_sentence_for_a_name_that_does_not_resolve() -> None:
    now = 1000.0
    slot = HostSlot(concurrency=2, delay=0.25, robots_failures=1, cool_until=now + 20,
                    robots_error="ClientConnectorDNSError: Cannot connect to host "
                                 "books.toscrape.com:443 ssl:default [Name or service not known]")
    state, detail, ready_in = host_state(slot, now, queued=True, retry=None, tries=5)
    assert (state, ready_in) == ("robots", 20)
    assert detail == "robots.txt unreachable: name does not resolve; try 2 of 5 in 20 s"
    host = HostStatus("books.toscrape.com", 1, True, 0, 0, 0.0, state, detail, ready_in)
    assert explain_wait([host], stopping=False) == (
        "robots.txt of books.toscrape.com unreachable: name does not resolve; "
        "try 2 of 5 in 20 s")


@pytest.mark.parametrize(("message", "plain"), [
    ("ClientConnectorDNSError: Cannot connect to host x.org:80 ssl:default "
     "[Temporary failure in name resolution]", "name does not resolve"),
    ("ClientConnectorError: Cannot connect to host 127.0.0.1:9 ssl:default "
     "[Connect call failed ('127.0.0.1', 9)]", "connection refused"),
    ("HTTP 503", "HTTP 503"),
    ("connect timed out after 10s", "connect timed out after 10s"),
])
def test_fetch_failures_are_said_in_a_few_words(message: str, plain: str) -> None:
    assert plain_reason(message) == plain


def test_each_host_state_comes_from_its_slot() -> None:
    now = 50.0
    given_up = HostSlot(2, 0.0, robots=RobotsRules(None, disallow_all=True,
                                                   reason="robots.txt unreachable after 5 "
                                                          "tries (last: HTTP 503)"))
    assert host_state(given_up, now, queued=True, retry=None, tries=5)[:2] == (
        "given up", "given up: robots.txt unreachable after 5 tries (last: HTTP 503)")
    fetching = HostSlot(2, 0.0, active=2, robots=RobotsRules(None))
    assert host_state(fetching, now, queued=True, retry=None, tries=5)[0] == "fetching"
    pending = HostSlot(2, 0.0, robots_pending=True, robots_failures=2)
    assert host_state(pending, now, queued=True, retry=None, tries=5)[1] == (
        "fetching robots.txt (try 3 of 5)")
    delayed = HostSlot(2, 1.5, next_at=now + 1.2, robots=RobotsRules(None))
    assert host_state(delayed, now, queued=True, retry=None, tries=5) == (
        "delay", "delay 1.5 s, next in 1.2 s", pytest.approx(1.2))
    retrying = HostSlot(2, 0.0, robots=RobotsRules(None))
    assert host_state(retrying, now, queued=False, retry=(2, now + 3, "HTTP 502"), tries=5)[1] \
        == "2 to retry (HTTP 502), the next in 3.0 s"
    idle = HostSlot(2, 0.0, next_at=-math.inf, robots=RobotsRules(None))
    assert host_state(idle, now, queued=False, retry=None, tries=5)[0] == "idle"


# --------------------------------------------------------------------------- progress

async def test_a_url_list_shows_how_much_is_done_of_it(site_server) -> None:
    server = site_server({f"/p/{i}": Page(html_page(f"P{i}"), delay=0.1) for i in range(8)})
    urls = [server.url(f"/p/{i}") for i in range(8)]
    fetching = fetch_all(urls, settings={"politeness.robots_txt": "ignore",
                                         "politeness.per_host_delay": 0,
                                         "politeness.per_host_concurrency": 1})
    seen: list[tuple[int | None, int | None]] = []
    async for _ in fetching:
        status = fetching.crawler.status()
        seen.append((status.done, status.total))
    assert {total for _, total in seen} == {8}  # the list is the whole of the work
    dones = [done for done, _ in seen]
    assert dones == sorted(dones) and dones[0] <= 1 and dones[-1] >= 7
    final = fetching.crawler.status()
    assert (final.done, final.total) == (8, 8)
    assert Progress(fetching.crawler.stats, lambda: final).line().plain.endswith(
        "done 100% 8/8")


async def test_max_pages_bounds_the_progress_bar(site_server, out_db) -> None:
    site = {"/": html_page("Home", links=[f"/p/{i}" for i in range(20)])}
    site.update({f"/p/{i}": html_page(f"P{i}") for i in range(20)})
    server = site_server(site)
    crawler = Crawler(config=make_config([server.url("/")], limits={"max_pages": 5}),
                      output=out_db)
    await crawler.run()
    status = crawler.status()
    assert (status.done, status.total) == (5, 5)
    text = render(Progress(crawler.stats, lambda: status))
    assert "100% 5/5" in text and "━" in text  # the bar is drawn


# --------------------------------------------------------------------------- on a terminal

def test_crawler_run_on_a_terminal_shows_the_waiting_reason(site_server, tmp_path) -> None:
    server = site_server({"/robots.txt": Page("down", status=503), "/": html_page("Home")})
    config = tmp_path / "wait.yaml"
    config.write_text(f'start_urls: ["{server.url("/")}"]\n'
                      "politeness: {robots_backoff: 20s, robots_max_backoff: 20s}\n")
    screen = run_in_terminal(cli_command("run", str(config), "-o", str(tmp_path / "w.db")),
                             until=f"waiting: robots.txt of {host_of(server)} unreachable")
    assert f"waiting: robots.txt of {host_of(server)} unreachable: HTTP 503; try 2 of 5" \
        in screen
    assert "robots.txt unreachable: HTTP 503; try 2 of 5 in" in screen  # the host's row


def run_in_terminal(command: list[str], *, until: str, limit: float = 30.0) -> str:
    """Run `command` in a pseudo-terminal until `until` is on its screen; Ctrl-C; the text."""
    master, slave = pty.openpty()
    subprocess.run(["stty", "-F", os.ttyname(slave), "cols", "160", "rows", "40"], check=True)
    env = cli_env()
    env.update({"TERM": "xterm", "COLUMNS": "160"})
    proc = subprocess.Popen(command, stdin=slave, stdout=slave, stderr=slave, env=env,
                            close_fds=True)
    os.close(slave)
    raw, text = b"", ""
    deadline = time.monotonic() + limit
    try:
        while until not in text and time.monotonic() < deadline:
            if select.select([master], [], [], 0.2)[0]:
                raw += os.read(master, 65536)
                text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw.decode(errors="replace"))
    finally:
        proc.send_signal(signal.SIGINT)
        stop_by = time.monotonic() + 20
        while proc.poll() is None and time.monotonic() < stop_by:
            with contextlib.suppress(OSError):  # keep reading, so its writes never block
                if select.select([master], [], [], 0.2)[0]:
                    os.read(master, 65536)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        os.close(master)
    assert until in text, text[-2000:]
    return text
