"""Helpers for the browser tests: one Chromium per test module, its processes, crawls with it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crawler.config import CrawlConfig
from crawler.engine.crawler import Crawler
from crawler.fetch.browser import Chromium, find_executable
from crawler.fetch.build import build_fetcher
from crawler.spider import ConfigSpider, Spider, page_action
from crawler.stats import CrawlStats


def browser_available() -> bool:
    try:
        import playwright  # noqa: F401
        find_executable(None)
    except Exception:
        return False
    return True


needs_browser = pytest.mark.skipif(
    not browser_available() and not os.environ.get("CI"),
    reason="needs Playwright and Chromium: pip install -e '.[browser]'; apt-get install chromium")


async def crawl_with(chromium: Chromium, config: CrawlConfig, output: Path,
                     spider: Spider | None = None) -> tuple[CrawlStats, Crawler]:
    """Run a crawl whose renders use the module's browser (left running afterwards)."""
    spider = spider or ConfigSpider(config)
    spider.config = config
    fetcher = build_fetcher(config, interact=page_action(spider), chromium=chromium)
    crawler = Crawler(spider, config, output=output, fetcher=fetcher)
    return await crawler.run(), crawler


def processes_with_env(marker: str) -> list[int]:
    """Pids of the processes whose environment holds `marker` (children inherit it)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            environ = Path(f"/proc/{entry}/environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ.split(b"\0"):
            found.append(int(entry))
    return found


def descendants(pid: int) -> Iterator[int]:
    """Every process below `pid`."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    stack = list(children.get(pid, []))
    while stack:
        child = stack.pop()
        yield child
        stack.extend(children.get(child, []))


BROWSER_NAMES = {b"chromium", b"chrome", b"headless_shell", b"chrome-headless-shell"}


def browser_main_pids() -> list[int]:
    """This process's Chromium browser processes (not their renderers or helpers)."""
    pids = []
    for pid in descendants(os.getpid()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        name = cmdline[0].rsplit(b"/", 1)[-1]
        if name in BROWSER_NAMES and not any(a.startswith(b"--type=") for a in cmdline):
            pids.append(pid)
    return pids


def app_shell(script: str = "/app.js", title: str = "app") -> str:
    return (f"<html><head><title>{title}</title></head><body><div id='app'></div>"
            f"<script src='{script}'></script></body></html>")


def js(source: str) -> Any:
    from tests.site import Page
    return Page(body=source, content_type="application/javascript")
