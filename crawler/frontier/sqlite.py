"""The durable frontier: URLs to fetch and the seen-set live in the crawl's SQLite file.

Memory holds only a bounded window per host (requests leased from disk a
batch at a time) and a bounded cache of recently seen URLs. Everything else
is rows of the `frontier` table:

- `add` buffers a candidate; it is written with `INSERT OR IGNORE` (the
  unique index on the canonical URL is the seen-set) in the same transaction
  as the page whose links produced it, together with that page's own state
  change (`done`). A crash can lose neither a stored page's links nor mark a
  page done that was not stored.
- `pop` serves from the host's window and, when the window runs low, leases
  the next rows of that host (state `queued` → `leased`) in the background;
  `on_available` tells the scheduler when they arrive.
- `recover` (on resume) puts leased-but-unfinished rows back to `queued`.

Requests are stored as columns for what every request has (URL, host,
depth, priority, referrer) plus a JSON object for the rest (callback name,
meta, headers, ...), NULL for a plain link, which is nearly all of them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from crawler.models import Request
from crawler.store.sqlite import Store

log = logging.getLogger(__name__)

# A window is refilled when half empty, so a fast host's next rows arrive
# before it runs dry even when the lease waits behind a batch being written
# (a 400-page batch can take ~0.5 s; a single host can do ~700 pages/s).
WINDOW_MAX = 1024     # requests leased per host at once, at most
WINDOW_MIN = 4        # ... and at least, however many hosts are active
WINDOW_TOTAL = 16_384  # requests in memory over all hosts (the per-host size shrinks to fit)
RECENT_URLS = 32_768   # URLs remembered to skip obvious duplicates without a write

_COLUMNS = ("url", "callback", "depth", "priority", "referrer", "href", "frontier_id")

_INSERT = (
    "INSERT OR IGNORE INTO frontier (crawl_id, url, host, priority, depth, referrer, request, "
    "unique_url) SELECT ?, value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, "
    "value ->> 5, value ->> 6 FROM json_each(?)"
)
_SET_STATE = "UPDATE frontier SET state = ? WHERE id IN (SELECT value FROM json_each(?))"
_UNLEASE = "UPDATE frontier SET state = 'queued' WHERE crawl_id = ? AND state = 'leased'"
_LEASE = (
    "UPDATE frontier SET state = 'leased' WHERE id IN ("
    " SELECT id FROM frontier WHERE crawl_id = ? AND host = ? AND state = 'queued'"
    " ORDER BY priority DESC, id LIMIT ?) "
    "RETURNING id, url, priority, depth, referrer, request"
)


class SqliteFrontier:
    """A `Frontier` backed by the `frontier` table of the crawl database."""

    def __init__(self, store: Store, crawl_id: int, *,
                 resolve_callback: Callable[[str], Any] | None = None,
                 name_callback: Callable[[Any], str | None] | None = None) -> None:
        self.on_available: Callable[[str], None] | None = None
        self._store = store
        self._crawl_id = crawl_id
        self._resolve = resolve_callback or (lambda name: None)
        self._name = name_callback or (lambda callback: None)
        self._windows: dict[str, deque[Request]] = {}
        self._in_windows = 0
        self._on_disk: set[str] = set()    # hosts that may have queued rows (or buffered ones)
        self._dirty: set[str] = set()      # hosts with candidates not yet written
        self._refilling: set[str] = set()
        self._writing: Counter[str] = Counter()  # hosts with candidates in a flush under way
        self._queued = 0  # rows known to be queued on disk (for progress reports)
        self._low_water = WINDOW_MIN  # refill a window this small (half the current size)
        self._tasks: set[asyncio.Task[None]] = set()
        self._recent_new: set[str] = set()
        self._recent_old: set[str] = set()
        self._live: dict[int, Request] = {}  # requests whose callback/meta cannot be stored
        self._live_keys = iter(range(1, 1 << 62))
        self._duplicates = 0
        self._buffer = _Buffer()
        store.add_part(self)

    # ---- the Frontier protocol ----

    @property
    def duplicates(self) -> int:
        return self._duplicates

    def seen(self, url: str) -> bool:
        return url in self._recent_new or url in self._recent_old

    def add(self, host: str, request: Request) -> bool:
        url = request.url
        if not request.dont_filter:
            if self.seen(url):
                return False
            self._remember(url)
        self._buffer.new.append((url, host, request.priority, request.depth, request.referrer,
                                 self._encode(request), 0 if request.dont_filter else 1))
        self._dirty.add(host)
        self._on_disk.add(host)
        return True

    def pop(self, host: str) -> Request | None:
        window = self._windows.get(host)
        request = None
        if window:
            request = window.popleft()
            self._in_windows -= 1
            if not window:
                del self._windows[host]
        if host in self._on_disk and len(window or ()) <= self._low_water:
            self._start_refill(host)
        return request

    def requeue(self, host: str, request: Request) -> None:
        window = self._windows.setdefault(host, deque())
        window.appendleft(request)  # it was first in line already
        self._in_windows += 1

    def done(self, request: Request) -> None:
        self._settle(self._buffer.done, request)

    def failed(self, request: Request) -> None:
        self._settle(self._buffer.failed, request)

    def dropped(self, request: Request) -> None:
        self._settle(self._buffer.dropped, request)

    def pending(self, host: str | None = None) -> int:
        # Not a count of rows: > 0 exactly while a window holds requests or a
        # host may still have rows on disk (or buffered on their way there).
        if host is None:
            return self._in_windows + len(self._on_disk) + len(self._refilling)
        window = self._windows.get(host)
        return len(window or ()) + (host in self._on_disk or host in self._refilling)

    def size(self) -> int:
        """About how many requests wait (for progress reports)."""
        return self._in_windows + self._queued + len(self._buffer.new)

    # ---- lifecycle ----

    async def recover(self) -> int:
        """Put leased rows back in the queue (a resumed crawl); returns how many."""
        db = self._store.db
        async with self._store.transaction():
            cur = await db.execute(_UNLEASE, (self._crawl_id,))
            recovered = cur.rowcount
        async with db.execute("SELECT host, count(*) FROM frontier WHERE crawl_id = ? "
                              "AND state = 'queued' GROUP BY host", (self._crawl_id,)) as cur:
            for host, count in await cur.fetchall():
                self._on_disk.add(host)
                self._queued += count
        return recovered

    async def close(self) -> None:
        """Let background loads finish; what is still leased goes back to `queued`.

        Loads are awaited, not cancelled: a lease cancelled mid-query leaves
        its UPDATE ... RETURNING unfinished on the connection, and then no
        transaction can commit ("SQL statements in progress").
        """
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._store.flush()
        async with self._store.transaction():
            await self._store.db.execute(_UNLEASE, (self._crawl_id,))

    # ---- the Store's batch (see Store.add_part) ----

    def take(self) -> _Buffer | None:
        """Hand the buffered writes to a flush that is starting (synchronously, with its batch)."""
        if not self._buffer:
            return None
        buffer, self._buffer = self._buffer, _Buffer()
        buffer.hosts, self._dirty = self._dirty, set()
        self._writing.update(buffer.hosts)
        return buffer

    def statements(self, buffer: _Buffer) -> Iterator[tuple[str, Sequence[Any]]]:
        for state, ids in (("done", buffer.done), ("failed", buffer.failed),
                           ("dropped", buffer.dropped)):
            if ids:
                yield _SET_STATE, (state, json.dumps(ids))
        if buffer.new:
            yield _INSERT, (self._crawl_id, json.dumps(buffer.new, ensure_ascii=False))

    def committed(self, buffer: _Buffer, rowcounts: Sequence[int]) -> None:
        self._writing.subtract(buffer.hosts)
        if buffer.new:
            inserted = rowcounts[-1]
            self._duplicates += len(buffer.new) - inserted
            self._queued += inserted

    # ---- loading windows ----

    def _start_refill(self, host: str) -> None:
        if host in self._refilling:
            return
        self._refilling.add(host)
        task = asyncio.create_task(self._refill(host), name=f"frontier {host}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _refill(self, host: str) -> None:
        loaded = 0
        try:
            for _ in range(3):  # new candidates may keep arriving while we flush; bounded
                loaded = await self._lease(host)
                if loaded or host not in self._dirty:
                    break
                await self._store.flush()  # the disk has none: write the buffered ones
            # Empty for now, unless candidates are buffered or being written.
            if not loaded and host not in self._dirty and self._writing[host] <= 0:
                self._on_disk.discard(host)
        finally:
            self._refilling.discard(host)
            if self.on_available is not None:
                self.on_available(host)

    async def _lease(self, host: str) -> int:
        size = self._window_size()
        self._low_water = size // 2
        async with self._store.transaction(), self._store.db.execute(
                _LEASE, (self._crawl_id, host, size)) as cursor:
            rows = await cursor.fetchall()
        if not rows:
            return 0
        rows.sort(key=lambda row: (-row[2], row[0]))
        window = self._windows.setdefault(host, deque())
        window.extend(self._decode(row) for row in rows)
        self._in_windows += len(rows)
        self._queued = max(0, self._queued - len(rows))
        return len(rows)

    def _window_size(self) -> int:
        """Per-host window: share WINDOW_TOTAL among active hosts, within [MIN, MAX]."""
        # An upper bound on active hosts (one may be in both), without building a set.
        active = max(1, len(self._on_disk) + len(self._windows))
        return max(WINDOW_MIN, min(WINDOW_MAX, WINDOW_TOTAL // active))

    # ---- requests to rows and back ----

    def _settle(self, ids: list[int], request: Request) -> None:
        if request.frontier_id is not None:
            ids.append(request.frontier_id)

    def _remember(self, url: str) -> None:
        """Two generations of recent URLs: bounded, and O(1) to age out."""
        recent = self._recent_new
        recent.add(url)
        if len(recent) >= RECENT_URLS // 2:
            self._recent_old, self._recent_new = recent, set()

    def _encode(self, request: Request) -> str | None:
        """What a plain link lacks, as JSON; None for a plain link."""
        extra = _extra_fields(request)
        if request.callback is not None:
            name = self._name(request.callback)
            if name is None:
                return self._keep_live(request, extra)
            extra["callback"] = name
        if not extra:
            return None
        try:
            return json.dumps(extra, ensure_ascii=False)
        except (TypeError, ValueError):
            return self._keep_live(request, extra)

    def _keep_live(self, request: Request, extra: dict[str, Any]) -> str:
        """A request that cannot be written as JSON lives in memory (lost on a restart)."""
        key = next(self._live_keys)
        if not self._live:
            log.warning("%s: its callback or meta cannot be stored, so it is kept in memory "
                        "and will not survive a restart (use spider methods and JSON meta)",
                        request.url)
        self._live[key] = request
        plain = {k: v for k, v in extra.items() if k not in ("meta", "callback")}
        plain["live"] = key
        return json.dumps(plain, ensure_ascii=False, default=str)

    def _decode(self, row: tuple[Any, ...]) -> Request:
        frontier_id, url, priority, depth, referrer, extra_json = row
        if extra_json is None:
            return Request(url, priority=priority, depth=depth, referrer=referrer,
                           frontier_id=frontier_id)
        extra = json.loads(extra_json)
        live = self._live.pop(extra.pop("live", 0), None)
        callback = self._resolve(extra.pop("callback")) if "callback" in extra else None
        request = Request(url, priority=priority, depth=depth, referrer=referrer,
                          frontier_id=frontier_id, callback=callback)
        for name, value in extra.items():
            setattr(request, name, tuple(value) if isinstance(value, list) else value)
        if live is not None:
            request.callback, request.meta = live.callback, live.meta
        return request


@dataclasses.dataclass(slots=True)
class _Buffer:
    """Frontier writes waiting for the next flush of the store."""

    new: list[tuple[Any, ...]] = dataclasses.field(default_factory=list)
    done: list[int] = dataclasses.field(default_factory=list)
    failed: list[int] = dataclasses.field(default_factory=list)
    dropped: list[int] = dataclasses.field(default_factory=list)
    hosts: set[str] = dataclasses.field(default_factory=set)  # hosts of `new`

    def __bool__(self) -> bool:
        return bool(self.new or self.done or self.failed or self.dropped)

    def __len__(self) -> int:
        return len(self.new) + len(self.done) + len(self.failed) + len(self.dropped)


_DEFAULTS = {f.name: (f.default if f.default is not dataclasses.MISSING else f.default_factory())
             for f in dataclasses.fields(Request) if f.name not in _COLUMNS}


def _extra_fields(request: Request) -> dict[str, Any]:
    """Request fields (other than the columns) that differ from their defaults."""
    extra = {}
    for name, default in _DEFAULTS.items():
        value = getattr(request, name)
        if value != default:
            extra[name] = dict(value) if name == "headers" else value
    return extra
