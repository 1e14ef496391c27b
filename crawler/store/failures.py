"""What went wrong with the output file, in one line a user can act on.

SQLite and the OS report storage trouble as `sqlite3.Error` and `OSError`
with terse messages ("database or disk is full", "attempt to write a
readonly database"). These turn them into the errors the crawler raises: an
`OutputError` when the file cannot be opened for writing at all (the user
picks another path: exit 2), a `StorageError` when writing fails during a
crawl (the crawl stops; exit 1), each with the fix.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

from crawler.errors import OutputError, StorageError

STORAGE_ERRORS = (sqlite3.Error, OSError)

# SQLite's messages, and what each means for someone looking at a crawl file.
_MEANINGS = (
    ("disk is full", "the disk is full"),
    ("disk i/o error", "an I/O error"),
    ("readonly database", "the file became read-only, or was removed or moved"),
    ("unable to open", "the file or its directory cannot be opened"),
    ("not a database", "it is not a SQLite database"),
    ("malformed", "the database file is damaged"),
    ("database is locked", "another program holds a write lock on it"),
)


_GONE = "the file was removed or replaced while the crawl wrote it"


def identity(path: Path) -> tuple[int, int] | None:
    """(device, inode) of `path`, to tell later whether it is still the same file."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def same_file(path: Path, known: tuple[int, int] | None) -> bool:
    return known is None or identity(path) == known


def gone(path: Path) -> OSError:
    return FileNotFoundError(errno.ENOENT, _GONE, str(path))


def reason(exc: BaseException) -> str:
    """What happened, in words: 'the disk is full (database or disk is full)'."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror == _GONE:
        return _GONE
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"the disk is full ({text})"
    lowered = text.lower()
    for needle, meaning in _MEANINGS:
        if needle in lowered:
            return f"{meaning} ({text})"
    return text


def fix(exc: BaseException) -> str:
    """What to do next, ending the one-line message."""
    text = str(exc).lower()
    if isinstance(exc, OSError) and exc.strerror == _GONE:
        return "what it held is gone: run the same command to crawl again"
    if "full" in text or (isinstance(exc, OSError) and exc.errno == errno.ENOSPC):
        return "free space and run the same command to resume"
    if "readonly" in text:
        return "make the file writable and run the same command to resume"
    return "fix the cause and run the same command to resume"


def storage_error(path: Path, exc: BaseException) -> StorageError:
    """A write that failed during a crawl, with what happened and what to do."""
    why = reason(exc)
    return StorageError(f"{path}: {why}", reason=why, fix=fix(exc))


def stopped(output: Path, failure: StorageError, unstored: int, *,
            resumable: bool) -> StorageError:
    """What a crawl that stopped on a storage failure tells its user, in one line."""
    pages = f"{unstored:,} fetched page{'s' if unstored != 1 else ''} not stored"
    if not resumable:
        tail = "an in-memory frontier cannot resume"
    elif failure.reason == _GONE:
        tail = failure.fix
    else:
        pages += " (they will be fetched again)"
        tail = failure.fix
    return StorageError(f"{output}: storing failed: {failure.reason}; {pages}; {tail}",
                        reason=failure.reason, fix=failure.fix)


def prepare_path(path: Path) -> None:
    """Create the output's missing directories; OutputError when that cannot be done
    or the path is a directory."""
    try:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "Is a directory")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except FileExistsError:  # what mkdir says of a file on the way
            raise NotADirectoryError(errno.ENOTDIR, "Not a directory") from None
    except OSError as exc:
        raise OutputError(unwritable(path, exc)) from None


def open_error(path: Path, exc: BaseException) -> OutputError:
    """The output cannot be opened for writing: say why, and what to do."""
    text = str(exc).lower()
    if "not a database" in text:
        return OutputError(f"{path} is not a crawl database ({exc}); choose another -o")
    if "full" in text:
        return OutputError(f"cannot write {path}: the disk is full; free space or choose "
                           "another -o")
    if "readonly" in text:
        return OutputError(f"cannot write {path}: the file is read-only; make it writable or "
                           "choose another -o")
    if "locked" in text:
        return OutputError(f"cannot write {path}: another program holds a write lock on it "
                           f"({exc}); close it or choose another -o")
    return OutputError(f"cannot write {path}: {reason(exc)}; choose another -o")


def unwritable(path: Path, exc: OSError) -> str:
    """One line on why `path` (or a directory on its way) cannot be written, and the fix."""
    why = os.strerror(exc.errno) if exc.errno else str(exc)
    what_to_do = {
        errno.EACCES: "choose another -o, or make the directory writable",
        errno.EPERM: "choose another -o, or make the directory writable",
        errno.ENOSPC: "free space, or choose another -o",
        errno.ENOTDIR: "a part of the path is a file; choose another -o",
        errno.EISDIR: "give a file name, such as crawl.db",
    }.get(exc.errno or 0, "choose another -o")
    return f"cannot write {path}: {why}; {what_to_do}"
