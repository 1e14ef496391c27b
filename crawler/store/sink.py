"""The storage seam: the engine hands every record of a crawl to sinks.

The SQLite file (`crawler.store.sqlite.Store`) is the sink every crawl has,
and the one its frontier commits with. Others can sit beside it
(`Crawler(..., sinks=[...])`): a sink that posts items to a service, writes
JSON Lines, or counts something. They see the same records in the same
order, after the SQLite store has numbered the pages; `flush` is called
whenever the SQLite store writes a batch, and at the end of the crawl.

A sink's `write` must not block (buffer, then send in `flush`). An exception
from a sink other than the SQLite store is an `errors` row of kind `sink`,
never the end of the crawl; the SQLite store failing does end it.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable, Sequence
from typing import Protocol

from crawler.store.records import ErrorRecord, Record
from crawler.store.sqlite import Store

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Something that takes a crawl's records."""

    def write(self, record: Record) -> None:
        """Take one record (PageRecord, ItemRecord, ErrorRecord or SitemapUrlRecord)."""

    async def flush(self) -> None:
        """Make what was written durable, or deliver it."""


class Fanout:
    """The SQLite store first, then every other sink; their failures do not end the crawl.

    An exception from another sink becomes an errors row of kind `sink` in
    the SQLite store only (so a broken sink cannot loop on its own errors),
    and `on_failure` hears of it (the crawl counts it).
    """

    def __init__(self, store: Store, others: Sequence[Sink] = (), *,
                 on_failure: Callable[[ErrorRecord], None] | None = None) -> None:
        self.store = store
        self.others = list(others)
        self._on_failure = on_failure

    def write(self, record: Record) -> None:
        self.store.write(record)
        for sink in self.others:
            try:
                sink.write(record)
            except Exception as exc:
                self._failed(sink, record, exc)

    async def maybe_flush(self) -> bool:
        """Flush the store when its batch is due, and the other sinks with it."""
        flushed = await self.store.maybe_flush()
        if flushed:
            await self._flush_others()
        return flushed

    async def flush(self) -> None:
        await self.store.flush()
        await self._flush_others()

    async def _flush_others(self) -> None:
        for sink in self.others:
            try:
                await sink.flush()
            except Exception as exc:
                self._failed(sink, None, exc)

    def _failed(self, sink: Sink, record: Record | None, exc: Exception) -> None:
        log.warning("sink %s failed: %s: %s", type(sink).__name__, type(exc).__name__, exc)
        error = ErrorRecord(url=getattr(record, "url", "") or "", kind="sink",
                            message=f"{type(sink).__name__}: {type(exc).__name__}: {exc}",
                            traceback="".join(traceback.format_exception(exc)))
        self.store.write(error)
        if self._on_failure is not None:
            self._on_failure(error)
