"""Storage failures stop a crawl cleanly: a full disk, a file removed underneath, a read-only
file system. The crawl stops dispatching at once, says in one line what failed and how many
fetched pages were not stored, leaves a file that passes `PRAGMA integrity_check`, and the
same command finishes the crawl once the cause is gone, every page stored exactly once.

The small disks are tmpfs mounts, which need root: without it these tests skip and say so.
"""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import cli_command, cli_env, rows, scalar
from tests.site import Site, html_page, path_of, reachable, tree_path

pytestmark = pytest.mark.timeout(150)

CONCURRENCY = 4
FULL = re.compile(
    r"crawler: error: (?P<db>\S+): storing failed: the disk is full \(database or disk is "
    r"full\); (?P<lost>\d+) fetched pages? not stored \(they will be fetched again\); free "
    r"space and run the same command to resume\n")


def padded_tree(n: int, fanout: int = 4, padding: int = 4000) -> Site:
    """`tree_site` with ~`padding` bytes of text per page, so a small disk fills up."""
    words = " ".join(f"word{i}" for i in range(padding // 8))
    site: Site = {}
    for i in range(n):
        children = [tree_path(c) for c in range(fanout * i + 1, min(n, fanout * i + fanout + 1))]
        site[tree_path(i)] = html_page(f"Page {i}", body=f"{i} {words}", links=children)
    return site


def write_config(where: Path, start_url: str, db: Path) -> Path:
    config = where / "full.yaml"
    config.write_text(f"""\
name: full
start_urls: ["{start_url}"]
output: {db}
limits: {{max_duration: 90s}}
politeness: {{robots_txt: ignore, per_host_delay: 0, per_host_concurrency: {CONCURRENCY}}}
fetch: {{concurrency: {CONCURRENCY}, timeout: 10s}}
""")
    return config


def run(config: Path, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_command("run", str(config), "-q"), env=cli_env(),
                          capture_output=True, text=True, timeout=timeout, check=False)


def fill(disk: Path, leave: int) -> Path:
    """A ballast file taking all but `leave` bytes of `disk`."""
    stat = os.statvfs(disk)
    ballast = disk / "ballast"
    ballast.write_bytes(b"\0" * max(0, stat.f_bavail * stat.f_frsize - leave))
    return ballast


def committed(db: Path) -> int:
    """Pages committed so far, read-only (the crawl may not have written its schema yet)."""
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute("SELECT count(*) FROM pages").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        con.close()


def integrity(db: Path) -> str:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()


def test_a_full_disk_stops_the_crawl_at_once_and_the_same_command_resumes_it(
        site_server, small_disk, tmp_path) -> None:
    site = padded_tree(900)
    server = site_server(site, latency=0.01)
    disk = small_disk("64m")
    db = disk / "full.db"
    config = write_config(tmp_path, server.url("/"), db)
    ballast = fill(disk, leave=1_500_000)

    started = time.monotonic()
    first = run(config)
    exited = time.monotonic()

    assert first.returncode == 1, first.stderr
    message = FULL.fullmatch(first.stderr)  # one line, and nothing else
    assert message is not None, first.stderr
    lost = int(message["lost"])
    stored = [path_of(r["url"]) for r in rows(db, "SELECT url FROM pages")]
    assert 0 < len(stored) < len(site)
    assert integrity(db) == "ok"
    # Dispatch stopped at once: the server saw the stored pages, the ones reported lost,
    # and at most what was in flight when the store failed.
    fetched_first = server.paths
    assert len(fetched_first) <= len(stored) + lost + CONCURRENCY
    assert exited - max(r.arrived for r in server.requests) < 10
    assert exited - started < 60
    assert scalar(db, "SELECT status FROM crawls") in ("running", "failed")

    ballast.unlink()  # free space, then the same command
    second = run(config)

    assert second.returncode == 0, second.stderr
    urls = [path_of(r["url"]) for r in rows(db, "SELECT url FROM pages")]
    assert len(urls) == len(set(urls)) == len(site)  # every page stored exactly once
    assert set(urls) == reachable(site)
    again = {path for path, n in Counter(server.paths).items() if n > 1}
    assert again <= set(fetched_first) - set(stored)  # only what was not stored is refetched
    assert rows(db, "SELECT status, runs FROM crawls") == [{"status": "finished", "runs": 2}]
    assert integrity(db) == "ok"


def test_a_file_removed_underneath_stops_the_crawl_and_says_its_pages_are_gone(
        site_server, tmp_path) -> None:
    # SQLite in WAL mode goes on writing the log of a removed file without a complaint:
    # the crawl must notice by itself rather than "finish" into nothing.
    site = padded_tree(2000, padding=200)
    server = site_server(site, latency=0.02)
    db = tmp_path / "gone.db"
    config = write_config(tmp_path, server.url("/"), db)
    proc = subprocess.Popen(cli_command("run", str(config), "-q"), env=cli_env(), text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while committed(db) < 20:
            assert proc.poll() is None and time.monotonic() < deadline, "no progress"
            time.sleep(0.05)
        db.unlink()
        removed = time.monotonic()
        _, stderr = proc.communicate(timeout=30)
        exited = time.monotonic()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()

    assert proc.returncode == 1, stderr
    assert re.fullmatch(
        rf"crawler: error: {re.escape(str(db))}: storing failed: the file was removed or "
        r"replaced while the crawl wrote it; \d+ fetched pages? not stored; what it held is "
        r"gone: run the same command to crawl again\n", stderr), stderr
    assert exited - removed < 15  # the next batch (at most 2 s later) noticed
    assert len(server.paths) < len(site) // 2  # it did not crawl on into the void

