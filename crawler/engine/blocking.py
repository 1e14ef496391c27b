"""Running a crawl from synchronous code, even where an event loop is already running.

`crawler.run(...)` in a Jupyter notebook is called while the notebook's own
loop runs, where `asyncio.run` refuses ("cannot be called from a running
event loop") and leaves the coroutine it was given un-awaited. `run_sync`
runs the coroutine on a new loop in a worker thread instead and blocks until
it ends; the coroutine is made in that thread, so none is ever left
un-awaited. Outside a loop it is plain `asyncio.run`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def in_running_loop() -> bool:
    """Whether this thread is inside a running event loop (a notebook cell, async code)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def run_sync(make: Callable[[], Coroutine[Any, Any, T]], *,
             stop: Callable[[], None] | None = None,
             abort: Callable[[], None] | None = None) -> T:
    """Run the coroutine `make()` returns to its end and return its result.

    Inside a running loop it runs on its own loop in a thread; a
    KeyboardInterrupt meanwhile (a notebook's "interrupt") calls `stop` on
    that loop and waits for the graceful end, a second one calls `abort`.
    """
    if not in_running_loop():
        return asyncio.run(make())
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> T:
        loops.append(asyncio.get_running_loop())
        return await make()

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="crawler") as pool:
        future = pool.submit(lambda: asyncio.run(main()))  # made and awaited in the thread
        interrupts = 0
        while True:
            try:
                return future.result()
            except KeyboardInterrupt:
                interrupts += 1
                action = stop if interrupts == 1 else abort
                if action is None or not loops or loops[0].is_closed():
                    raise
                loops[0].call_soon_threadsafe(action)
