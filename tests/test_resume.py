"""Resume after kill -9: a crawl killed at random moments ends with every page stored once."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import cli_command, cli_env, rows, scalar
from tests.site import path_of, reachable, tree_site

pytestmark = pytest.mark.timeout(120)

SITE_PAGES = 3000
KILLS = 4
CONCURRENCY = 8


def write_config(tmp_path: Path, start_url: str, db: Path) -> Path:
    config = tmp_path / "resume.yaml"
    config.write_text(f"""\
name: resume
start_urls: ["{start_url}"]
output: {db}
limits: {{max_duration: 60s}}
politeness: {{robots_txt: ignore, per_host_delay: 0, per_host_concurrency: {CONCURRENCY}}}
fetch: {{concurrency: {CONCURRENCY}, timeout: 10s}}
""")
    return config


def stored_paths(db: Path) -> list[str]:
    """Paths of the pages committed so far (read-only, while or after the crawler writes)."""
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return [path_of(url) for (url,) in con.execute("SELECT url FROM pages")]
    except sqlite3.OperationalError:  # killed before the schema was written
        return []
    finally:
        con.close()


def wait_for_progress(db: Path, than: int, proc: subprocess.Popen[bytes],
                      timeout: float = 30) -> None:
    """Until more than `than` pages are committed (so the kill lands mid-crawl)."""
    deadline = time.monotonic() + timeout
    while len(stored_paths(db)) <= than:
        assert proc.poll() is None, "the crawler exited before it could be killed"
        assert time.monotonic() < deadline, "the crawl made no progress"
        time.sleep(0.05)


def test_a_crawl_killed_at_random_moments_stores_every_page_exactly_once(
        site_server, tmp_path) -> None:
    site = tree_site(SITE_PAGES, fanout=4)
    server = site_server(site, latency=0.005)
    db = tmp_path / "resume.db"
    config = write_config(tmp_path, server.url("/"), db)
    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    in_flight_at_kills: set[str] = set()   # fetched but not committed when a kill came

    for _ in range(KILLS):
        before = len(stored_paths(db))
        proc = subprocess.Popen(cli_command("run", str(config), "-q"), env=cli_env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_progress(db, before, proc)
            time.sleep(rng.uniform(0.0, 0.6))
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        lost = set(server.paths) - set(stored_paths(db))
        # At most two batches of 400 pages are uncommitted, plus what is in flight.
        assert len(lost) <= 2 * 400 + CONCURRENCY, f"seed {seed}: a kill lost {len(lost)}"
        in_flight_at_kills |= lost

    finished = subprocess.run(cli_command("run", str(config), "-q"), env=cli_env(),
                              capture_output=True, text=True, timeout=90, check=False)

    assert finished.returncode == 0, finished.stderr
    stored = stored_paths(db)
    assert len(stored) == SITE_PAGES, f"seed {seed}"            # each page stored once
    assert set(stored) == reachable(site), f"seed {seed}"       # no discovered URL lost
    twice = {p for p, n in Counter(server.paths).items() if n > 1}
    assert twice <= in_flight_at_kills, f"seed {seed}: refetched {twice - in_flight_at_kills}"
    assert rows(db, "SELECT status, runs FROM crawls") == [
        {"status": "finished", "runs": KILLS + 1}]
    assert scalar(db, "SELECT count(*) FROM frontier WHERE state IN ('queued', 'leased')") == 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_after_ctrl_c_or_sigterm_the_next_run_says_it_resumes_and_refetches_nothing(
        site_server, tmp_path, signum) -> None:
    site = tree_site(600, fanout=4)
    server = site_server(site, latency=0.01)
    db = tmp_path / "resume.db"
    config = write_config(tmp_path, server.url("/"), db)
    proc = subprocess.Popen(cli_command("run", str(config)), env=cli_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_progress(db, 50, proc)
    finally:
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 130, stderr

    again = subprocess.run(cli_command("run", str(config)), env=cli_env(), capture_output=True,
                           text=True, timeout=60, check=False)

    assert again.returncode == 0, again.stderr
    assert "resuming crawl 'resume' (#1)" in again.stderr
    assert sorted(stored_paths(db)) == sorted(reachable(site))
    twice = {p for p, n in Counter(server.paths).items() if n > 1}
    assert not twice         # a graceful stop finishes what it started: nothing to refetch


def test_resume_flag_without_an_unfinished_crawl_is_a_usage_error(tmp_path) -> None:
    db = tmp_path / "none.db"
    config = write_config(tmp_path, "http://127.0.0.1:9/", db)

    result = subprocess.run(cli_command("run", str(config), "--resume"), env=cli_env(),
                            capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 2
    assert "no unfinished crawl named 'resume' to resume" in result.stderr
