"""A distributed crawl: several `crawler run --frontier redis://...` processes, one real Redis.

Each test starts its own redis-server on a free loopback port and its node
processes (`python -m crawler run`) against loopback sites on 127.0.0.2,
127.0.0.3, ... What each checks is measured at the sites' servers (which
paths were fetched, how far apart, how many at once) and in the files the
processes wrote, merged with `crawler merge`.
"""

from __future__ import annotations

import itertools
import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from crawler.store.schema import SCHEMA
from tests.conftest import assert_fetched_once, cli_command, cli_env, rows, scalar
from tests.redis_server import REDIS, RedisServer
from tests.site import Page, SiteServer, path_of, reachable, tree_site

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(REDIS is None, reason="redis-server is not installed "
                                 "(.ci/run installs it with apt-get)")]


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[Callable[..., RedisServer]]:
    started: list[RedisServer] = []

    def start(**options: Any) -> RedisServer:
        directory = tmp_path / f"redis-{len(started)}"
        directory.mkdir()
        server = RedisServer(directory, **options).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


def write_config(path: Path, start_urls: list[str], **sections: Any) -> Path:
    config: dict[str, Any] = {
        "name": "cluster", "start_urls": start_urls,
        "politeness": {"robots_txt": "ignore", "per_host_delay": 0, "per_host_concurrency": 4},
        "fetch": {"concurrency": 8, "timeout": 10},
        "limits": {"max_duration": "90s"},
        "cluster": {"poll_interval": "0.2s", "lease_ttl": "3s"},
    }
    for name, values in sections.items():
        config[name] = {**config.get(name, {}), **values} if isinstance(values, dict) else values
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


_STARTED: list[subprocess.Popen[bytes]] = []


@pytest.fixture(autouse=True)
def _no_node_outlives_its_test() -> Iterator[None]:
    """A test that fails or times out must not leave crawling processes behind."""
    yield
    for node in _STARTED:
        if node.poll() is None:
            node.kill()
            node.wait(timeout=10)
    _STARTED.clear()


