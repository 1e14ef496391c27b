"""Serve a directory with nginx on loopback, for benchmarks and tests.

``NginxServer(root, port)`` is a context manager that writes a minimal
``nginx.conf`` into a temporary directory, runs nginx in the foreground as a
child process (one worker, keep-alive on, no gzip) listening on
``127.0.0.1:port``, and keeps an access log of ``METHOD URI STATUS BYTES`` lines
so a benchmark can check which URLs were fetched and how often::

    with NginxServer(site_dir, 8765) as server:
        ...  # crawl server.url("/index.html")
        entries = server.log_entries()
        server.reset_log()  # before the next run

Extra configuration (``http_extra``, ``server_extra``) lets a benchmark add a
``map`` or ``location`` blocks, e.g. to serve one template for every path.

``ensure_nginx()`` installs nginx with apt-get when the binary is missing.
Standard library only.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

LOOPBACK = "127.0.0.1"
START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0

CONF_TEMPLATE = """\
{user}worker_processes 1;
daemon off;
master_process on;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;

events {{
    worker_connections 1024;
}}

http {{
    types {{
        text/html html htm;
        text/plain txt;
        application/json json;
    }}
    default_type application/octet-stream;
    charset utf-8;
    server_tokens off;

    log_format bench '$request_method $request_uri $status $body_bytes_sent $msec';
    access_log {tmp}/access.log bench;

    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;

    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    gzip off;
{http_extra}
    server {{
        listen {host}:{port};
        server_name _;
        root {root};
        index index.html;
{server_extra}
    }}
}}
"""


class NginxError(RuntimeError):
    """nginx could not be installed, started or stopped."""


@dataclass(frozen=True)
class LogEntry:
    """One access-log line."""

    method: str
    uri: str
    status: int
    size: int
    time: float = 0.0  # when nginx logged it (seconds since the epoch, ms resolution)


def find_nginx() -> str | None:
    """The nginx binary's path, looking in /usr/sbin too (often not on PATH)."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def _apt_get(*args: str) -> bool:
    """Run apt-get non-interactively; True when it succeeded."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    result = subprocess.run(["apt-get", *args], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, timeout=600, check=False)
    return result.returncode == 0


def ensure_nginx() -> str:
    """Return the nginx binary, installing it with apt-get if it is missing."""
    found = find_nginx()
    if found:
        return found
    if not _apt_get("install", "-y", "-q", "nginx"):
        _apt_get("update", "-q")
        _apt_get("install", "-y", "-q", "nginx")
    found = find_nginx()
    if not found:
        raise NginxError("nginx is not installed and 'apt-get install -y nginx' failed")
    return found


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether nothing listens on ``host:port`` (TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = LOOPBACK) -> int:
    """A port the kernel says is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of one live process (0 when it is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    """Live processes whose parent is ``pid`` (scans /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            out.append(int(entry.name))
    return out


def parse_log_line(line: str) -> LogEntry | None:
    """A ``LogEntry`` from one line of the ``bench`` log format, or None."""
    parts = line.split()
    if len(parts) not in (4, 5):  # four: a log written before the time was added
        return None
    method, uri, status, size = parts[:4]
    when = float(parts[4]) if len(parts) == 5 else 0.0
    return LogEntry(method, uri, int(status), int(size) if size.isdigit() else 0, when)


def render_conf(tmp: Path, root: Path, port: int, host: str = LOOPBACK, *,
                http_extra: str = "", server_extra: str = "") -> str:
    """The nginx.conf text (workers run as root when we are root, to read any dir).

    ``http_extra`` goes into the ``http`` block (e.g. a ``map``), ``server_extra``
    into the ``server`` block (e.g. ``location`` blocks).
    """
    user = "user root;\n" if os.geteuid() == 0 else ""
    return CONF_TEMPLATE.format(user=user, tmp=tmp, root=root.resolve(), port=port, host=host,
                                http_extra=http_extra, server_extra=server_extra)


def _wait_listening(host: str, port: int, proc: subprocess.Popen[bytes], timeout: float) -> bool:
    """Poll (bounded) until ``host:port`` accepts connections or the process exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


class NginxServer:
    """nginx serving ``root`` on ``host:port`` for as long as the context lasts."""

    def __init__(self, root: Path, port: int, host: str = LOOPBACK, *,
                 http_extra: str = "", server_extra: str = "") -> None:
        if not host.startswith("127."):
            raise ValueError("NginxServer only listens on loopback (127.0.0.0/8)")
        self.root = Path(root)
        self.port = port
        self.host = host
        self.http_extra = http_extra
        self.server_extra = server_extra
        self.tmp: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    def url(self, path: str) -> str:
        """The full URL of ``path`` on this server."""
        return self.base_url + path

    @property
    def access_log(self) -> Path:
        """Where nginx writes the access log."""
        if self.tmp is None:
            raise NginxError("nginx is not running")
        return self.tmp / "access.log"

    def start(self) -> NginxServer:
        """Write the config and start nginx; wait until it accepts connections."""
        binary = ensure_nginx()
        self.tmp = Path(tempfile.mkdtemp(prefix="crawler-bench-nginx-"))
        conf = self.tmp / "nginx.conf"
        conf.write_text(render_conf(self.tmp, self.root, self.port, self.host,
                                    http_extra=self.http_extra, server_extra=self.server_extra))
        self.access_log.touch()
        self.proc = subprocess.Popen(
            [binary, "-e", str(self.tmp / "error.log"), "-p", str(self.tmp), "-c", str(conf)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        if not _wait_listening(self.host, self.port, self.proc, START_TIMEOUT):
            errors = self.error_log()
            self.stop()
            raise NginxError(f"nginx did not start on {self.host}:{self.port}:\n{errors}")
        return self

    def stop(self) -> None:
        """Stop nginx (SIGTERM, then SIGKILL) and remove its temporary directory."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=STOP_TIMEOUT)
        self.proc = None
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None

    def __enter__(self) -> NginxServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def cpu_seconds(self) -> float:
        """CPU seconds the nginx master and its workers have used so far."""
        if self.proc is None:
            return 0.0
        pids = [self.proc.pid, *child_pids(self.proc.pid)]
        return sum(process_cpu_seconds(pid) for pid in pids)

    def error_log(self) -> str:
        """nginx's error log so far ('' when there is none)."""
        if self.tmp is None:
            return ""
        try:
            return (self.tmp / "error.log").read_text(errors="replace")
        except OSError:
            return ""

    def log_lines(self) -> list[str]:
        """The access log's lines since the last ``reset_log``."""
        return self.access_log.read_text(errors="replace").splitlines()

    def log_entries(self) -> list[LogEntry]:
        """The access log, parsed."""
        return [e for e in map(parse_log_line, self.log_lines()) if e is not None]

    def reset_log(self) -> None:
        """Empty the access log and ask nginx to reopen it.

        nginx appends with O_APPEND, so truncating is enough; the reopen
        (SIGUSR1) also recovers if someone removed the file.
        """
        self.access_log.write_bytes(b"")
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)
