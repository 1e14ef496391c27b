"""ClusterGate: each host's limits across every process of a crawl, decided in Redis.

`enter` is one Lua script (`lua.ENTER`): it drops in-flight tokens whose
holder died, then lets the request start only if the host has a free place
(its concurrency), its next start time has come (the delay, counted between
the starts of two requests from any process, raised by Crawl-delay and
adaptive throttling as this process sees them) and no Retry-After cools it,
and if the cluster-wide host and URL-pattern budgets allow; then it takes
the place and sets the next start time, atomically. An in-flight token
expires after the fetch's longest possible time, so a process that dies
with requests in flight frees their places.

The delay counts between the starts of two requests, as in one process
(when the fetcher sent the request, or when its fetch began if the fetcher
cannot tell), not between two answers of Redis: `leave` reports when the
request actually started, on Redis's clock (the answer's Redis time plus
what the local monotonic clock measured since the call was sent, so never
earlier than the real start), and ENTER moves the host's next start to at
least that start plus the delay. With a concurrency of 1 no
request enters before that leave, so the lag between an answer and the
fetch (a busy event loop) cannot shorten the gap a server sees.

`limits.max_pages` is a cluster-wide budget taken at entry, like the one
process's dispatch-time budget: a request enters only while the pages stored
(counted by the leave that reports them, in the same script) plus the
requests in flight anywhere are below it.

Two round trips a page (enter, then leave) were a sixth of a node's event
loop on a one-host crawl, so they travel together: the requests of a host
that ask to start, and those that finished, within one turn of the event
loop share one ENTER call, places freed first, then decided in order.

When Redis cannot be reached the gate says "wait a second": dispatch
pauses, nothing is lost, and it goes on when Redis is back.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import os
import time
from dataclasses import dataclass, field

from redis.asyncio import Redis

from crawler import urls
from crawler.cluster import lua
from crawler.cluster.keys import Keys
from crawler.config import CrawlConfig
from crawler.models import SITEMAP, Request
from crawler.politeness.gate import GO, Entry
from crawler.politeness.slots import HostSlot

log = logging.getLogger(__name__)

UNREACHABLE_WAIT = 1.0  # seconds a host waits when Redis could not be asked


@dataclass(frozen=True, slots=True)
class _Leave:
    """A request that finished: its place to free, when it started, whether it stored a page."""

    token: str
    start_ms: int = -1  # on Redis's clock; -1: it never started
    delay_ms: int = 0
    stored: bool = False

    def args(self) -> list[object]:
        return [self.token, self.start_ms, self.delay_ms, int(self.stored)]


@dataclass(frozen=True, slots=True)
class _Held:
    """A request that entered: its token, its host's delay, and the clocks' offset."""

    token: str
    delay_ms: int
    offset_ms: float


@dataclass(slots=True)
class _Turn:
    """One host's next call to Redis: places to free, then requests asking for one."""

    sent: asyncio.Future[None]  # done once the call was made (or failed)
    concurrency: int = 1
    delay_ms: int = 0
    # Redis's time minus the local monotonic time (ms) when the call was sent: a
    # local time plus this is never earlier, on Redis's clock, than it really was.
    offset_ms: float = 0.0
    leaving: list[_Leave] = field(default_factory=list)
    asking: list[tuple[str, list[object], asyncio.Future[Entry]]] = field(
        default_factory=list)


