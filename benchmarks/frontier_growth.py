"""The storage side of a long crawl, without the network: does a batch cost more as the file grows?

Replays what ``long_crawl.py``'s crawl asks of the store and the SQLite
frontier, through the real ``Store`` and ``Windows``: pages of ~2 KB of text
with 52 links each (50 new children, home, parent), popped from the
frontier's windows in its order, settled ``done`` and flushed in batches of
400 like the engine does. No HTTP and no parsing, so the figures are the
writer's own, and much less noisy on a shared machine than a crawl. Prints,
per ``--window`` pages, the wall and CPU (user, kernel) seconds per 1,000
pages; the ratio last/first is the storage part of issue 10's bar::

    .venv/bin/python benchmarks/frontier_growth.py --pages 100000
    .venv/bin/python benchmarks/frontier_growth.py --pages 20000 --window 2000 --json g.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path

import aiosqlite.core

from crawler.frontier.sqlite import SqliteFrontier
from crawler.frontier.windows import Windows
from crawler.models import Request
from crawler.store.records import PageRecord, utc_now
from crawler.store.sqlite import Store

HOST = "http://127.0.0.1:8000"
WORDS = [f"w{i}" for i in range(800)]


# (statement kind) -> [wall s, writer-thread CPU s] in the current window, with --statements
TIMES: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0])


def time_statements() -> None:
    """Wrap aiosqlite's queued calls to add up each statement's wall and thread CPU time."""
    original = aiosqlite.core.Connection._execute

    async def timed(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        kind = (args[0] if args and isinstance(args[0], str) else fn.__name__)[:38]

        def run():  # type: ignore[no-untyped-def]
            wall, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                TIMES[kind][0] += time.perf_counter() - wall
                TIMES[kind][1] += time.thread_time() - cpu
        return await original(self, run)

    aiosqlite.core.Connection._execute = timed  # type: ignore[method-assign]


def print_statements(window: int) -> None:
    """ms per 1,000 pages of each statement kind (wall / writer CPU), then reset."""
    for kind, (wall, cpu) in sorted(TIMES.items(), key=lambda kv: -kv[1][0])[:9]:
        print(f"           {wall * 1e6 / window:>7.0f} {cpu * 1e6 / window:>7.0f}  {kind}")
    TIMES.clear()


def text(rng: random.Random) -> str:
    return " ".join(rng.choices(WORDS, k=300))


def page(request: Request, rng: random.Random) -> tuple[PageRecord, list[str]]:
    """The page of `request` and its 52 link targets (50 new)."""
    path = request.url[len(HOST):].rstrip("/") or "/p"
    children = [f"{HOST}{path}/{i}" for i in range(50)]
    parent = HOST + (path.rsplit("/", 1)[0] or "/")
    targets = [*children, HOST + "/", parent]
    record = PageRecord(url=request.url, final_url=request.url, status=200, depth=request.depth,
                        headers='{"content-type": "text/html"}', size=6000,
                        fetched_at=utc_now(), content_type="text/html", encoding="utf-8",
                        title="Catalogue " + path, text=text(rng), referrer=request.referrer,
                        links=[(t, t[len(HOST):], "anchor words") for t in targets])
    return record, targets


async def replay(db: Path, pages: int, window: int, statements: bool) -> list[dict[str, float]]:
    rng = random.Random(1)
    curve: list[dict[str, float]] = []
    async with Store(db) as store:
        crawl_id = await store.start_crawl("growth", {})
        windows = Windows(SqliteFrontier(store, crawl_id), store)
        windows.add(HOST, Request(HOST + "/"))
        await store.flush()
        done, mark, cpu_mark = 0, time.perf_counter(), os.times()
        while done < pages:
            request = windows.pop(HOST)
            if request is None:
                await asyncio.sleep(0)
                continue
            record, targets = page(request, rng)
            store.write(record)
            for target in targets:
                windows.add(HOST, Request(target, depth=request.depth + 1, referrer=request.url))
            windows.settle(request, "done")
            done += 1
            await store.maybe_flush()
            if done % window == 0:
                now, cpu = time.perf_counter(), os.times()
                per_k = 1000 / window
                curve.append({"pages": done, "wall_ms": (now - mark) * per_k * 1000,
                              "user_ms": (cpu.user - cpu_mark.user) * per_k * 1000,
                              "sys_ms": (cpu.system - cpu_mark.system) * per_k * 1000,
                              "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})
                print(f"{done:>8} {curve[-1]['wall_ms']:>8.0f} {curve[-1]['user_ms']:>8.0f} "
                      f"{curve[-1]['sys_ms']:>8.0f} {curve[-1]['rss_mb']:>7.0f}", flush=True)
                if statements:
                    print_statements(window)
                mark, cpu_mark = now, cpu
        await windows.close()
    return curve


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pages", type=int, default=100_000)
    p.add_argument("--window", type=int)
    p.add_argument("--db", type=Path, default=Path("/tmp/frontier-growth.db"))
    p.add_argument("--json", type=Path)
    p.add_argument("--statements", action="store_true",
                   help="also each statement's wall and writer-thread CPU ms per 1,000 pages")
    args = p.parse_args(argv)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{args.db}{suffix}").unlink(missing_ok=True)
    print(f"{'pages':>8} {'wall':>8} {'user':>8} {'kernel':>8} {'RSS MB':>7}"
          "   (ms per 1,000 pages)")
    if args.statements:
        time_statements()
    curve = asyncio.run(replay(args.db, args.pages, args.window or max(1, args.pages // 10),
                               args.statements))
    ratio = curve[-1]["wall_ms"] / curve[0]["wall_ms"]
    print(f"wall per page, last/first window: {ratio:.2f}x; file "
          f"{args.db.stat().st_size / 2**20:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps({"pages": args.pages, "curve": curve}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
