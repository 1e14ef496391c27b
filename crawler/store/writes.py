"""The batches a store has taken and not yet committed, and waiting until there are none.

`Store.maybe_flush` waits here with a full buffer while a batch is being
written, instead of taking the buffer to queue it behind the write lock: a
writer slower than the crawl then slows the crawl down, and memory holds one
batch being written and one filling, not a queue of them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class Writes:
    """Counts the batches taken and not yet committed (or rolled back)."""

    def __init__(self) -> None:
        self._taken = 0
        self._none = asyncio.Event()  # set while no batch is taken
        self._none.set()

    @property
    def busy(self) -> bool:
        return self._taken > 0

    async def done(self) -> None:
        """Return once no batch is being written (at once if none is)."""
        await self._none.wait()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Around taking a batch and committing it."""
        self._taken += 1
        self._none.clear()
        try:
            yield
        finally:
            self._taken -= 1
            if not self._taken:
                self._none.set()
