"""A real redis-server for the tests, on a free loopback port, in a temporary directory.

`.ci/run` installs redis-server when it is missing; without it the cluster
tests are skipped with that reason. The server can be stopped and started
again on the same port with the same directory, so with `appendonly` its
data survives (a Redis restarted mid-crawl).
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
from pathlib import Path
from typing import Any

REDIS = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """`redis-server` bound to 127.0.0.1 only; `url` is what a crawler is given."""

    def __init__(self, directory: Path, *, appendonly: bool = False,
                 password: str | None = None, tls: Any = None) -> None:
        self.directory = directory
        self.port = free_port()
        self.appendonly = appendonly
        self.password = password
        self.tls = tls  # a trustme.CA: serve TLS only (rediss://), with a certificate it issued
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}127.0.0.1:{self.port}/0"

    def client(self, **options: Any):  # -> redis.Redis (redis-py is an optional extra)
        """A synchronous redis-py client of this server, for what a test reads from it."""
        import redis

        return redis.Redis.from_url(self.url, **options)

    def start(self) -> RedisServer:
        assert REDIS is not None
        args = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                str(self.directory), "--save", "", "--appendonly",
                "yes" if self.appendonly else "no", "--appendfsync", "always",
                "--daemonize", "no", "--loglevel", "warning"]
        if self.password:
            args += ["--requirepass", self.password]
        if self.tls:
            args += ["--port", "0", "--tls-port", str(self.port), *self._tls_files()]
        self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        self._wait_until_up()
        return self

    def stop(self) -> None:
        """Shut down cleanly (SIGTERM: an append-only file is written out)."""
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._proc = None

    def _tls_files(self) -> list[str]:
        cert = self.tls.issue_cert("127.0.0.1")
        key_file, cert_file = self.directory / "server.key", self.directory / "server.pem"
        cert.private_key_pem.write_to_path(str(key_file))
        cert.cert_chain_pems[0].write_to_path(str(cert_file))
        ca_file = self.directory / "ca.pem"
        self.tls.cert_pem.write_to_path(str(ca_file))
        return ["--tls-cert-file", str(cert_file), "--tls-key-file", str(key_file),
                "--tls-ca-cert-file", str(ca_file), "--tls-auth-clients", "no"]

    def _wait_until_up(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as raw:
                    sock = raw
                    if self.tls:
                        context = ssl.create_default_context()
                        self.tls.configure_trust(context)
                        sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")
