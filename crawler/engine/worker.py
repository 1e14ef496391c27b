"""A worker: take a request, turn it into its outcome, settle it; never ended by a page.

    request = await queue.get()
    may it start, cluster-wide?  (wait: back in line; a spent budget: refused)
    outcome = await pipeline.run(request)
    settle(request, outcome)      # everything the outcome means, in one place
    await sink.maybe_flush()      # a batch when it is due (backpressure)
    finally: scheduler.finished(request); queue.task_done()

N identical workers share the queue the scheduler fills. A bug of ours in a
stage is an `internal` outcome for that request; only a storage failure
(the crawl is stopping) or cancellation gets past a worker.
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import Callable
from typing import Protocol

from crawler.engine.outcome import Failure, Outcome, over_budget
from crawler.engine.pipeline import Pipeline
from crawler.engine.scheduler import Scheduler
from crawler.errors import StorageError
from crawler.hooks import Hooks
from crawler.models import Request

log = logging.getLogger(__name__)


class Flushes(Protocol):
    async def maybe_flush(self) -> bool: ...


class Worker:
    """One of the crawl's N workers; `run()` until cancelled."""

    def __init__(self, queue: asyncio.Queue[Request], scheduler: Scheduler, pipeline: Pipeline,
                 *, settle: Callable[[Request, Outcome], None], sink: Flushes,
                 hooks: Hooks) -> None:
        self.queue = queue
        self.scheduler = scheduler
        self.pipeline = pipeline
        self.settle = settle
        self.sink = sink
        self.hooks = hooks

    async def run(self) -> None:
        while True:
            request = await self.queue.get()
            stored = False
            try:
                stored = await self.handle(request)
            except asyncio.CancelledError:
                raise
            except StorageError:
                pass  # the store told the crawl, which is stopping
            except Exception:  # a bug of ours while settling: one request, not the crawl
                log.exception("could not settle %s", request.url)
            finally:
                self.scheduler.finished(request, stored=stored)
                self.queue.task_done()

    async def handle(self, request: Request) -> bool:
        """One request, start to end; True when it stored a page towards max_pages."""
        scheduler = self.scheduler
        entry = await scheduler.enter(request)  # cluster-wide host limits (one process: go)
        if entry.wait is not None:
            scheduler.bounce(request, entry.wait)
            return False
        if entry.refused is not None:
            self.settle(request, over_budget(entry.refused))
            return False
        started = scheduler.started(request)
        outcome: Outcome | None = None
        try:
            outcome = await self.outcome(request)
        finally:
            await scheduler.leave(request, started=started,
                                  stored=outcome is not None and outcome.counts)
        self.settle(request, outcome)
        stored = outcome.counts
        # Its response and parsed tree must not live on while a batch is written or
        # while this worker waits for its next request (64 workers: ~30 MB measured).
        del outcome
        await self.sink.maybe_flush()
        await self.hooks.pace()
        return stored

    async def outcome(self, request: Request) -> Outcome:
        try:
            return await self.pipeline.run(request)
        except (asyncio.CancelledError, StorageError):  # a sitemap's flush can fail too
            raise
        except Exception as exc:  # a bug of ours must not end the crawl
            log.exception("internal error on %s", request.url)
            return Outcome("failed", errors=[Failure(
                "internal", f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc())])
