"""One writer per crawl file: a second writer is refused at once, a dead one's lock is taken
over, and the read commands work while a crawl writes."""

from __future__ import annotations

import re
import signal
import socket
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from crawler.errors import OutputLocked
from crawler.store.lock import lock_path
from crawler.store.sqlite import Store
from tests.conftest import assert_fetched_once, cli_command, cli_env, rows, scalar
from tests.site import path_of, reachable, tree_site

pytestmark = pytest.mark.timeout(120)


def write_config(tmp_path: Path, start_url: str, db: Path) -> Path:
    config = tmp_path / "locked.yaml"
    config.write_text(f"""\
name: locked
start_urls: ["{start_url}"]
output: {db}
limits: {{max_duration: 60s}}
politeness: {{robots_txt: ignore, per_host_delay: 0, per_host_concurrency: 2}}
fetch: {{concurrency: 2, timeout: 10s}}
""")
    return config


def stored(db: Path) -> int:
    """Pages committed so far, read the way `crawler query` reads (read-only)."""
    if not db.exists():
        return 0
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        return con.execute("SELECT count(*) FROM pages").fetchone()[0]
    except sqlite3.OperationalError:  # the schema is not there yet
        return 0
    finally:
        con.close()


def start_crawl(config: Path, db: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(cli_command("run", str(config)), env=cli_env(), text=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while stored(db) < 20:
        assert proc.poll() is None, proc.communicate()[1]
        assert time.monotonic() < deadline, "the first crawl made no progress"
        time.sleep(0.05)
    return proc


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cli_command(*args), env=cli_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_a_second_writer_is_refused_at_once_and_readers_still_work(site_server,
                                                                   tmp_path) -> None:
    site = tree_site(3000, fanout=4)
    server = site_server(site, latency=0.05)  # ~40 pages/s: still running when interrupted
    db = tmp_path / "crawl.db"
    config = write_config(tmp_path, server.url("/"), db)
    first = start_crawl(config, db)
    try:
        started = time.monotonic()
        second = run_cli("run", str(config), timeout=30)
        refused_in = time.monotonic() - started
        assert first.poll() is None, "the first crawl ended before the test could use it"
        # Readers beside the writer:
        query = run_cli("query", str(db), "SELECT count(*) AS n FROM pages", "--json")
        stats = run_cli("stats", str(db))
        search = run_cli("search", str(db), "Page")
        export = run_cli("export", str(db), "-o", str(tmp_path / "pages.jsonl"))
    finally:
        first.send_signal(signal.SIGINT)
        _, first_err = first.communicate(timeout=30)

    assert second.returncode == 2, second.stderr
    when = r"\d\d:\d\d"
    assert re.fullmatch(
        rf"crawler: error: {re.escape(str(db))} is being written by pid {first.pid} on host "
        rf"{re.escape(socket.gethostname())} since {when}; use another -o or wait\n",
        second.stderr), second.stderr
    assert refused_in < 10  # at once: a Python start-up, no waiting on the lock
    for reader in (query, stats, search, export):
        assert reader.returncode == 0, reader.stderr
    assert '"n":' in query.stdout
    # The first crawl went on alone: one crawl, one run, no page twice.
    assert first.returncode == 130, first_err
    assert rows(db, "SELECT count(*) AS crawls, max(runs) AS runs FROM crawls") == [
        {"crawls": 1, "runs": 1}]
    assert scalar(db, "SELECT count(*) - count(DISTINCT url) FROM pages") == 0
    assert_fetched_once(server.paths)
    assert not lock_path(db).exists()  # released on the way out


def test_a_writer_killed_with_sigkill_leaves_a_lock_the_next_run_takes_over(site_server,
                                                                            tmp_path) -> None:
    site = tree_site(300, fanout=4)
    server = site_server(site, latency=0.01)
    db = tmp_path / "crawl.db"
    config = write_config(tmp_path, server.url("/"), db)
    first = start_crawl(config, db)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=10)
    assert f'"pid": {first.pid}' in lock_path(db).read_text()  # left behind, naming the dead

    again = run_cli("run", str(config))

    assert again.returncode == 0, again.stderr
    assert f"taking over from pid {first.pid} on host" in again.stderr
    assert "Traceback" not in again.stderr
    urls = [path_of(r["url"]) for r in rows(db, "SELECT url FROM pages")]
    assert len(urls) == len(set(urls)) == len(site)
    assert set(urls) == reachable(site)
    assert rows(db, "SELECT status, runs FROM crawls") == [{"status": "finished", "runs": 2}]
    assert not lock_path(db).exists()


async def test_a_second_store_on_the_same_file_is_refused_until_the_first_closes(
        tmp_path) -> None:
    db = tmp_path / "x.db"
    async with Store(db):
        with pytest.raises(OutputLocked, match="is being written by pid"):
            await Store(db).open()
        assert lock_path(db).exists()
    assert not lock_path(db).exists()
    async with Store(db) as again:  # free once the first writer let go
        assert again.lock is not None and again.lock.previous is None
