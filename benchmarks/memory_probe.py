"""Where a crawl's memory is when it stops: tracemalloc and object counts, one-off.

Runs ``crawler run ARGS...`` in this process with tracemalloc on, and when the
scheduler is first asked to stop (``max_pages``: the frontier is at its
largest) prints RSS, what tracemalloc traces (Python allocations, by source
line), and the commonest GC-tracked object types. Nothing in ``crawler/``
changes: ``Scheduler.stop`` is wrapped at run time. tracemalloc makes the crawl
several times slower and adds its own memory, so read the RSS from
``frontier_memory.py``, and the shares from here::

    .venv/bin/python benchmarks/memory_probe.py benchmarks/out/memory/ours-20000.yaml \\
        -o /tmp/probe.db -q
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

from crawler import cli
from crawler.engine.scheduler import Scheduler

TOP = 12


def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB, from /proc/self/status."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines()
                  if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def report(scheduler: Scheduler) -> None:
    """Print RSS, the frontier's size, tracemalloc's top lines and the commonest objects."""
    rss, peak = rss_mb()
    traced, _ = tracemalloc.get_traced_memory()
    frontier = scheduler.frontier
    print(f"\n== at stop: RSS {rss:.0f} MB (peak {peak:.0f}), Python allocations traced "
          f"{traced / 2**20:.0f} MB; pending {frontier.pending()}, "
          f"queued about {frontier.size()}", file=sys.stderr)
    snapshot = tracemalloc.take_snapshot()
    for key in ("lineno", "filename"):
        print(f"\n-- tracemalloc top {TOP} by {key}", file=sys.stderr)
        for stat in snapshot.statistics(key)[:TOP]:
            print(f"{stat.size / 2**20:8.1f} MB {stat.count:>9} blocks  {stat.traceback}",
                  file=sys.stderr)
    del snapshot
    types = Counter(type(o).__name__ for o in gc.get_objects())
    print(f"\n-- GC-tracked objects: {sum(types.values())}; top {TOP}", file=sys.stderr)
    for name, count in types.most_common(TOP):
        print(f"{count:>10}  {name}", file=sys.stderr)


def install() -> None:
    """Wrap ``Scheduler.stop`` so the first stop of a crawl reports first."""
    original = Scheduler.stop
    done: set[int] = set()

    def stop(self: Scheduler, reason: str) -> Any:
        if id(self) not in done:
            done.add(id(self))
            report(self)
        return original(self, reason)

    Scheduler.stop = stop  # type: ignore[method-assign]


def main(argv: list[str]) -> int:
    """``crawler run ARGV`` under tracemalloc, reporting at the first stop."""
    tracemalloc.start(1)
    install()
    return cli.main(["run", *argv])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
