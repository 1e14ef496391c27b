"""Through tinyproxy, a forward proxy people run in production: every request passes it,
with Basic credentials read from the environment. `.ci/run` installs tinyproxy; without
the binary this test skips and says so."""

from __future__ import annotations

import re
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import cli_command, cli_env, rows
from tests.site import tree_site

pytestmark = pytest.mark.timeout(60)

PASSWORD = "t1ny-pr0xy-Wd4"
REQUEST = re.compile(r"Request \(file descriptor \d+\): (\S+) (\S+) HTTP/")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def tinyproxy(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """tinyproxy in the foreground on a free loopback port, wanting Basic credentials;
    yields (port, its log file) and stops it at teardown."""
    binary = shutil.which("tinyproxy")
    if binary is None:
        pytest.skip("tinyproxy is not installed (.ci/run installs it with apt-get)")
    port, log = free_port(), tmp_path / "tinyproxy.log"
    config = tmp_path / "tinyproxy.conf"
    config.write_text(f"""\
Port {port}
Listen 127.0.0.1
Timeout 30
LogFile "{log}"
LogLevel Info
MaxClients 64
Allow 127.0.0.1
BasicAuth crawler {PASSWORD}
DisableViaHeader Yes
""")
    proc = subprocess.Popen([binary, "-d", "-c", str(config)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert proc.poll() is None, f"tinyproxy exited: {log.read_text()[-500:]}"
                assert time.monotonic() < deadline, "tinyproxy did not start listening"
                time.sleep(0.05)
        yield port, log
    finally:
        proc.terminate()
        proc.wait(10)


def crawl_through(port: int, start: str, tmp_path: Path, **env: str) -> Path:
    """`crawler run` of `start` through tinyproxy with its password from the environment;
    the database it wrote (the run must exit 0)."""
    config = tmp_path / "tiny.yaml"
    config.write_text(f"""\
start_urls: ["{start}"]
politeness: {{robots_txt: ignore, per_host_delay: 0, per_host_concurrency: 4}}
fetch: {{proxy: "http://crawler:${{TINYPROXY_PASSWORD}}@127.0.0.1:{port}"}}
""")
    db = tmp_path / "tiny.db"
    done = subprocess.run(cli_command("run", str(config), "-q", "-o", str(db)),
                          env={**cli_env(), "TINYPROXY_PASSWORD": PASSWORD, **env},
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return db


def test_a_crawl_through_tinyproxy_passes_every_request_through_it(site_server, tinyproxy,
                                                                   tmp_path) -> None:
    port, log = tinyproxy
    site = site_server(tree_site(25), host="127.0.0.2")

    db = crawl_through(port, site.url("/"), tmp_path)

    relayed = [m.group(2) for m in REQUEST.finditer(log.read_text())]
    assert sorted(relayed) == sorted(site.url(p) for p in site.paths)
    assert {r["url"] for r in rows(db, "SELECT url FROM pages WHERE status = 200")} == set(
        relayed)
    assert len(relayed) == 25


def test_an_https_site_is_crawled_through_the_proxys_connect_tunnel(site_server, tinyproxy,
                                                                    tmp_path) -> None:
    """https through an http proxy is a CONNECT tunnel: the proxy sees only the host
    and port, the certificate is checked end to end (against a test CA the crawler is
    told to trust through SSL_CERT_FILE, as a user behind a corporate CA would)."""
    trustme = pytest.importorskip("trustme")
    port, log = tinyproxy
    ca = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.2").configure_cert(tls)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    site = site_server(tree_site(10), host="127.0.0.2", tls=tls)

    db = crawl_through(port, site.url("/"), tmp_path, SSL_CERT_FILE=str(ca_file))

    tunnels = [m.group(2) for m in REQUEST.finditer(log.read_text())
               if m.group(1) == "CONNECT"]
    assert tunnels and set(tunnels) == {site.netloc}
    stored = {r["url"] for r in rows(db, "SELECT url FROM pages WHERE status = 200")}
    assert stored == {site.url(p) for p in set(site.paths)} and len(stored) == 10
