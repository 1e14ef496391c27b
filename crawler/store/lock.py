"""One writer per crawl file: an OS lock on a file beside it, naming who holds it.

`crawl.db-lock` sits beside the database like SQLite's own `-wal` and `-shm`
files. The writer holds an exclusive `flock` on it for as long as it writes,
and keeps in it who it is (pid, host, since when), so a second
writer can say who is in its way. The kernel drops the lock when its process
ends however it ends, `kill -9` and crashes included, so a lock is never
stale: a file whose lock can be taken but that still names a holder was left
by a writer that died, and the new writer takes it over (and says so).

Readers (`crawler query`, `stats`, `search`, `export`) never touch it: they
open the database read-only, which SQLite's WAL mode allows beside a writer.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from crawler.errors import OutputError, OutputLocked
from crawler.store.failures import unwritable

SUFFIX = "-lock"


@dataclass(frozen=True, slots=True)
class Holder:
    """Who holds (or held) a crawl file's lock."""

    pid: int
    host: str
    since: float  # epoch seconds

    def describe(self) -> str:
        """'pid 1234 on host x since 10:02' (with the date when it is not today)."""
        stamp = datetime.fromtimestamp(self.since)
        when = stamp.strftime("%H:%M") if stamp.date() == datetime.now().date() else (
            stamp.strftime("%Y-%m-%d %H:%M"))
        return f"pid {self.pid} on host {self.host} since {when}"


def lock_path(db: Path) -> Path:
    return db.with_name(db.name + SUFFIX)


class WriterLock:
    """The exclusive right to write one crawl file: `acquire()` ... `release()`."""

    def __init__(self, db: str | Path) -> None:
        self.db = Path(db)
        self.path = lock_path(self.db)
        self.previous: Holder | None = None  # a holder that died without releasing the file
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise OutputLocked naming the holder; never waits.

        A writer releasing the lock unlinks the file first, so a lock taken
        on a file that is no longer at `path` is worth nothing: try again.
        """
        for _ in range(10):
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read(fd)
                os.close(fd)
                raise OutputLocked(self._refusal(holder)) from None
            if _same_file(fd, self.path):
                self.previous = _read(fd)
                self._fd = fd
                _write(fd, _me())
                return
            os.close(fd)
        raise OutputError(f"{self.path}: could not take the lock (it keeps being replaced)")

    def took_over(self) -> str:
        """What to tell the user when `previous` names a writer that died holding the file."""
        who = self.previous.describe() if self.previous else "a writer"
        return f"{self.db}: taking over from {who}, which stopped without releasing it"

    def release(self) -> None:
        """Unlink the lock file, then drop the lock (in that order: see `acquire`)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):  # a read-only or vanished directory
            if _same_file(fd, self.path):
                os.unlink(self.path)
        os.close(fd)

    def _open(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise OutputError(unwritable(self.db, exc)) from None

    def _refusal(self, holder: Holder | None) -> str:
        who = holder.describe() if holder else "another process"
        return f"{self.db} is being written by {who}; use another -o or wait"


def _same_file(fd: int, path: Path) -> bool:
    try:
        here, there = os.fstat(fd), os.stat(path)
    except FileNotFoundError:
        return False
    return (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino)


def _me() -> Holder:
    return Holder(os.getpid(), socket.gethostname(), time.time())


def _read(fd: int) -> Holder | None:
    """The holder a lock file names; None when empty or unreadable (being written)."""
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"null")
        return None if data is None else Holder(int(data["pid"]), str(data["host"]),
                                                float(data["since"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _write(fd: int, holder: Holder) -> None:
    """Best effort: the lock is the flock; this only lets a refused writer name us."""
    data = json.dumps({"pid": holder.pid, "host": holder.host,
                       "since": holder.since}).encode()
    with contextlib.suppress(OSError):  # a full disk: we still hold the lock
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
