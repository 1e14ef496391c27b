"""Reader processes: pages parsed and read on the machine's other cores.

The event loop's thread is the crawl's limit: parsing, links, visible text,
metadata, Markdown and hashing cost it more than fetching does. A
`ReaderPool` hands bodies to a few reader processes (`crawler.html.reading`)
over pipes (a length-prefixed pickle each way, read by the loop like any
other stream: no thread of ours in this process) and gets back a
`PageReading`, everything the engine stores of the page but its tree.

A reader that dies (killed, out of memory, a crash in the parser) fails the
pages it held with `ReaderDied` and is replaced; the pipeline tries such a
page once more, then records a `parse` error. `close()` closes the readers'
stdin, which ends them, and kills any that do not end; a reader also ends
when this process dies (its stdin closes), and ignores Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import pickle
import sys
from pathlib import Path
from typing import Any

from crawler.config import CrawlConfig
from crawler.html.reading import HEADER, PageReading, ReadOptions, frame
from crawler.spider import ConfigSpider, Spider
from crawler.urls import DEFAULT_FORM, Canonicalizer

log = logging.getLogger(__name__)

CLOSE_TIMEOUT = 5.0  # seconds a reader gets to end after its stdin closes
_READER = "from crawler.html.reading import main; main()"
AUTO_START_AFTER = 50  # pages read on the loop before the default pool starts


class ReaderDied(Exception):
    """The reader process holding a page ended before answering."""


class _Reader:
    """One reader process, the pages it holds and the task reading its answers."""

    def __init__(self, proc: asyncio.subprocess.Process, options: ReadOptions,
                 on_exit: Any) -> None:
        self.proc = proc
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.dead = False
        assert proc.stdin is not None
        proc.stdin.write(frame(options))
        self._answers = asyncio.create_task(self._read_answers(on_exit))

    async def _read_answers(self, on_exit: Any) -> None:
        assert self.proc.stdout is not None
        stdout = self.proc.stdout
        try:
            while True:
                size = HEADER.unpack(await stdout.readexactly(HEADER.size))[0]
                page_id, answer = _loads(await stdout.readexactly(size))
                future = self.pending.pop(page_id, None)
                if future is not None and not future.done():
                    future.set_result(answer)
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        except Exception:  # an answer that cannot be read: a reader of other code?
            log.exception("a page reader process answered nonsense; ending it")
            self.kill()
        finally:
            # At once, not after its exit status: meanwhile pages would still be sent to it.
            self._fail_all(ReaderDied(f"the page reader process (pid {self.proc.pid}) ended"))
            on_exit(self)
            await _exit_code(self.proc)  # reaped before this task ends

    @property
    def ending(self) -> asyncio.Task[None]:
        """The task that ends with the process (a successor is started before it ends)."""
        return self._answers

    def _fail_all(self, exc: Exception) -> None:
        self.dead = True
        for future in self.pending.values():
            if not future.done():
                future.set_exception(exc)
        self.pending.clear()

    async def read(self, page_id: int, body: bytes, url: str, encoding: str) -> Any:
        assert self.proc.stdin is not None
        if self.dead:
            raise ReaderDied(f"the page reader process (pid {self.proc.pid}) ended")
        future = asyncio.get_running_loop().create_future()
        self.pending[page_id] = future
        try:
            self.proc.stdin.write(frame((page_id, body, url, encoding)))
            await self.proc.stdin.drain()
        except (ConnectionError, OSError, RuntimeError) as exc:
            # Dead now, not once its stdout ends: the page's second try must not come
            # back here (it did, and a page whose reader was killed was a parse error).
            self.dead = True
            if self.pending.pop(page_id, future).done():
                future.exception()  # failed by _fail_all meanwhile: raised below instead
            raise ReaderDied(f"the page reader process (pid {self.proc.pid}) is gone: "
                             f"{exc}") from None
        return await future

    async def close(self) -> None:
        """End the process: stdin closed (it answers what it holds, then exits), killed
        if it lingers."""
        if self.proc.stdin is not None:
            with contextlib.suppress(Exception):
                self.proc.stdin.close()
        try:
            await asyncio.wait_for(asyncio.shield(self._answers), CLOSE_TIMEOUT)
        except TimeoutError:
            self.kill()
            await self._answers

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()


def pool_for(config: CrawlConfig, spider: Spider,
             form: Canonicalizer = DEFAULT_FORM) -> ReaderPool | None:
    """The reader processes `fetch.parse_processes` asks for (None: read on the loop).

    By default one less than the CPUs (at most 2: the SQLite writer thread
    and the web server want a core too), started after the crawl's first
    `AUTO_START_AFTER` pages, so a small crawl never pays for starting them.
    """
    wanted, start_after = config.fetch.parse_processes, 0
    if wanted is None:
        wanted, start_after = min(2, (os.cpu_count() or 1) - 1), AUTO_START_AFTER
    if wanted <= 0:
        return None
    store = config.store
    # The YAML spider's extraction rules run in the reader too (the tree stays there);
    # another spider's callback gets a tree parsed here if it asks for one.
    rules = config.extract if isinstance(spider, ConfigSpider) else ()
    options = ReadOptions(text=store.text, markdown=store.markdown, metadata=store.metadata,
                          schema_items=config.schema_items, extract=rules, form=form)
    return ReaderPool(options, wanted, start_after=start_after)


class ReaderPool:
    """`processes` reader processes, started with `start()` (or by `take()` once
    `start_after` pages were read on the loop), ended with `close()`."""

    def __init__(self, options: ReadOptions, processes: int, *, start_after: int = 0) -> None:
        self.options = options
        self.processes = processes
        self.start_after = start_after
        self.pages = 0  # pages read by the readers
        self.replaced = 0  # readers that died and were replaced
        self._readers: list[_Reader] = []
        self._ids = itertools.count()
        self._closing = False
        self._seen = 0
        self._starting: asyncio.Task[None] | None = None
        self._spawning: set[asyncio.Task[None]] = set()

    @property
    def running(self) -> bool:
        return bool(self._readers) and not self._closing

    def pids(self) -> list[int]:
        return [reader.proc.pid for reader in self._readers]

    def take(self) -> bool:
        """Whether the readers take this page; counts the pages read on the loop
        until they are due, then starts them in the background."""
        if self.running:
            return True
        if self._starting is None and not self._closing:
            self._seen += 1
            if self._seen > self.start_after:
                self._starting = asyncio.get_running_loop().create_task(self.start())
        return False

    async def start(self) -> None:
        """Start the processes; if that fails (no fork, no Python) pages are read on
        the loop, as without the pool."""
        try:
            for _ in range(self.processes - len(self._readers)):
                await self._spawn()
        except (OSError, ValueError) as exc:
            log.warning("cannot start page reader processes (%s); reading pages "
                        "in this process", exc)

    async def _spawn(self) -> None:
        if self._closing:
            return
        # -P: `-c` would put the working directory first on sys.path, before the
        # PYTHONPATH `_child_env` sets, and a `crawler` directory there (another
        # checkout) would read the pages with other code than the crawl's.
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-P", "-c", _READER, stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, env=_child_env())
        if self._closing:  # closed while it started
            proc.kill()
            await proc.wait()
            return
        self._readers.append(_Reader(proc, self.options, self._exited))

    def _exited(self, reader: _Reader) -> None:
        """A reader ended: forget it and, unless the pool is closing, start another."""
        if reader in self._readers:
            self._readers.remove(reader)
        if self._closing:
            return
        self.replaced += 1
        log.warning("a page reader process died (pid %d); starting another", reader.proc.pid)
        task = asyncio.get_running_loop().create_task(self._spawn())
        self._spawning.add(task)
        task.add_done_callback(self._spawning.discard)

    async def read(self, body: bytes, url: str, encoding: str) -> Any:
        """The reader's answer for one page: a PageReading, or (kind, message, traceback).

        Raises ReaderDied when its reader ended first (or none is running)."""
        live = await self._live()
        if not live:
            raise ReaderDied("no page reader process is running")
        reader = min(live, key=lambda r: len(r.pending))
        answer = await reader.read(next(self._ids), body, url, encoding)
        self.pages += 1
        return answer

    async def _live(self) -> list[_Reader]:
        """The readers that take pages; when one died a moment ago and none is left,
        after its successor started (its end, once its pipe closes, starts one)."""
        live = [reader for reader in self._readers if not reader.dead]
        ending = [reader.ending for reader in self._readers if reader.dead]
        if not live and ending:
            await asyncio.wait(ending)
        if not live and self._spawning:
            await asyncio.wait(set(self._spawning))
        return [reader for reader in self._readers if not reader.dead]

    async def close(self) -> None:
        """End every reader; waits for them (bounded), kills the stragglers."""
        self._closing = True
        for task in [*self._spawning, *([self._starting] if self._starting else [])]:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task
        readers, self._readers = list(self._readers), []
        try:
            await asyncio.gather(*(reader.close() for reader in readers))
        finally:
            for reader in readers:  # cancelled on the way: nothing may outlive the crawl
                if reader.proc.returncode is None:
                    reader.kill()


def _loads(data: bytes) -> tuple[int, PageReading | tuple[str, str, str]]:
    return pickle.loads(data)  # type: ignore[no-any-return]


async def _exit_code(proc: asyncio.subprocess.Process) -> int | None:
    try:
        return await asyncio.wait_for(proc.wait(), CLOSE_TIMEOUT)
    except TimeoutError:
        return None


def _child_env() -> dict[str, str]:
    """This process's environment, with this `crawler` package first on the path (a
    crawl run from a checkout that is not the installed one reads with its own code)."""
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(filter(None, (root, env.get("PYTHONPATH"))))
    return env
