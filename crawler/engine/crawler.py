"""The Crawler: wires the parts of one run together, runs scheduler and workers, ends cleanly.

One scheduler coroutine feeds a bounded queue; N identical workers take a
request, turn it into an `Outcome` through the page pipeline, and settle it
(the page row, errors, items, the links to follow, the frontier state, all
in one place). Nothing a single page does (a broken body, a raising
callback) can end a worker: it is an outcome like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from crawler.cluster.connect import Cluster, joined
from crawler.config import CrawlConfig
from crawler.engine.live import Progress
from crawler.engine.outcome import Failure, Outcome
from crawler.engine.pipeline import Pipeline
from crawler.engine.readers import ReaderPool, pool_for
from crawler.engine.scheduler import Scheduler
from crawler.engine.session import (
    Session,
    form_note,
    frontier_for,
    instantiate,
    keep_cookies,
    open_crawl,
    resolve_config,
    seed_recrawl,
)
from crawler.engine.settle import Settler
from crawler.engine.status import CrawlStatus, Rates, crawl_status
from crawler.engine.worker import Worker
from crawler.errors import StorageError
from crawler.fetch.base import Fetcher, tell_sent
from crawler.fetch.build import build_fetcher
from crawler.frontier.base import Frontier
from crawler.frontier.codec import RequestCodec
from crawler.frontier.windows import Windows
from crawler.hooks import Hook, Hooks
from crawler.models import Request
from crawler.politeness.retries import RetryPolicy
from crawler.politeness.robots import RobotsRules, fetch_robots
from crawler.sitemaps.reader import Sitemaps
from crawler.spider import Spider, page_action
from crawler.stats import CrawlStats
from crawler.store.failures import stopped
from crawler.store.sink import Fanout, Sink
from crawler.store.sqlite import Store

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 10.0  # seconds in-flight requests get to finish after a stop


class Crawler:
    """Runs one crawl. `await Crawler(spider, config).run()` returns its CrawlStats.

    The seams can be given: `fetcher` (default: HTTP with aiohttp; the crawl
    opens and closes it), `frontier` (default: the `frontier` setting, the
    SQLite file or memory), `sinks` (written beside the SQLite file) and
    `hooks` (a `Hooks` or a mapping {event: callable or list}).
    """

    def __init__(self, spider: Spider | type[Spider] | None = None,
                 config: CrawlConfig | None = None, *, output: str | Path | None = None,
                 settings: Mapping[str, Any] | None = None, progress: bool = False,
                 fetcher: Fetcher | None = None, frontier: Frontier | None = None,
                 sinks: Sequence[Sink] = (),
                 hooks: Hooks | Mapping[str, Hook | Sequence[Hook]] | None = None,
                 announce: Callable[[str], None] | None = None) -> None:
        self.config = resolve_config(spider, config, settings)
        self.spider = instantiate(spider, self.config)
        self.output = Path(output) if output is not None else Path(self.config.output_path)
        self.stats = CrawlStats(output=self.output)
        self.hooks = Hooks.of(hooks)
        self.fetcher: Fetcher = fetcher or build_fetcher(
            self.config, interact=page_action(self.spider), on_proxy_failure=self._proxy_failed)
        self.queue: asyncio.Queue[Request] = asyncio.Queue(maxsize=self.config.fetch.concurrency)
        self.show_progress = progress
        # True: the crawl fetches the requests it starts with and discovers nothing
        # (`crawler fetch`), so the live view can show how much of that is done.
        self.fetch_only = False
        self._rates = Rates()
        self._frontier = frontier
        self._durable = frontier is None and self.config.frontier == "sqlite"
        self._sinks = list(sinks)
        self._announce = announce or log.info
        self._retries = RetryPolicy(self.config.fetch, self.config.politeness)
        self._stop_reason: str | None = None
        self._stop_requested = asyncio.Event()
        self._abort = asyncio.Event()
        self._tells_sent = False  # the fetcher tells when each request leaves (in run())
        # Wired in run(), once the database is open.
        self.scheduler: Scheduler | None = None
        self.windows: Windows | None = None
        self._sink: Fanout | None = None
        self._settler: Settler | None = None
        self._pipeline: Pipeline | None = None
        self._sitemaps: Sitemaps | None = None
        # Processes reading pages beside the loop (fetch.parse_processes), in run().
        self.readers: ReaderPool | None = None
        self._cluster: Cluster | None = None
        self._watch: Any = None  # a ClusterWatch, in a distributed crawl

    def stop(self, reason: str = "interrupted") -> None:
        """Ask for a graceful stop: no new dispatches, in-flight requests finish, data flushed."""
        self._stop_reason = self._stop_reason or reason
        if self.scheduler is not None:
            self.scheduler.stop(reason)
        self._stop_requested.set()

    def abort(self) -> None:
        """Stop now: in-flight requests are abandoned (what was stored is still flushed)."""
        self.stop()
        self._abort.set()

    async def run(self) -> CrawlStats:
        """Crawl to the end and return the stats.

        Raises OutputError when the output cannot be written at all (another
        process holds it, an unwritable path) and StorageError, after
        stopping and writing what it could, when writing failed mid-crawl.
        """
        store = Store(self.output)
        store.on_failure = self._storage_failed
        store.on_note = self._announce
        try:
            async with store:
                if store.lock is not None and store.lock.previous is not None:
                    self._announce(store.lock.took_over())
                await self._run(store)
        except StorageError:
            if store.failure is None:
                raise
        if store.failure is not None:
            raise stopped(self.output, store.failure, store.unstored_pages,
                          resumable=self._durable)
        return self.stats

    async def _run(self, store: Store) -> None:
        given = self._frontier is not None  # a frontier passed in wins over the setting
        async with contextlib.nullcontext() if given else joined(
                self.config, RequestCodec.for_spider(self.spider)) as cluster:
            self._cluster = cluster
            session = await open_crawl(store, self.config, self.output, durable=self._durable)
            self.stats.crawl_id = session.crawl_id
            # Asked before it opens: a fetcher that can tell when each request leaves
            # makes the host delays count from then (Scheduler.sent).
            self._tells_sent = tell_sent(self.fetcher, self._sent)
            await self.fetcher.open()
            self.readers = pool_for(self.config, self.spider, session.form)
            try:
                await keep_cookies(store, session.crawl_id, self.fetcher, self.config)
                if self.readers is not None and not self.readers.start_after:
                    await self.readers.start()
                self._wire(store, session)
                await self._start(store, session)
                await self._crawl()
            except BaseException:
                self.stats.status = "failed"
                raise
            finally:
                try:
                    await self._finish(store)
                finally:
                    if self.readers is not None:
                        await self.readers.close()
                await self.fetcher.close()
                tell_sent(self.fetcher, None)

    def _sent(self, request: Request, url: str, at: float) -> None:
        """The fetcher sent `request` (robots.txt too) to `url` at `at`."""
        if self.scheduler is not None:
            self.scheduler.sent(request, url, at)

    def _proxy_failed(self, request: Request, message: str) -> None:
        """A proxy failed on `request` (which goes on through another): an errors row."""
        if self._settler is not None:
            self._settler.error(request, Failure("proxy", message))

    def _storage_failed(self, error: StorageError) -> None:
        """The store could not write: stop dispatching now and abandon what is in flight
        (its requests stay leased, so the next run fetches them)."""
        self.stats.status = "failed"
        self.stop("storage")
        self._abort.set()

    # ---- wiring ----

    def _wire(self, store: Store, session: Session) -> None:
        """Build the parts of this run around the open database; each is given what it uses."""
        config, stats, hooks = self.config, self.stats, self.hooks
        cluster = self._cluster
        frontier = cluster.frontier if cluster else frontier_for(
            self._frontier, config, store, session.crawl_id, self.spider)
        self.windows = windows = Windows(
            frontier, store, window_max=cluster.frontier.window_max if cluster else None)
        self._sink = sink = Fanout(store, self._sinks,
                                         on_failure=lambda e: stats.count_error(e.kind))
        robots = self._robots if config.politeness.robots_txt == "obey" else None
        self.scheduler = scheduler = Scheduler(
            config, windows, self.queue, settle=self._settle, hooks=hooks, robots=robots,
            dropped=stats.dropped, gate=cluster.gate if cluster else None,
            form=session.form, tells_sent=self._tells_sent)
        self._settler = Settler(write=sink.write, frontier_settle=windows.settle,
                                scheduler=scheduler, stats=stats, hooks=hooks,
                                retries=self._retries)
        self._sitemaps = Sitemaps(config, stats.sitemaps, fetcher=self.fetcher,
                                  schedule=scheduler.schedule, settle=self._settle,
                                  write=sink.write, flush=sink.maybe_flush,
                                  retries=self._retries)
        self._pipeline = Pipeline(config, self.fetcher, self.spider, sitemaps=self._sitemaps,
                                  retries=self._retries, hooks=hooks,
                                  observe=scheduler.observe, recrawling=session.recrawling,
                                  form=session.form, readers=self.readers)
        hooks.on_failure = self._settler.hook_failed
        if cluster is not None:
            self._watch = cluster.watch(windows, scheduler, stats)
        if self._stop_reason is not None:  # stop() came before run()
            scheduler.stop(self._stop_reason)

    async def _start(self, store: Store, session: Session) -> None:
        """Take up what the frontier holds (a resumed crawl), then seed it."""
        assert self.windows is not None and self.scheduler is not None
        await seed_recrawl(store, session, self._announce)
        await self.windows.recover()
        if session.resumed is not None:
            previous = session.resumed
            self.scheduler.limits.completed_before = previous["pages"]
            self._announce(f"resuming crawl {self.config.name!r} (#{previous['id']}) in "
                           f"{self.output}: {previous['pages']:,} pages stored, "
                           f"{previous['to_fetch']:,} URLs still to fetch")
            if note := form_note(session, self.config):
                self._announce(note)
        self.hooks.emit("crawl_started", self.stats)

    # ---- running ----

    async def _crawl(self) -> None:
        assert self.scheduler is not None and self._sitemaps is not None
        for request in self.spider.start_requests():
            if self.scheduler.schedule(request) is None:
                self._sitemaps.seed(request.url)
        assert self._pipeline is not None and self._sink is not None
        worker = Worker(self.queue, self.scheduler, self._pipeline, settle=self._settle,
                        sink=self._sink, hooks=self.hooks)
        workers = [asyncio.create_task(worker.run(), name=f"worker-{i}")
                   for i in range(self.config.fetch.concurrency)]
        extras = [asyncio.create_task(self._progress().run())] if self.show_progress else []
        if self._watch is not None:
            extras.append(asyncio.create_task(self._watch.run(), name="cluster watch"))
        try:
            await run_to_end(self.scheduler, self._stop_requested, self._abort)
        finally:
            self.scheduler.close()
            await cancel_all(workers + extras)

    def _settle(self, request: Request, outcome: Outcome) -> None:
        assert self._settler is not None
        self._settler.settle(request, outcome)

    async def _robots(self, host_key: str) -> RobotsRules:
        assert self._sitemaps is not None
        fetch = functools.partial(fetch_robots, self.fetcher, host_key)
        # In a distributed crawl, fetched once for the whole cluster.
        rules = await (self._cluster.robots.rules(host_key, fetch) if self._cluster else fetch())
        self._sitemaps.robots_known(host_key, rules)
        return rules

    def _progress(self) -> Progress:
        return Progress(self.stats, self.status)

    def status(self) -> CrawlStatus:
        """What the crawl is doing and waiting for now (what the live view shows)."""
        scheduler, windows = self.scheduler, self.windows
        if scheduler is None or windows is None:
            return CrawlStatus(queued=0, in_flight=0, retries_waiting=0,
                               waiting_for="opening the database")
        return crawl_status(scheduler, windows, self.stats, self.config,
                            fetch_only=self.fetch_only, rates=self._rates)

    # ---- the end ----

    async def _finish(self, store: Store) -> None:
        stats, scheduler = self.stats, self.scheduler
        if self.windows is not None:
            try:
                await self.windows.close()
            except StorageError:
                pass  # reported once, by run()
            except Exception:  # logged, not raised: the status row must still be written
                log.exception("could not close the frontier")
            stats.dropped["duplicate"] += self.windows.duplicates
        proxies = getattr(self.fetcher, "proxies", None)
        if proxies:
            stats.proxies = proxies.summary()
        stats.stop_reason = (scheduler.stop_reason if scheduler else None) or stats.stop_reason
        if stats.status == "running":
            stats.status = "interrupted" if stats.stop_reason == "interrupted" else "finished"
        stats.duration = time.monotonic() - stats.started
        if self._watch is not None:
            await self._watch.finished()
        self.hooks.emit("crawl_finished", stats)
        with contextlib.suppress(Exception):  # the status row must not hide the real error
            await self.hooks.drain()
            if self._sink is not None:
                await self._sink.flush()
            await store.finish_crawl(stats.status, stats.to_dict())


async def run_to_end(scheduler: Scheduler, stop: asyncio.Event, abort: asyncio.Event) -> None:
    """Run the scheduler to the end; after a stop, give in-flight requests a bounded grace."""
    dispatch = asyncio.create_task(scheduler.run(), name="scheduler")
    stop_wait = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({dispatch, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if not dispatch.done():
            aborted = asyncio.create_task(abort.wait())
            done, _ = await asyncio.wait({dispatch, aborted}, timeout=SHUTDOWN_GRACE,
                                         return_when=asyncio.FIRST_COMPLETED)
            aborted.cancel()
            if not done:
                log.warning("%d requests still in flight after %.0fs; abandoning them",
                            scheduler.in_flight, SHUTDOWN_GRACE)
        if dispatch.done():
            dispatch.result()
    finally:
        for task in (dispatch, stop_wait):
            task.cancel()
        await asyncio.gather(dispatch, stop_wait, return_exceptions=True)


async def cancel_all(tasks: list[asyncio.Task[Any]], *, within: float = 10.0) -> None:
    """Cancel `tasks` and wait for them, but not for ever: a task that swallows its
    cancellation (Python 3.11's wait_for can, inside a client library) is left behind
    with a warning rather than hanging the end of the crawl."""
    for task in tasks:
        task.cancel()
    if not tasks:
        return
    _, pending = await asyncio.wait(tasks, timeout=within)
    for task in pending:
        log.warning("task %s did not stop when cancelled; leaving it", task.get_name())
