"""The engine's side of a frontier: windows of leased requests, and the current batch.

The scheduler asks synchronous questions (has this host work? the next
request of this host, please) thousands of times a second, and a frontier
on disk or across the network cannot answer them one by one. `Windows` can:

- *Windows.* Each host has a window of requests leased from the frontier.
  When it runs half empty, a background task leases the next ones;
  `on_available(host)` tells the scheduler when they arrive, or that the
  host turned out to be empty. All windows together hold at most
  `WINDOW_TOTAL` requests, 4 to 1,024 per host.
- *A batch.* `add` and `settle` only buffer. The buffer is a part of the
  store's batch (`Store.add_part`): taken together with the pages, and
  handed to the frontier inside their transaction when the frontier
  `shares_store` (SQLite), or right after it commits (any other).
- *A cache of recent URLs* (two generations of 32k) drops most repeats
  (navigation links) before they cost the frontier anything; the frontier's
  own dedupe catches the rest, counted in `duplicates`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from crawler.errors import StorageError
from crawler.frontier.base import Frontier, State
from crawler.frontier.outbox import Outbox
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
HAND_OVER_GRACE = 30.0  # seconds a closing process keeps trying an unreachable frontier
MAX_LEASE_BACKOFF = 10.0


@dataclasses.dataclass(slots=True)
class _Batch:
    """Frontier writes waiting for the next flush of the store."""

    new: list[tuple[str, Request]] = dataclasses.field(default_factory=list)
    settled: list[tuple[Request, State]] = dataclasses.field(default_factory=list)
    hosts: set[str] = dataclasses.field(default_factory=set)  # hosts of `new`
    added: int = 0  # how many of `new` the frontier took as new
    added_done: bool = False  # `new` was handed over (the outbox retries only the rest)

    def __bool__(self) -> bool:
        return bool(self.new or self.settled)


class Windows:
    """A frontier as the scheduler sees it: synchronous, per host, batched behind."""

    def __init__(self, frontier: Frontier, store: Store, *,
                 window_max: int | None = None) -> None:
        self.frontier = frontier
        # A frontier shared by several processes wants small windows: a request in
        # this process's window is one no other process can take.
        self._window_max = window_max or WINDOW_MAX
        self.on_available: Callable[[str], None] | None = None
        self._store = store
        self._windows: dict[str, deque[Request]] = {}
        self._in_windows = 0
        self._on_disk: set[str] = set()    # hosts that may have queued requests (or buffered)
        self._dirty: set[str] = set()      # hosts with adds not yet handed over
        self._refilling: set[str] = set()
        self._writing: Counter[str] = Counter()  # hosts with adds in a flush under way
        self._queued = 0  # requests known to be queued in the frontier (for progress)
        self._low_water = WINDOW_MIN  # refill a window this small (half the current size)
        self._tasks: set[asyncio.Task[None]] = set()
        self._recent_new: set[str] = set()
        self._recent_old: set[str] = set()
        self._duplicates = 0
        self._batch = _Batch()
        self._outbox = Outbox(frontier, self._delivered)  # for a frontier not in the store
        self._remote_busy = False  # a shared frontier has work this process has not seen
        self._lease_failures = 0
        store.add_part(self)

    # ---- what the scheduler asks ----

    @property
    def duplicates(self) -> int:
        """Adds the frontier found to be duplicates after the cache let them through."""
        return self._duplicates

    def seen(self, url: str) -> bool:
        """True when `url` is certainly known (a cheap check); False promises nothing."""
        return url in self._recent_new or url in self._recent_old

    def add(self, host: str, request: Request) -> bool:
        """Buffer a new request for `host`; False when the cache knows it already."""
        if not request.dont_filter:
            if self.seen(request.url):
                return False
            self._remember(request.url)
        self._batch.new.append((host, request))
        self._dirty.add(host)
        self._on_disk.add(host)
        return True

    def pop(self, host: str) -> Request | None:
        """The next request of `host` from its window (None: none in memory right now)."""
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
        """Give a popped request back (a retry that came due, a stop): first in line."""
        window = self._windows.setdefault(host, deque())
        window.appendleft(request)
        self._in_windows += 1

    def settle(self, request: Request, state: State) -> None:
        """Record the end of a popped request, with the batch its page (if any) is in."""
        self._batch.settled.append((request, state))

    def pending(self, host: str | None = None) -> int:
        """> 0 exactly while requests wait (for `host`, or for any) or may still arrive."""
        if host is None:
            return (self._in_windows + len(self._on_disk) + len(self._refilling)
                    + len(self._outbox) + self._remote_busy)
        window = self._windows.get(host)
        return len(window or ()) + (host in self._on_disk or host in self._refilling)

    def host_queue(self, host: str) -> tuple[int, bool]:
        """(requests of `host` in memory, whether more may wait in the frontier)."""
        return len(self._windows.get(host) or ()), host in self._on_disk

    def size(self) -> int:
        """About how many requests wait (for progress reports)."""
        return self._in_windows + self._queued + len(self._batch.new)

    async def hand_over(self) -> None:
        """Write the current batch now if it holds adds or settles (a cluster is waiting to
        see them: without pages arriving, the store would not flush it)."""
        if self._batch:
            await self._store.flush()

    def remote_work(self, hosts: Mapping[str, int], *, busy: bool) -> None:
        """A shared frontier's view: hosts with queued requests, and whether any process
        still has work (requests queued or leased anywhere)."""
        self._remote_busy = busy
        self._queued = sum(hosts.values())
        for host in hosts:
            if host not in self._on_disk and host not in self._windows:
                self._on_disk.add(host)
                if self.on_available is not None:
                    self.on_available(host)

    # ---- lifecycle ----

    async def recover(self) -> int:
        """Take up what the frontier holds already (a resumed crawl); returns leases recovered."""
        recovered = await self.frontier.recover()
        for host, count in (await self.frontier.hosts()).items():
            self._on_disk.add(host)
            self._queued += count
        return recovered

    async def close(self) -> None:
        """Let window loads finish, write the last batch, give back what is still leased.

        Loads are awaited, not cancelled: a lease cancelled mid-query leaves
        its UPDATE ... RETURNING unfinished on the connection, and then no
        transaction can commit ("SQL statements in progress").
        """
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._store.flush()
        lost = await self._outbox.close(within=HAND_OVER_GRACE)
        if lost:
            log.warning("%d batch(es) of discovered URLs and settled requests could not be "
                        "handed to the frontier; their pages' leases will run out and other "
                        "processes fetch them again", lost)
        await self.frontier.close()

    # ---- a part of the store's batch ----

    def take(self) -> _Batch | None:
        if not self._batch:
            return None
        batch, self._batch = self._batch, _Batch()
        batch.hosts, self._dirty = self._dirty, set()
        self._writing.update(batch.hosts)
        return batch

    def writes(self, batch: _Batch) -> list[Awaitable[Any]]:
        if not self.frontier.shares_store:
            return []
        return self._hand_over(batch)

    async def committed(self, batch: _Batch, results: list[Any]) -> None:
        if not self.frontier.shares_store:
            await self._outbox.send(batch)  # delivered (now or later) through _delivered
            return
        if batch.new:
            batch.added = results[0]
        self._delivered(batch)

    def _delivered(self, batch: _Batch) -> None:
        self._writing.subtract(batch.hosts)
        self._duplicates += len(batch.new) - batch.added
        self._queued += batch.added

    def _hand_over(self, batch: _Batch) -> list[Awaitable[Any]]:
        """The frontier's add and settle of this batch, adds first (see frontier.outbox)."""
        calls: list[Awaitable[Any]] = []
        if batch.new:
            calls.append(self.frontier.add(batch.new))
        if batch.settled:
            calls.append(self.frontier.settle(batch.settled))
        return calls

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
            for _ in range(3):  # new requests may keep arriving while we flush; bounded
                loaded = await self._lease(host)
                if loaded or host not in self._dirty:
                    break
                await self._store.flush()  # the frontier has none: hand over the buffered ones
            # Empty for now, unless adds are buffered or being handed over.
            if not loaded and host not in self._dirty and self._writing[host] <= 0:
                self._on_disk.discard(host)
        except StorageError:
            pass  # the store told the crawl, which stops; this host's rows stay on disk
        except Exception as exc:  # a frontier elsewhere, unreachable: the host waits
            await self._lease_failed(host, exc)
        finally:
            self._refilling.discard(host)
            if self.on_available is not None:
                self.on_available(host)

    async def _lease_failed(self, host: str, exc: Exception) -> None:
        """Wait before `host` may ask again, longer each time in a row (never a hot loop)."""
        self._lease_failures += 1
        if self._lease_failures == 1:
            log.warning("cannot lease requests of %s from the frontier (%s: %s); dispatch "
                        "waits and tries again", host, type(exc).__name__, exc)
        await asyncio.sleep(min(MAX_LEASE_BACKOFF, 0.25 * 2 ** min(self._lease_failures, 6)))

    async def _lease(self, host: str) -> int:
        size = self._window_size()
        self._low_water = size // 2
        leased = await self.frontier.lease(host, size)
        self._lease_failures = 0
        if not leased:
            return 0
        self._windows.setdefault(host, deque()).extend(leased)
        self._in_windows += len(leased)
        self._queued = max(0, self._queued - len(leased))
        return len(leased)

    def _window_size(self) -> int:
        """Per-host window: share WINDOW_TOTAL among active hosts, within [MIN, MAX]."""
        # An upper bound on active hosts (one may be in both), without building a set.
        active = max(1, len(self._on_disk) + len(self._windows))
        return max(WINDOW_MIN, min(self._window_max, WINDOW_TOTAL // active))

    def _remember(self, url: str) -> None:
        """Two generations of recent URLs: bounded, and O(1) to age out."""
        recent = self._recent_new
        recent.add(url)
        if len(recent) >= RECENT_URLS // 2:
            self._recent_old, self._recent_new = recent, set()
