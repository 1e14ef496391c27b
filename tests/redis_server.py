"""A real redis-server for the tests, on a free loopback port, in a temporary directory.

`.ci/run` installs redis-server when it is missing; without it the cluster
tests are skipped with that reason. The server can be stopped and started
again on the same port with the same directory, so with `appendonly` its
data survives (a Redis restarted mid-crawl).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

REDIS = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """`redis-server` bound to 127.0.0.1 only; `url` is what a crawler is given."""

    def __init__(self, directory: Path, *, appendonly: bool = False,
                 password: str | None = None) -> None:
        self.directory = directory
        self.port = free_port()
        self.appendonly = appendonly
        self.password = password
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        assert REDIS is not None
        args = [REDIS, "--port", str(self.port), "--bind", "127.0.0.1", "--dir",
                str(self.directory), "--save", "", "--appendonly",
                "yes" if self.appendonly else "no", "--appendfsync", "always",
                "--daemonize", "no", "--loglevel", "warning"]
        if self.password:
            args += ["--requirepass", self.password]
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

    def _wait_until_up(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"redis-server did not start on port {self.port}")
