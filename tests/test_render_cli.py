"""Rendering from the command line: `-s fetch.render=always`, and no browser outlives the crawl."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

import crawler
from tests.browser import app_shell, descendants, js, needs_browser, processes_with_env
from tests.conftest import cli_command, cli_env, make_config, rows, scalar
from tests.site import Page

pytestmark = [needs_browser, pytest.mark.timeout(120)]

BUILD = """
const n = Number(location.pathname.slice(3)) || 0;
document.getElementById('app').innerHTML =
  [1, 2, 3].map(k => `<a href="/p/${n * 3 + k}">page ${n * 3 + k}</a>`).join(' ');
"""


def slow_app(delay: float) -> dict[str, Any]:
    """An endless script-built site whose pages answer slowly: a crawl to interrupt."""
    site: dict[str, Any] = {"/": app_shell(), "/app.js": js(BUILD)}
    for n in range(1, 400):
        site[f"/p/{n}"] = Page(body=app_shell(), delay=delay)
    return site


def write_config(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "app.yaml"
    config.write_text(f"""\
name: app
start_urls: ["{url}"]
limits: {{max_duration: 60s}}
politeness: {{robots_txt: ignore, per_host_delay: 0, per_host_concurrency: 4}}
fetch: {{concurrency: 4, timeout: 10s}}
""")
    return config


def start_crawl(tmp_path: Path, config: Path, db: Path, marker: str,
                *extra: str) -> subprocess.Popen[bytes]:
    env = cli_env()
    env[marker.partition("=")[0]] = marker.partition("=")[2]
    return subprocess.Popen(cli_command("run", str(config), "-o", str(db), "-q", *extra),
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def browsers_left(marker: str, grace: float = 10.0) -> list[int]:
    """Processes still carrying the crawl's marker once `grace` seconds have passed."""
    deadline = time.monotonic() + grace
    while (left := processes_with_env(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_stopped_crawl_keeps_its_rendered_pages_and_leaves_no_browser(
        site_server, tmp_path, signum) -> None:
    server = site_server(slow_app(0.3))
    db = tmp_path / "app.db"
    marker = f"CRAWLER_TEST_MARK={uuid.uuid4().hex}"
    proc = start_crawl(tmp_path, write_config(tmp_path, server.url("/")), db, marker,
                       "-s", "fetch.render=always")
    try:
        wait_for(lambda: server.paths.count("/app.js") >= 4, 30, "pages rendered")
        assert len(processes_with_env(marker)) > 3  # the crawler, the driver, Chromium's
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr.decode()
    assert browsers_left(marker) == []
    assert scalar(db, "SELECT status FROM crawls") == "interrupted"
    fetched_by = {r["fetched_by"] for r in rows(db, "SELECT fetched_by FROM pages")}
    assert fetched_by == {"browser"}


def test_killing_the_crawl_takes_its_browser_down_with_it(site_server, tmp_path) -> None:
    server = site_server(slow_app(0.3))
    db = tmp_path / "app.db"
    marker = f"CRAWLER_TEST_MARK={uuid.uuid4().hex}"
    proc = start_crawl(tmp_path, write_config(tmp_path, server.url("/")), db, marker,
                       "-s", "fetch.render=always")
    try:
        wait_for(lambda: server.paths.count("/app.js") >= 2, 30, "pages rendered")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert browsers_left(marker) == []


def test_a_missing_browser_is_one_line_saying_what_to_install(site_server, tmp_path) -> None:
    server = site_server({"/": "<p>x</p>"})
    config = write_config(tmp_path, server.url("/"))
    result = subprocess.run(
        cli_command("run", str(config), "-q", "-s", "fetch.render=auto",
                    "-s", "fetch.browser_path=/nonexistent/chromium"),
        cwd=tmp_path, env=cli_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "fetch.browser_path: /nonexistent/chromium" in lines[0]
    assert "apt-get install chromium" in lines[0]
    assert server.paths == []  # nothing was fetched before the error


def browser_processes() -> list[int]:
    """This process's descendants that are the Playwright driver or a browser."""
    found = []
    for pid in descendants(os.getpid()):
        try:
            program = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0]
        except OSError:
            continue
        if b"chrom" in program or program.endswith(b"/node"):
            found.append(pid)
    return found


async def test_the_end_of_a_crawl_or_an_exception_closes_the_browser(site_server,
                                                                    tmp_path) -> None:
    server = site_server({"/": app_shell(), "/app.js": js(BUILD)})
    config = make_config([server.url("/")], scope={"max_depth": 0},
                         fetch={"render": "always"})
    stats = await crawler.crawl(config=config, output=tmp_path / "end.db")
    assert stats.status == "finished" and "/app.js" in server.paths
    assert browser_processes() == []

    class Broken(crawler.Spider):
        name = "broken"

        def start_requests(self) -> Any:
            raise RuntimeError("a bug in the spider")

    with pytest.raises(RuntimeError, match="a bug in the spider"):
        await crawler.crawl(Broken, config=config, output=tmp_path / "broken.db")
    assert browser_processes() == []
