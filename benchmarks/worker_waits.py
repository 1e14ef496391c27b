"""What the crawl's workers are waiting on: `crawler run`, with its workers sampled.

Every `--every` seconds a task in the crawl's own event loop walks each
worker's chain of awaited coroutines and counts the innermost few frames.
A share near 100% on one chain is the crawl's bottleneck as the workers see
it (a reader's pipe, the reader's answers, the store's batch, the network)::

    .venv/bin/python benchmarks/worker_waits.py run benchmarks/out/bench.yaml -o /tmp/w.db

Arguments after the script's own are `crawler`'s. Prints the top chains to
stderr when the crawl ends; the crawl itself is unchanged apart from the
sampling (a few microseconds per worker per sample).
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's crawler

from crawler.cli import main
from crawler.engine import worker

EVERY = 0.02  # seconds between samples
DEPTH = 6  # innermost frames kept per chain
waits: Counter[str] = Counter()


def chain(task: asyncio.Task[Any]) -> list[str]:
    """The names of the coroutines `task` is suspended in, outermost first."""
    names = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        code = getattr(awaited, "cr_code", None) or getattr(awaited, "gi_code", None)
        if code is None:  # a Future (or an object that is not a coroutine): the end
            names.append(type(awaited).__name__)
            break
        names.append(code.co_name)
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return names


async def sample(workers: set[asyncio.Task[Any]]) -> None:
    while True:
        await asyncio.sleep(EVERY)
        for task in list(workers):
            if task.done():
                workers.discard(task)
            else:
                waits[" > ".join(chain(task)[-DEPTH:])] += 1


def install() -> None:
    """Wrap Worker.run so each worker's task is known and the sampler runs."""
    run = worker.Worker.run
    workers: set[asyncio.Task[Any]] = set()
    sampler: list[asyncio.Task[None]] = []

    async def sampled_run(self: worker.Worker) -> None:
        task = asyncio.current_task()
        if task is not None:
            workers.add(task)
        if not sampler:
            sampler.append(asyncio.get_running_loop().create_task(sample(workers)))
        await run(self)

    worker.Worker.run = sampled_run  # type: ignore[method-assign]


def report() -> None:
    total = sum(waits.values()) or 1
    print(f"\nworkers sampled {total} times, by what they awaited:", file=sys.stderr)
    for where, count in waits.most_common(12):
        print(f"  {count / total:6.1%}  {where}", file=sys.stderr)


if __name__ == "__main__":
    install()
    try:
        status = main(sys.argv[1:])
    finally:
        report()
    sys.exit(status)