def start_node(config: Path, redis: RedisServer, shard: Path, *extra: str,
               verbose: bool = False) -> subprocess.Popen[bytes]:
    node = subprocess.Popen(
        cli_command(*(["-v"] if verbose else []), "run", str(config), "--frontier", redis.url,
                    "-o", str(shard), "-q", *extra),
        env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _STARTED.append(node)
    return node


def finish(nodes: list[subprocess.Popen[bytes]], timeout: float = 90) -> list[str]:
    """Wait for every node; their stderr. Each must have exited 0."""
    errors = []
    for node in nodes:
        _, err = node.communicate(timeout=timeout)
        errors.append(err.decode())
        assert node.returncode == 0, err.decode()[-3000:]
    return errors


def merge(out: Path, shards: list[Path]) -> str:
    done = subprocess.run(cli_command("merge", str(out), *map(str, shards)), env=cli_env(),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def three_hosts(site_server: Callable[..., SiteServer], pages: int = 40,
                latency: float = 0.01) -> list[SiteServer]:
    servers = []
    for i in range(3):
        servers.append(site_server(tree_site(pages), host=f"127.0.0.{i + 2}", latency=latency))
    return servers


def wait_for_nodes(redis: RedisServer, count: int, timeout: float = 60) -> None:
    """Until `count` processes have reported to the cluster (each does at its first poll)."""
    deadline = time.monotonic() + timeout
    while redis.client().hlen("crawler:cluster:nodes") < count:
        assert time.monotonic() < deadline, f"fewer than {count} processes came up"
        time.sleep(0.05)


def test_three_processes_fetch_every_page_exactly_once(site_server, redis_server,
                                                       tmp_path) -> None:
    servers = three_hosts(site_server, pages=120, latency=0.02)
    redis = redis_server()
    config = write_config(tmp_path / "c.yaml", [s.url("/") for s in servers])
    shards = [tmp_path / f"shard-{i}.db" for i in range(3)]
    for server in servers:  # the first process must not finish before the last one started
        server.hold()

    nodes = [start_node(config, redis, shard) for shard in shards]
    wait_for_nodes(redis, 3)
    for server in servers:
        server.release()
    finish(nodes)

    for server in servers:
        assert_fetched_once(server.paths)
        assert set(server.paths) == reachable(tree_site(120))
    per_shard = [scalar(shard, "SELECT count(*) FROM pages") for shard in shards]
    assert sum(per_shard) == 360
    assert sum(1 for n in per_shard if n) >= 2, f"the work was not shared: {per_shard}"
    merge(tmp_path / "crawl.db", shards)
    assert scalar(tmp_path / "crawl.db", "SELECT count(DISTINCT url) FROM pages") == 360
    assert scalar(tmp_path / "crawl.db", "SELECT count(*) FROM pages") == 360
    crawl = rows(tmp_path / "crawl.db", "SELECT name, status, runs FROM crawls")
    assert crawl == [{"name": "cluster", "status": "finished", "runs": 3}]


def test_host_delay_and_concurrency_hold_across_processes(site_server, redis_server,
                                                          tmp_path) -> None:
    server = site_server(tree_site(16), host="127.0.0.2", latency=0.05)
    redis = redis_server()
    config = write_config(tmp_path / "c.yaml", [server.url("/")],
                          politeness={"per_host_delay": 0.2, "per_host_concurrency": 1})

    finish([start_node(config, redis, tmp_path / f"s{i}.db") for i in range(3)])

    assert_fetched_once(server.paths)
    assert len(server.paths) == 16
    assert server.max_concurrency == 1
    gaps = server.arrival_gaps()
    assert min(gaps) >= 0.2 - 0.02, [round(g, 3) for g in gaps]


def test_a_killed_process_leaves_its_requests_to_the_others(site_server, redis_server,
                                                            tmp_path) -> None:
    servers = three_hosts(site_server, pages=60, latency=0.05)
    redis = redis_server()
    config = write_config(tmp_path / "c.yaml", [s.url("/") for s in servers],
                          politeness={"per_host_concurrency": 2})
    shards = [tmp_path / f"shard-{i}.db" for i in range(3)]
    nodes = [start_node(config, redis, shard) for shard in shards]
    deadline = time.monotonic() + 30
    while sum(len(s.paths) for s in servers) < 40:
        assert time.monotonic() < deadline, "the crawl made no progress"
        time.sleep(0.05)

    nodes[0].send_signal(signal.SIGKILL)
    nodes[0].wait(timeout=10)
    finish(nodes[1:])

    merge(tmp_path / "crawl.db", shards)
    assert scalar(tmp_path / "crawl.db", "SELECT count(DISTINCT url) FROM pages") == 180
    assert scalar(tmp_path / "crawl.db", "SELECT count(*) FROM pages") == 180
    for server in servers:
        assert set(server.paths) == reachable(tree_site(60))


def test_a_process_joining_later_helps_and_a_restarted_one_adds_nothing(
        site_server, redis_server, tmp_path) -> None:
    servers = three_hosts(site_server, pages=100, latency=0.05)
    redis = redis_server()
    config = write_config(tmp_path / "c.yaml", [s.url("/") for s in servers],
                          politeness={"per_host_concurrency": 2})
    # The first process alone is slow (one request at a time): there is work to share.
    first = start_node(config, redis, tmp_path / "a.db", "-s", "fetch.concurrency=1")
    deadline = time.monotonic() + 30
    while sum(len(s.paths) for s in servers) < 10:
        assert time.monotonic() < deadline, "the crawl made no progress"
        time.sleep(0.05)

    finish([first, start_node(config, redis, tmp_path / "b.db")])
    fetched = [list(s.paths) for s in servers]
    finish([start_node(config, redis, tmp_path / "c.db")])  # the crawl is over: nothing to do

    for server, paths in zip(servers, fetched, strict=True):
        assert_fetched_once(paths)
        assert set(paths) == reachable(tree_site(100))
        assert server.paths == paths
    assert scalar(tmp_path / "b.db", "SELECT count(*) FROM pages") > 50
    assert scalar(tmp_path / "c.db", "SELECT count(*) FROM pages") == 0


def test_a_redis_restarted_mid_crawl_loses_nothing(site_server, redis_server,
                                                   tmp_path) -> None:
    servers = three_hosts(site_server, pages=50, latency=0.05)
    redis = redis_server(appendonly=True)
    config = write_config(tmp_path / "c.yaml", [s.url("/") for s in servers],
                          politeness={"per_host_concurrency": 2}, cluster={"lease_ttl": "30s"})
    shards = [tmp_path / f"shard-{i}.db" for i in range(2)]
    nodes = [start_node(config, redis, shard) for shard in shards]
    wait_for_nodes(redis, 2)  # Redis away at a process's start is exit 2, by design
    deadline = time.monotonic() + 30
    while sum(len(s.paths) for s in servers) < 30:
        assert time.monotonic() < deadline, "the crawl made no progress"
        time.sleep(0.05)

    redis.stop()
    time.sleep(1.5)
    redis.start()
    finish(nodes)

    merge(tmp_path / "crawl.db", shards)
    assert scalar(tmp_path / "crawl.db", "SELECT count(DISTINCT url) FROM pages") == 150
    for server in servers:
        assert set(server.paths) == reachable(tree_site(50))


def test_max_pages_holds_for_the_whole_cluster(site_server, redis_server, tmp_path) -> None:
    server = site_server(tree_site(200), host="127.0.0.2", latency=0.02)
    redis = redis_server()
    config = write_config(tmp_path / "c.yaml", [server.url("/")],
                          limits={"max_pages": 30}, fetch={"concurrency": 2},
                          politeness={"per_host_concurrency": 4})
    shards = [tmp_path / f"s{i}.db" for i in range(2)]

    finish([start_node(config, redis, shard) for shard in shards])

    stored = [scalar(shard, "SELECT count(*) FROM pages") for shard in shards]
    # A request enters only while the cluster's pages, stored and in flight, are
    # below max_pages: exactly 30, as one process would store.
    assert sum(stored) == 30, stored


def test_an_unreachable_redis_is_one_line_and_exit_2(tmp_path, site_server) -> None:
    server = site_server(tree_site(2))
    config = write_config(tmp_path / "c.yaml", [server.url("/")])
    done = subprocess.run(cli_command("run", str(config), "--frontier",
                                      "redis://:hunter2@127.0.0.1:1/0", "-o",
                                      str(tmp_path / "x.db")),
                          env=cli_env(), capture_output=True, text=True, timeout=30, check=False)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("crawler: error: cannot reach Redis at redis://:***@127.0.0.1:1/0")
    assert "hunter2" not in done.stderr and server.paths == []


def test_the_redis_password_is_never_stored_or_shown(site_server, redis_server,
                                                     tmp_path) -> None:
    server = site_server(tree_site(5), host="127.0.0.2")
    redis = redis_server(password="s3cret-pw")
    config = write_config(tmp_path / "c.yaml", [server.url("/")])

    errors = finish([start_node(config, redis, tmp_path / "s.db", verbose=True)])

    assert len(server.paths) == 5
    stored = rows(tmp_path / "s.db", "SELECT config, stats FROM crawls")[0]
    assert json.loads(stored["config"])["frontier"] == f"redis://:***@127.0.0.1:{redis.port}/0"
    assert "s3cret-pw" not in json.dumps(stored) and "s3cret-pw" not in errors[0]


def test_a_tls_redis_is_used_through_rediss_and_its_certificate_checked(
        site_server, redis_server, tmp_path) -> None:
    trustme = pytest.importorskip("trustme")
    server = site_server(tree_site(5), host="127.0.0.2")
    redis = redis_server(tls=trustme.CA(), password="tls-pw")
    ca_file = redis.directory / "ca.pem"
    config = write_config(tmp_path / "c.yaml", [server.url("/")])

    # a certificate the system does not trust: refused at the start, in one line
    untrusted = subprocess.run(
        cli_command("run", str(config), "--frontier", redis.url, "-o", str(tmp_path / "x.db")),
        env=cli_env(), capture_output=True, text=True, timeout=30, check=False)
    assert untrusted.returncode == 2 and server.paths == []
    assert len(untrusted.stderr.strip().splitlines()) == 1, untrusted.stderr
    assert "certificate verify failed" in untrusted.stderr and "tls-pw" not in untrusted.stderr

    # the crawl's own CA, named in the URL as redis-py reads it: the crawl runs over TLS
    redis_url = f"{redis.url}?ssl_ca_certs={ca_file}"
    node = subprocess.Popen(
        cli_command("run", str(config), "--frontier", redis_url, "-o", str(tmp_path / "s.db"),
                    "-q"), env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _STARTED.append(node)
    finish([node])
    assert sorted(server.paths) == sorted(reachable(tree_site(5)))
    stored = json.loads(rows(tmp_path / "s.db", "SELECT config FROM crawls")[0]["config"])
    assert stored["frontier"].startswith(f"rediss://:***@127.0.0.1:{redis.port}/0")
    assert int(redis.client(ssl_ca_certs=str(ca_file)).hget(
        "crawler:cluster:counts", "pages")) == 5


def test_fresh_clears_only_this_crawls_keys(site_server, redis_server, tmp_path) -> None:
    server = site_server(tree_site(6), host="127.0.0.2")
    redis = redis_server()
    other = write_config(tmp_path / "other.yaml", [server.url("/")], name="other")
    ours = write_config(tmp_path / "ours.yaml", [server.url("/")])
    finish([start_node(other, redis, tmp_path / "o.db")])
    finish([start_node(ours, redis, tmp_path / "a.db")])
    assert len(server.paths) == 12

    finish([start_node(ours, redis, tmp_path / "b.db", "--fresh")])

    assert len(server.paths) == 18  # ours crawled again from scratch
    status = subprocess.run(cli_command("status", redis.url, "--json"), env=cli_env(),
                            capture_output=True, text=True, timeout=30, check=True)
    crawls = {c["crawl"]: c for c in json.loads(status.stdout)}
    assert crawls["other"]["counts"]["done"] == 6 and crawls["cluster"]["counts"]["done"] == 6


def test_status_shows_the_totals_and_the_processes(site_server, redis_server,
                                                   tmp_path) -> None:
    servers = three_hosts(site_server, pages=10)
    redis = redis_server()
    config = write_config(tmp_path / "c.yaml", [s.url("/") for s in servers])
    finish([start_node(config, redis, tmp_path / f"s{i}.db") for i in range(2)])

    done = subprocess.run(cli_command("status", redis.url), env=cli_env(),
                          capture_output=True, text=True, timeout=30, check=True)

    lines = done.stdout.splitlines()
    assert lines[0].startswith("crawl 'cluster': queued 0  leased 0  done 30")
    assert lines[0].endswith(" pages 30")
    assert sum(" finished " in line for line in lines) == 2
    # the processes' own counts add up to the cluster's, and to what their files hold
    reported = [int(line.split(" pages ")[1].split()[0]) for line in lines[1:3]]
    stored = [scalar(tmp_path / f"s{i}.db", "SELECT count(*) FROM pages") for i in range(2)]
    assert sorted(reported) == sorted(stored) and sum(stored) == 30


# -- merge -----------------------------------------------------------------------------


def crawl_into(db: Path, server: SiteServer, **limits: Any) -> None:
    config = write_config(db.with_suffix(".yaml"), [server.url("/")],
                          limits={"max_duration": "30s", **limits})
    done = subprocess.run(cli_command("run", str(config), "-o", str(db), "-q"), env=cli_env(),
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


def test_merge_keeps_one_row_per_url_with_its_links(site_server, tmp_path) -> None:
    site = tree_site(12)
    site["/p/3"] = (404, "<html><title>gone</title></html>")  # an error in both shards
    server = site_server(site)
    crawl_into(tmp_path / "a.db", server)
    crawl_into(tmp_path / "b.db", server, max_pages=5)

    out = merge(tmp_path / "m.db", [tmp_path / "a.db", tmp_path / "b.db"])

    m = tmp_path / "m.db"
    pages = scalar(tmp_path / "a.db", "SELECT count(*) FROM pages")  # the whole site
    assert f"{pages} pages from 2 runs in 2 files (5 pages fetched twice kept once" in out
    assert scalar(m, "SELECT count(*) FROM pages") == pages
    assert scalar(m, "SELECT count(*) FROM links") == scalar(tmp_path / "a.db",
                                                            "SELECT count(*) FROM links")
    assert scalar(m, "SELECT count(*) FROM errors WHERE kind = 'http'") == 1
    orphans = "SELECT count(*) FROM links WHERE page_id NOT IN (SELECT id FROM pages)"
    assert scalar(m, orphans) == 0
    search = subprocess.run(cli_command("search", str(m), "Page"), env=cli_env(),
                            capture_output=True, text=True, timeout=30, check=True)
    assert "/p/4" in search.stdout and "[Page] 4" in search.stdout  # the index was rebuilt
    # ... with the settings a crawl's file has, so a crawl resumed into it indexes alike.
    fts_config = "SELECT k, v FROM pages_fts_config WHERE k != 'version' ORDER BY k"
    assert rows(m, fts_config) == rows(tmp_path / "a.db", fts_config) == [
        {"k": "automerge", "v": 8}, {"k": "hashsize", "v": 4 * 1024 * 1024}]


def test_merging_one_shard_gives_the_same_crawl(site_server, tmp_path) -> None:
    server = site_server(tree_site(8))
    crawl_into(tmp_path / "a.db", server)

    merge(tmp_path / "m.db", [tmp_path / "a.db"])

    query = "SELECT url, status, title, body FROM pages ORDER BY url"
    assert rows(tmp_path / "m.db", query) == rows(tmp_path / "a.db", query)
    with sqlite3.connect(tmp_path / "m.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_merge_skips_shards_of_nodes_that_died_before_writing(site_server, tmp_path) -> None:
    server = site_server(tree_site(8))
    crawl_into(tmp_path / "a.db", server)
    sqlite3.connect(tmp_path / "never-opened.db").close()  # a file and nothing in it
    with sqlite3.connect(tmp_path / "schema-only.db") as con:
        con.executescript(SCHEMA)

    out = merge(tmp_path / "m.db", [tmp_path / "never-opened.db", tmp_path / "schema-only.db",
                                    tmp_path / "a.db"])

    assert scalar(tmp_path / "m.db", "SELECT count(*) FROM pages") == 8
    assert out.count("holds no crawl") == 2 and "skipped" in out


def test_merge_refuses_an_existing_output_and_a_missing_shard(tmp_path) -> None:
    (tmp_path / "m.db").write_text("")
    for args, message in (([str(tmp_path / "m.db"), str(tmp_path / "a.db")], "exists"),
                          ([str(tmp_path / "n.db"), str(tmp_path / "nope.db")],
                           "no such file")):
        done = subprocess.run(cli_command("merge", *args), env=cli_env(), capture_output=True,
                              text=True, timeout=30, check=False)
        assert done.returncode == 2 and message in done.stderr


def test_robots_txt_is_fetched_once_for_the_whole_cluster(site_server, redis_server,
                                                          tmp_path) -> None:
    site = tree_site(30)
    site["/robots.txt"] = Page("User-agent: *\nDisallow: /p/2\n", content_type="text/plain")
    server = site_server(site, host="127.0.0.2", latency=0.02)
    redis = redis_server()
    config = write_config(tmp_path / "c.yaml", [server.url("/")],
                          politeness={"robots_txt": "obey"})

    finish([start_node(config, redis, tmp_path / f"s{i}.db") for i in range(3)])

    assert server.paths.count("/robots.txt") == 1
    assert "/p/2" not in server.paths
    refused = [path_of(row["url"]) for i in range(3) for row in rows(
        tmp_path / f"s{i}.db", "SELECT url FROM errors WHERE kind = 'robots'")]
    assert sorted(refused) == ["/p/2", "/p/20", "/p/21"]  # each refused once, by one process


def test_a_crawl_delay_holds_across_processes(site_server, redis_server, tmp_path) -> None:
    site = tree_site(12, fanout=11)  # the root links to all: more than one window
    site["/robots.txt"] = Page("User-agent: *\nCrawl-delay: 0.3\n", content_type="text/plain")
    server = site_server(site, host="127.0.0.2", latency=0.02)
    redis = redis_server()
    config = write_config(tmp_path / "c.yaml", [server.url("/")],
                          politeness={"robots_txt": "obey", "per_host_concurrency": 4})
    server.hold()

    nodes = [start_node(config, redis, tmp_path / f"s{i}.db") for i in range(3)]
    wait_for_nodes(redis, 3)
    server.release()
    finish(nodes)

    pages = [r for r in server.requests if r.path != "/robots.txt"]
    assert {r.path for r in pages} == set(site) - {"/robots.txt"} and len(pages) == 12
    gaps = [b.arrived - a.arrived for a, b in itertools.pairwise(pages)]
    # robots.txt's delay, not the configured 0 with 4 at once, between any two processes
    assert min(gaps) >= 0.3 - 0.05, [round(g, 3) for g in gaps]
    assert sum(1 for i in range(3) if scalar(tmp_path / f"s{i}.db",
                                             "SELECT count(*) FROM pages")) >= 2


def test_a_retry_after_cools_the_host_for_every_process(site_server, redis_server,
                                                        tmp_path) -> None:
    site = tree_site(40, fanout=6)
    site["/p/4"] = [Page("busy", status=429, headers={"Retry-After": "2"}), site["/p/4"]]
    server = site_server(site, host="127.0.0.2", latency=0.02)
    redis = redis_server()
    config = write_config(tmp_path / "c.yaml", [server.url("/")],
                          politeness={"per_host_concurrency": 2})

    finish([start_node(config, redis, tmp_path / f"s{i}.db") for i in range(3)])

    records = server.requests
    busy = next(i for i, r in enumerate(records) if r.path == "/p/4")
    later = [r.arrived for r in records[busy + 1:]]
    # requests already on their way when the 429 left may arrive just after it
    assert len([t for t in later if t - records[busy].arrived < 1.9]) <= 2 * 3
    assert set(server.paths) == reachable(tree_site(40, fanout=6))


def test_enter_counts_the_delay_from_the_real_start_and_a_page_once(redis_server) -> None:
    import redis as redis_py

    from crawler.cluster import lua

    client = redis_py.Redis.from_url(redis_server().url)
    enter = client.register_script(lua.ENTER)

    def call(host: str, *, delay: int, leaving: tuple[tuple[object, ...], ...] = (),
             asking: tuple[str, ...] = ()) -> list[int]:
        args: list[object] = ["crawler:t:", host, 1, delay, 60_000, 2, len(leaving)]
        for leave in leaving:
            args += leave
        for token in asking:
            args += [token, -1, "", -1]
        return [int(x) for x in enter(args=args)]

    slow = "http://slow:80"
    now, counted, code, _ = call(slow, delay=200, asking=("a",))
    assert (counted, code) == (0, 0)
    assert call(slow, delay=200, asking=("b",))[2] == 1  # the delay is not over
    # "a" really started 500 ms after Redis let it in: the next start moves to 700 ms.
    _, counted, code, wait = call(slow, delay=200, leaving=(("a", now + 500, 200, 1),),
                                  asking=("b",))
    assert (counted, code) == (1, 1) and wait > 600
    # The same leave sent again (its first answer was lost) counts nothing.
    assert call(slow, delay=200, leaving=(("a", now + 500, 200, 1),))[1] == 0
    assert int(client.hget("crawler:t:counts", "pages")) == 1

    # max_pages 2: one page stored, one in flight; nobody else enters until it leaves.
    fast = "http://fast:80"
    assert call(fast, delay=0, asking=("c",))[2:] == [0, 0]
    assert call("http://other:80", delay=0, asking=("d",))[2] == 1
    assert call(fast, delay=0, leaving=(("c", -1, 0, 0),))[1] == 0  # it stored nothing
    assert call("http://other:80", delay=0, asking=("d",))[2:] == [0, 0]


# -- a connection lost in the middle of a call ------------------------------------


def _answer_lost(script: Any) -> Any:
    """`script`, run by Redis, whose answer never comes back (the connection dropped)."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    async def call(**kwargs: Any) -> Any:
        await script(**kwargs)
        raise RedisConnectionError("Connection closed by server.")

    return call


async def test_a_lease_whose_answer_was_lost_is_given_again_not_left_to_expire(
        redis_server) -> None:
    from redis.asyncio import Redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    from crawler.cluster.frontier import RedisFrontier
    from crawler.cluster.keys import Keys
    from crawler.frontier.codec import RequestCodec
    from crawler.models import Request

    client = Redis.from_url(redis_server().url)
    frontier = RedisFrontier(client, Keys.of("t"), RequestCodec(), lease_ttl=60)
    try:
        await frontier.add([("http://h:80", Request(f"http://h/{i}")) for i in range(6)])
        lease = frontier._scripts["LEASE"]
        frontier._scripts["LEASE"] = _answer_lost(lease)
        with pytest.raises(RedisConnectionError):
            await frontier.lease("http://h:80", 4)
        frontier._scripts["LEASE"] = lease

        again = await frontier.lease("http://h:80", 4)
        rest = await frontier.lease("http://h:80", 4)

        assert [r.url for r in again] == [f"http://h/{i}" for i in range(4)]
        assert [r.url for r in rest] == ["http://h/4", "http://h/5"]
        assert await frontier.counts() == {"queued": 0, "leased": 6}
    finally:
        await frontier.close()
        await client.aclose()


async def test_a_place_whose_answer_was_lost_is_freed_by_the_next_call(redis_server) -> None:
    from redis.asyncio import Redis

    from crawler.cluster.gate import UNREACHABLE_WAIT, ClusterGate
    from crawler.cluster.keys import Keys
    from crawler.models import Request
    from crawler.politeness.gate import GO
    from crawler.politeness.slots import HostSlot
    from tests.conftest import make_config

    client = Redis.from_url(redis_server().url)
    gate = ClusterGate(client, Keys.of("t"), make_config(["http://h/"]))
    slot = HostSlot(concurrency=1, delay=0.0)
    try:
        enter = gate._enter
        gate._enter = _answer_lost(enter)
        lost = await gate.enter(Request("http://h/1"), "http://h:80", slot)
        assert lost.wait == UNREACHABLE_WAIT  # Redis gave it the one place; nobody heard
        gate._enter = enter

        # Without freeing that place, the host would wait for its token to expire
        # (the fetch timeout plus 30 s).
        assert await gate.enter(Request("http://h/2"), "http://h:80", slot) is GO
    finally:
        await client.aclose()
