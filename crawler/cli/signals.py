"""Ctrl-C and SIGTERM around a coroutine of the CLI: the first stops gracefully, a second aborts."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def with_signals(work: Awaitable[T], *, stop: Callable[[], None],
                       abort: Callable[[], None]) -> T:
    """Await `work`; SIGINT/SIGTERM call `stop` once, a second SIGINT calls `abort`."""
    loop = asyncio.get_running_loop()
    interrupts = 0

    def on_signal(signum: int) -> None:
        nonlocal interrupts
        interrupts += 1
        if interrupts == 1:
            print("\nstopping: finishing in-flight requests (Ctrl-C again to abort)",
                  file=sys.stderr, flush=True)
            stop()
        elif signum == signal.SIGINT:
            abort()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        return await work
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