class ClusterGate:
    """A `HostGate` shared through Redis."""

    counts_budgets = True

    def __init__(self, client: Redis, keys: Keys, config: CrawlConfig) -> None:
        self.keys = keys
        self._redis = client
        self._config = config
        fetch = config.fetch
        # The longest a request can hold its place: the total timeout, plus a margin.
        self._hold_ms = int((fetch.timeout + fetch.connect_timeout + 30) * 1000)
        self._enter = client.register_script(lua.ENTER)
        self._cool = client.register_script(lua.COOL)
        self._tokens = itertools.count()
        self._node = f"{os.getpid()}-{id(self):x}"
        max_pages = config.limits.max_pages
        self._max_pages = -1 if max_pages is None else max_pages
        self._held: dict[int, _Held] = {}  # id(request) → what its leave reports
        self._turns: dict[str, _Turn] = {}  # host → its call being gathered
        # Leaves whose call failed: sent again with the host's next call (a leave
        # counts once in Redis however often it is sent).
        self._unsent: dict[str, list[_Leave]] = {}
        # Pages this process's leaves stored: counted by Redis, and sent but not
        # answered yet (or to be sent again). ClusterWatch subtracts both from the
        # cluster's count to learn what the other processes stored.
        self.pages_counted = 0
        self.pages_pending = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._failing = False

    async def enter(self, request: Request, host: str, slot: HostSlot) -> Entry:
        token = f"{self._node}-{next(self._tokens)}"
        turn = self._turn(host)
        turn.concurrency, turn.delay_ms = slot.concurrency, int(slot.delay * 1000)
        answer: asyncio.Future[Entry] = asyncio.get_running_loop().create_future()
        turn.asking.append((token, self._budgets(request, host), answer))
        entry = await answer  # cancelled: the place it may have taken is freed (_answer)
        if entry is GO:
            self._held[id(request)] = _Held(token, turn.delay_ms, turn.offset_ms)
        return entry

    async def leave(self, request: Request, host: str, *, started: float | None = None,
                    stored: bool = False) -> None:
        held = self._held.pop(id(request), None)
        if held is None:
            return
        start_ms = -1 if started is None else math.ceil(held.offset_ms + started * 1000)
        turn = self._turn(host)
        turn.leaving.append(_Leave(held.token, start_ms, held.delay_ms, stored))
        self.pages_pending += stored
        await asyncio.shield(turn.sent)  # never raises: a failed call is logged

    def _turn(self, host: str) -> _Turn:
        """The call to Redis this turn of the event loop makes for `host` (started once)."""
        turn = self._turns.get(host)
        if turn is None:
            turn = self._turns[host] = _Turn(asyncio.get_running_loop().create_future())
            turn.leaving.extend(self._unsent.pop(host, ()))
            task = asyncio.create_task(self._send(host, turn), name=f"gate {host}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return turn

    async def _send(self, host: str, turn: _Turn) -> None:
        """One ENTER for everything `host`'s workers asked or finished in this turn."""
        found: list[object] | None = None
        try:
            await asyncio.sleep(0)  # the workers woken in this turn of the loop join in
            del self._turns[host]
            args: list[object] = [self.keys.prefix, host, turn.concurrency, turn.delay_ms,
                                  self._hold_ms, self._max_pages, len(turn.leaving)]
            for leave in turn.leaving:
                args += leave.args()
            for token, budgets, _ in turn.asking:
                args += [token, *budgets]
            sent = time.monotonic()
            found = await self._enter(args=args)
            turn.offset_ms = int(found[0]) - sent * 1000
            self._failing = False
        except Exception as exc:  # places taken are freed when their tokens expire
            self._unreachable(exc)
        finally:
            if self._turns.get(host) is turn:  # cancelled before it was sent
                del self._turns[host]
            stored = sum(leave.stored for leave in turn.leaving)
            if found is None:  # sent again with the host's next call (or the next poll)
                # Redis may have run the script and lost only the answer (a connection
                # dropped mid-call): a place it gave the askers would stay taken until
                # its token expired, minutes for a host of concurrency 1. Leaving a
                # token that never entered changes nothing, so free them all.
                self._unsent.setdefault(host, []).extend(
                    [*turn.leaving, *(_Leave(token) for token, _, _ in turn.asking)])
            else:
                self.pages_pending -= stored
                self.pages_counted += int(found[1])
            for i, (token, _, answer) in enumerate(turn.asking):
                self._answer(host, token, answer,
                             found[2 + 2 * i: 4 + 2 * i] if found else None)
            turn.sent.set_result(None)

    def _answer(self, host: str, token: str, answer: asyncio.Future[Entry],
                found: list[object] | None) -> None:
        if found is None:
            entry = Entry(wait=UNREACHABLE_WAIT)
        elif int(found[0]) == 1:  # type: ignore[call-overload]
            entry = Entry(wait=int(found[1]) / 1000)  # type: ignore[call-overload]
        elif int(found[0]) == 2:  # type: ignore[call-overload]
            detail = found[1]
            entry = Entry(refused=detail.decode() if isinstance(detail, bytes) else str(detail))
        else:
            entry = GO
        if not answer.done():
            answer.set_result(entry)
        elif entry is GO:  # its worker is gone (the crawl stops): free the place
            self._turn(host).leaving.append(_Leave(token))

    async def send_unsent(self) -> None:
        """Send the leaves whose call failed now, not with their host's next request.

        A host with nothing left to ask would otherwise keep its places taken
        and its pages uncounted (`max_pages`, `crawler status`) until its
        tokens expire. `ClusterWatch` calls this at each poll, and at the end.
        """
        for turn in [self._turn(host) for host in list(self._unsent)]:
            await asyncio.shield(turn.sent)  # never raises: a failed call is logged

    def cool(self, host: str, seconds: float) -> None:
        task = asyncio.create_task(self._cool_now(host, seconds), name=f"cool {host}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _cool_now(self, host: str, seconds: float) -> None:
        try:
            await self._cool(args=[self.keys.prefix, host, int(seconds * 1000)])
        except Exception as exc:
            self._unreachable(exc)

    def _budgets(self, request: Request, host: str) -> list[object]:
        """[host budget, pattern, pattern budget] for ENTER (-1 and '': none apply)."""
        limits = self._config.limits
        if request.tries or request.kind == SITEMAP:  # counted once, and never sitemaps
            return [-1, "", -1]
        host_budget = -1 if limits.max_urls_per_host is None else limits.max_urls_per_host
        path, query = urls.path_and_query(request.url)
        if not query or limits.max_urls_per_pattern is None:
            return [host_budget, "", -1]
        keys = "&".join(sorted({pair.partition("=")[0] for pair in query.split("&")}))
        return [host_budget, f"{host}{path}?{keys}", limits.max_urls_per_pattern]

    def _unreachable(self, exc: Exception) -> None:
        if not self._failing:
            self._failing = True
            log.warning("cannot reach Redis for host limits (%s: %s); dispatch waits",
                        type(exc).__name__, exc)
