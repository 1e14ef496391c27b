"""Hooks: plain callables, sync or async, called at the events of a crawl.

    crawler = Crawler(BookSpider)
    crawler.hooks.item.append(lambda item, response: print(item.data))
    await crawler.run()

or `crawl(BookSpider, hooks={"item": post_to_webhook})`. The events and what
each hook is called with:

| event | arguments |
|---|---|
| crawl_started | CrawlStats (crawl_id and output are set) |
| crawl_finished | CrawlStats (final) |
| request_scheduled | Request (accepted into the frontier; its URL is canonical) |
| request_dropped | url, reason (the `dropped` counter it was counted under) |
| response_received | Response (before it is parsed; also for redirects and errors) |
| page_stored | PageRecord (handed to storage, with its page id; committed within 2 s) |
| item | Item, Response |
| error | ErrorRecord |

A sync hook runs inline, so keep it quick; an async hook runs as a task, and
the crawl waits for them at its end (and when more than 1,000 are running,
so a slow webhook slows the crawl instead of filling memory). An exception
in a hook is an `errors` row of kind `hook`, never the end of the crawl.
"""

from __future__ import annotations

import asyncio
import difflib
import inspect
import logging
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from crawler.errors import CrawlerError

log = logging.getLogger(__name__)

Hook = Callable[..., Any]
# Called with (event, hook, exception, formatted traceback, the event's arguments).
FailureSink = Callable[[str, Hook, BaseException, str, tuple[Any, ...]], None]

MAX_RUNNING = 1000  # async hook calls in flight before the crawl waits for some


@dataclass(slots=True, eq=False)
class Hooks:
    """One list of callables per event; append to the lists to add hooks."""

    crawl_started: list[Hook] = field(default_factory=list)
    crawl_finished: list[Hook] = field(default_factory=list)
    request_scheduled: list[Hook] = field(default_factory=list)
    request_dropped: list[Hook] = field(default_factory=list)
    response_received: list[Hook] = field(default_factory=list)
    page_stored: list[Hook] = field(default_factory=list)
    item: list[Hook] = field(default_factory=list)
    error: list[Hook] = field(default_factory=list)
    on_failure: FailureSink | None = field(default=None, repr=False)
    _running: set[asyncio.Future[Any]] = field(default_factory=set, repr=False)

    @classmethod
    def of(cls, given: Hooks | Mapping[str, Hook | Iterable[Hook]] | None) -> Hooks:
        """Hooks from a mapping {event: callable or list of callables} (or as they are)."""
        if isinstance(given, Hooks):
            return given
        hooks = cls()
        for event, value in (given or {}).items():
            getattr(hooks, _event(event)).extend([value] if callable(value) else value)
        return hooks

    def emit(self, event: str, *args: Any) -> None:
        """Call every hook of `event`; never raises."""
        for hook in getattr(self, event):
            try:
                result = hook(*args)
            except Exception as exc:
                self._failed(event, hook, exc, args)
                continue
            if inspect.isawaitable(result):
                task = asyncio.ensure_future(result)
                self._running.add(task)
                task.add_done_callback(lambda t, e=event, h=hook, a=args: self._done(t, e, h, a))

    async def pace(self) -> None:
        """Wait while too many async hook calls are running (backpressure)."""
        while len(self._running) > MAX_RUNNING:
            await asyncio.wait(self._running, return_when=asyncio.FIRST_COMPLETED)

    async def drain(self) -> None:
        """Wait for every async hook call, including those they started."""
        while self._running:
            await asyncio.wait(set(self._running))

    def _done(self, task: asyncio.Future[Any], event: str, hook: Hook,
              args: tuple[Any, ...]) -> None:
        self._running.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._failed(event, hook, exc, args)

    def _failed(self, event: str, hook: Hook, exc: BaseException,
                args: tuple[Any, ...]) -> None:
        text = "".join(traceback.format_exception(exc))
        if self.on_failure is None:
            log.error("%s hook %s failed:\n%s", event, name_of(hook), text)
        else:
            self.on_failure(event, hook, exc, text, args)


EVENTS = tuple(f.name for f in fields(Hooks) if not f.name.startswith("_")
               and f.name != "on_failure")


def name_of(hook: Hook) -> str:
    return getattr(hook, "__qualname__", None) or repr(hook)


def _event(name: str) -> str:
    if name in EVENTS:
        return name
    close = difflib.get_close_matches(name, EVENTS, n=1)
    hint = f"did you mean {close[0]!r}?" if close else "events: " + ", ".join(EVENTS)
    raise CrawlerError(f"unknown hook event {name!r} ({hint})")
