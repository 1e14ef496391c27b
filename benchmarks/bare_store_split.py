"""bare-store split over processes: does the floor rise when no stage shares a GIL?

`bare_store.py` fetches and parses on the event loop and writes from a
thread of the same process. Three other arrangements of the same work, the
same SQL (`Writer.write`, 400-page transactions) and the same parse
(`bare_store.read`), each measured by `throughput.py` as the floor under
"0.7x the bare loop" in that shape:

- ``--split writer`` (`bare-store-proc`): the loop fetches and parses as in
  bare-store; the pages go pickled, 32 a message, to a writer process, where
  a receiver thread unpickles them while SQLite writes.
- ``--split reader`` (`bare-store-reader`): the loop only fetches; each
  body goes to one process that parses it, keeps the seen-set, hands the
  rows to its writer thread and answers with the page's new URLs (a few
  strings), as the crawler's reader process does.
- ``--split reader+writer`` (`bare-store-3`): as ``reader``, with that
  process's writer thread a writer process of its own (three processes).

::

    .venv/bin/python benchmarks/bare_store_split.py --split reader \
        http://127.0.0.1:8765/index.html out.db

Bounded like the bare loop (``--max-pages``, ``--timeout``); prints a one-line
JSON summary.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import queue
import sys
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
from bare_loop import Stats
from bare_store import (
    BACKLOG,
    BareStoringCrawler,
    Page,
    Writer,
    arguments,
    crawl_and_report,
    read,
)
from yarl import URL

CHUNK = 32  # pages (or answers) a pipe message carries at most
_FORK = multiprocessing.get_context("fork")


def send_chunks(items: queue.Queue[Any], conn: Any) -> None:
    """Pickle what `items` holds into `conn`, up to CHUNK a message, until None."""
    done = False
    while not done:
        chunk = [items.get()]
        while len(chunk) < CHUNK and not items.empty():
            chunk.append(items.get())
        if chunk[-1] is None:
            chunk.pop()
            done = True
        if chunk:
            conn.send(chunk)
    conn.send(None)


def receive_chunks(conn: Any, items: queue.Queue[Any]) -> None:
    """Unpickle `conn`'s messages into `items` (bounded: back-pressure), then None."""
    with contextlib.suppress(EOFError):  # the sender died: end as if it had said so
        while (chunk := conn.recv()) is not None:
            items.put(chunk)
    items.put(None)


class Remote:
    """A child process fed through a sender thread; a receiver thread takes its answers
    (lists, to `on_answers`) and at the end its CPU seconds (or its error, a string)."""

    def __init__(self, target: Any, *args: Any) -> None:
        self._recv, self._send = _FORK.Pipe(duplex=False)
        self._answers, answers_send = _FORK.Pipe(duplex=False)
        # Not a daemon: a daemon may not start a process of its own (--split reader+writer).
        self._proc = _FORK.Process(target=target, args=(*args, self._recv, answers_send))
        self.pages: queue.Queue[Any] = queue.Queue()
        self._sender = threading.Thread(target=send_chunks, args=(self.pages, self._send),
                                        daemon=True)
        self._receiver = threading.Thread(target=self._receive, daemon=True)
        self.on_answers: Any = None
        self._report: Any = "no report"
        self.error: str | None = None
        self.cpu = 0.0

    def start(self) -> None:
        self._proc.start()
        self._sender.start()
        self._receiver.start()

    def is_alive(self) -> bool:
        return self._proc.is_alive()

    def _receive(self) -> None:
        with contextlib.suppress(EOFError):
            while True:
                message = self._answers.recv()
                if isinstance(message, list):
                    self.on_answers(message)
                elif message is not None:  # None: the end of the answers
                    self._report = message
                    return

    def finish(self) -> None:
        """Send what is queued, then wait for the process's report."""
        self.pages.put(None)
        self._sender.join()
        self._receiver.join(600)
        self._proc.join()
        if isinstance(self._report, str):
            self.error = self._report
        else:
            self.cpu = self._report


