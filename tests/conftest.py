"""Fixtures: loopback site servers, a refused URL, config and database helpers."""

from __future__ import annotations

import copy
import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
# The repository root on the path: `crawler` and `tests.site` import from it even when
# the package is not installed (tests/ has no __init__.py, and `site` alone is stdlib).
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.badserver import BadServer, Behaviour  # noqa: E402
from tests.proxy import ForwardProxy  # noqa: E402
from tests.site import Site, SiteServer, refused_port  # noqa: E402


@pytest.fixture
def site_server() -> Iterator[Callable[..., SiteServer]]:
    """Start servers: `site_server(site, host="127.0.0.2", latency=0.05)`.

    `site` is a dict {path: html | (status, html) | Page}, or a callable that
    receives the started server (so absolute links can use its port) and
    returns that dict. Every server started is stopped at teardown.
    """
    servers: list[SiteServer] = []

    def start(site: Site | Callable[[SiteServer], Site] | None = None, *,
              host: str = "127.0.0.1", latency: float = 0.0) -> SiteServer:
        server = SiteServer(host=host, latency=latency)
        servers.append(server)
        server.start()
        server.site = dict(site(server) if callable(site) else (site or {}))
        return server

    yield start
    for server in reversed(servers):
        server.stop()


@pytest.fixture
def bad_server() -> Iterator[Callable[..., BadServer]]:
    """Start misbehaving servers: `bad_server({"/": answer(html), "/x": hang()})`.

    Every server started is stopped at teardown (which also ends what it was doing).
    """
    servers: list[BadServer] = []

    def start(routes: Mapping[str, Behaviour], *, host: str = "127.0.0.1") -> BadServer:
        server = BadServer(routes, host=host)
        servers.append(server)
        return server.start()

    yield start
    for server in reversed(servers):
        server.stop()


@pytest.fixture
def forward_proxy() -> Iterator[Callable[..., ForwardProxy]]:
    """Start forward proxies: `forward_proxy(credentials=("user", "pw"))`; each records
    what it relays (`proxy.requests`) and is stopped at teardown."""
    proxies: list[ForwardProxy] = []

    def start(**options: Any) -> ForwardProxy:
        proxy = ForwardProxy(**options)
        proxies.append(proxy)
        return proxy.start()

    yield start
    for proxy in reversed(proxies):
        proxy.stop()


@pytest.fixture
def unaccepting_url() -> Iterator[str]:
    """An http URL on 127.0.0.1 whose connect never completes: the listening socket's
    accept queue is full (and nobody accepts), so the kernel drops new SYNs."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):  # more than the queue holds
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        for sock in (*fillers, listener):
            sock.close()


@pytest.fixture
def refused_url() -> str:
    """An http URL on 127.0.0.1 where nothing listens (connection refused)."""
    return f"http://127.0.0.1:{refused_port()}/"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Callable[..., Path]]:
    """`small_disk("4m")`, `small_disk("1m", "ro")`: a tmpfs of that size mounted in
    tmp_path, unmounted at teardown. Mounting needs root: without it the test skips."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CI runs as root)")
    mounted: list[Path] = []

    def mount(size: str, *options: str) -> Path:
        where = tmp_path / f"disk{len(mounted)}"
        where.mkdir()
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", ",".join([f"size={size}", *options]), "tmpfs",
             str(where)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        mounted.append(where)
        return where

    yield mount
    for where in reversed(mounted):
        subprocess.run(["umount", "-l", str(where)], check=False)


@pytest.fixture
def out_db(tmp_path: Path) -> Path:
    return tmp_path / "out.db"


# -- config ------------------------------------------------------------------


def deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def config_dict(start_urls: list[str], **sections: Any) -> dict[str, Any]:
    """A crawl config as a dict: fast (no delay, robots ignored) and bounded.

    Keyword arguments are merged section by section:
    `config_dict([u], scope={"max_depth": 2}, politeness={"per_host_delay": 0.3})`.
    """
    base: dict[str, Any] = {
        "name": "t",
        "start_urls": list(start_urls),
        "limits": {"max_pages": 500, "max_duration": "60s"},
        "politeness": {"robots_txt": "ignore", "per_host_concurrency": 4,
                       "per_host_delay": 0},
        "fetch": {"concurrency": 8, "timeout": 10},
        "store": {"body": True, "text": True, "links": True},
    }
    return deep_merge(base, sections)


def make_config(start_urls: list[str], **sections: Any) -> Any:
    """`config_dict(...)` turned into a CrawlConfig by `config_from_dict`."""
    from crawler.config import config_from_dict

    return config_from_dict(config_dict(start_urls, **sections))


# Settings for Spider subclasses: no politeness delay, no robots.txt, bounded.
FAST_SETTINGS: dict[str, Any] = {
    "politeness.per_host_delay": 0,
    "politeness.robots_txt": "ignore",
    "limits.max_pages": 500,
    "limits.max_duration": "60s",
}


# -- the database --------------------------------------------------------------


def assert_fetched_once(paths: list[str]) -> None:
    """No path of the server's log was requested twice."""
    twice = {path: n for path, n in Counter(paths).items() if n > 1}
    assert not twice, f"fetched more than once: {twice}"


def rows(db: Path, sql: str, *params: Any) -> list[dict[str, Any]]:
    """Rows of a query on the crawl database, as dicts."""
    con = sqlite3.connect(db)
    try:
        con.row_factory = sqlite3.Row
        return [dict(r) for r in con.execute(sql, params).fetchall()]
    finally:
        con.close()


def scalar(db: Path, sql: str, *params: Any) -> Any:
    con = sqlite3.connect(db)
    try:
        row = con.execute(sql, params).fetchone()
        return row[0] if row else None
    finally:
        con.close()


def items_of(db: Path, item_type: str | None = None) -> list[dict[str, Any]]:
    """Items with their data decoded from JSON."""
    sql = "SELECT * FROM items" + (" WHERE type = ?" if item_type else "") + " ORDER BY id"
    found = rows(db, sql, *([item_type] if item_type else []))
    for item in found:
        item["data"] = json.loads(item["data"])
    return found


# -- subprocesses ----------------------------------------------------------------


def cli_env() -> dict[str, str]:
    """Environment for `python -m crawler` subprocesses: the repo on the path, no colour."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["NO_COLOR"] = "1"
    env["PYTHONUNBUFFERED"] = "1"
    env.pop("FORCE_COLOR", None)
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "crawler", *args]
