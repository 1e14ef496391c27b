"""How long does parsing one huge page block the event loop?

Documentation sites serve 2-3 MB pages. This builds a 3 MB page, then runs the
crawler's own per-page work on it (parse_page: the tree and every link; then
visible_text) while a ticker task measures how late the event loop wakes it
(the loop lag): inline on the loop, through asyncio.to_thread (as the engine
does for pages above fetch.parse_in_thread_above when it reads on the loop),
and in a reader process (fetch.parse_processes: the loop only sends the body
and unpickles the answer, which also has the metadata).

    .venv/bin/python benchmarks/loop_lag.py
"""

from __future__ import annotations

import asyncio
import statistics
import time

from crawler.engine.readers import ReaderPool
from crawler.html.parser import parse_page, visible_text
from crawler.html.reading import ReadOptions

TICK = 0.005  # the ticker asks to wake every 5 ms


def huge_page(size: int = 3 * 1024 * 1024) -> bytes:
    """An API-reference-like page: sections of prose, code and many links."""
    prose = "Lorem ipsum dolor sit amet. " * 20
    section = (
        "<section><h2 id='s{n}'>function_{n}(arg, *, option=None)</h2>"
        "<p>Returns the thing for <code>arg</code>; see "
        "<a href='/ref/{m}.html#s{m}'>function_{m}</a> and "
        "<a href='../guide/{n}.html'>the guide</a>. " + prose + "</p>"
        "<pre><code>" + "result = function_{n}(value, option=True)\n" * 3 + "</code></pre>"
        "</section>"
    )
    parts, total, n = [], 0, 0
    while total < size:
        chunk = section.format(n=n, m=(n * 7) % 5000)
        parts.append(chunk)
        total += len(chunk)
        n += 1
    return ("<html><head><title>API reference</title></head><body><main>" + "".join(parts) +
            "</main></body></html>").encode()


def work(body: bytes) -> int:
    page = parse_page(body, "https://docs.example.org/ref/index.html")
    return len(page.links) + len(visible_text(page.tree))


async def ticker(lags: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        asked = time.perf_counter()
        await asyncio.sleep(TICK)
        lags.append(time.perf_counter() - asked - TICK)


async def measure(body: bytes, where: str, pool: ReaderPool) -> tuple[float, float, float]:
    lags: list[float] = []
    stop = asyncio.Event()
    task = asyncio.create_task(ticker(lags, stop))
    await asyncio.sleep(0.05)
    started = time.perf_counter()
    if where == "in a thread":
        await asyncio.to_thread(work, body)
    elif where == "in a reader":
        await pool.read(body, "https://docs.example.org/ref/index.html", "utf-8")
    else:
        work(body)
    took = time.perf_counter() - started
    await asyncio.sleep(0.05)
    stop.set()
    await task
    return took, max(lags), statistics.median(lags)


async def main() -> None:
    body = huge_page()
    print(f"page: {len(body) / 1e6:.1f} MB")
    pool = ReaderPool(ReadOptions(), 1)
    await pool.start()
    try:
        for where in ("on the loop", "in a thread", "in a reader") * 2:
            took, worst, median = await measure(body, where, pool)
            print(f"{where:12s} work {took * 1000:6.0f} ms   max loop lag "
                  f"{worst * 1000:6.1f} ms   median lag {median * 1000:5.2f} ms")
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