def _write_pages(path: Path, source: Any, report: Any) -> None:
    """`--split writer`'s process: pages in, rows written; reports its CPU."""
    writer = Writer(path)
    chunks: queue.Queue[list[Page] | None] = queue.Queue(maxsize=BACKLOG // CHUNK)
    threading.Thread(target=receive_chunks, args=(source, chunks), daemon=True).start()
    threading.Thread(target=_unchunk, args=(chunks, writer.pages), daemon=True).start()
    writer.run()
    report.send(repr(writer.error) if writer.error is not None else time.process_time())


def _unchunk(chunks: queue.Queue[list[Any] | None], items: queue.Queue[Any]) -> None:
    while (chunk := chunks.get()) is not None:
        for item in chunk:
            items.put(item)
    items.put(None)


def _read_and_write(path: Path, start: str, max_pages: int, own_writer: bool,
                    source: Any, report: Any) -> None:
    """`--split reader`'s process: bodies in, parsed here, rows to the writer thread
    (`--split reader+writer`: to a writer process of its own), each page's new
    same-origin URLs back."""
    writer: Writer | Remote = Remote(_write_pages, path) if own_writer else Writer(path)
    writer.start()
    chunks: queue.Queue[list[Any] | None] = queue.Queue(maxsize=BACKLOG // CHUNK)
    threading.Thread(target=receive_chunks, args=(source, chunks), daemon=True).start()
    answers: queue.Queue[Any] = queue.Queue()
    sender = threading.Thread(target=send_chunks, args=(answers, report), daemon=True)
    sender.start()
    origin = URL(start).origin()
    seen = {start}
    while (chunk := chunks.get()) is not None:
        for page_id, url, status, body, is_html in chunk:
            base = URL(url)
            title, text, rows, follow = read(page_id, base, body) if is_html else (None, "", [], [])
            while writer.pages.qsize() >= BACKLOG and writer.is_alive():
                time.sleep(0.005)
            writer.pages.put((page_id, url, status, title, text, body, rows))
            new = []
            for link in follow:
                target = str(link)
                if target not in seen and len(seen) < max_pages and link.origin() == origin:
                    seen.add(target)
                    new.append(target)
            answers.put((page_id, new))
    writer.finish()
    answers.put(None)
    sender.join()
    report.send(repr(writer.error) if writer.error is not None else time.process_time())


class SplitReaderCrawler(BareStoringCrawler):
    """The loop fetches; the reader process parses, dedupes and stores, and answers."""

    def __init__(self, start: URL, workers: int, max_pages: int, remote: Remote) -> None:
        super().__init__(start, workers, max_pages, remote)  # type: ignore[arg-type]
        self.waiting: dict[int, asyncio.Future[list[str]]] = {}

    async def run(self, timeout: float) -> Stats:
        loop = asyncio.get_running_loop()
        self.writer.on_answers = (  # type: ignore[attr-defined]
            lambda chunk: loop.call_soon_threadsafe(self._resolve, chunk))
        return await super().run(timeout)

    def _resolve(self, chunk: list[tuple[int, list[str]]]) -> None:
        for page_id, new in chunk:
            self.waiting.pop(page_id).set_result(new)

    async def fetch(self, session: aiohttp.ClientSession, url: URL) -> None:
        if (got := await self.get(session, url)) is None:
            return
        page_id, body, status, is_html = got
        while self.writer.pages.qsize() >= BACKLOG and self.writer.is_alive():
            await asyncio.sleep(0.005)
        answer = self.waiting[page_id] = asyncio.get_running_loop().create_future()
        self.writer.pages.put((page_id, str(url), status, body, is_html))
        new = await answer
        self.stats.links += len(new)
        for target in new:
            self.queue.put_nowait(URL(target, encoded=True))


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; exit 1 if any fetch or the writer failed."""
    split = ("--split", {"choices": ("writer", "reader", "reader+writer"), "required": True})
    args = arguments(__doc__, argv, split)
    start = URL(args.start_url)
    if args.split == "writer":
        remote = Remote(_write_pages, args.db)
        crawler = BareStoringCrawler(start, args.workers, args.max_pages, remote)  # type: ignore[arg-type]
    else:
        remote = Remote(_read_and_write, args.db, str(start), args.max_pages,
                        args.split == "reader+writer")
        crawler = SplitReaderCrawler(start, args.workers, args.max_pages, remote)
    remote.start()
    return crawl_and_report(crawler, args.timeout, remote, "bare_store_split")


if __name__ == "__main__":
    sys.exit(main())
