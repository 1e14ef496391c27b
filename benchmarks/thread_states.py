"""How well a crawl keeps the cores busy: which of its threads are runnable, sampled.

Serves the throughput benchmark's site with nginx on 127.0.0.1, runs
`crawler run` on it, and every `--every` seconds reads the scheduler state of
each of the crawl's threads and of its reader processes from `/proc`. Prints
the share of samples with 0, 1, 2, 3... of them runnable, each one's busy
share, and, of the samples where only one was runnable, which. On two cores
any sample with fewer than two runnable is a core the crawl left idle; the
one runnable alone is the stage the others were waiting for::

    .venv/bin/python benchmarks/throughput.py --only ours --runs 1   # makes the site
    .venv/bin/python benchmarks/thread_states.py

Linux only (`/proc`); standard library only. The sampling costs a few % of
one core (this process), so a run is slightly slower than an unsampled one.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import nginx
import throughput

SITE = throughput.OUT_DIR / "site-10000"


def state(stat_path: str) -> str | None:
    """The one-letter scheduler state in a /proc stat file (R: running or runnable)."""
    try:
        with open(stat_path) as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2]


def runnable(pid: int, names: dict[str, str]) -> list[str] | None:
    """The crawl's threads and reader processes runnable now (None: it has ended)."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    found = []
    for tid in tids:
        if state(f"/proc/{pid}/task/{tid}/stat") != "R":
            continue
        if tid == str(pid):
            found.append("event loop")
            continue
        if tid not in names:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                names[tid] = f"thread {tid} ({f.read().strip()})"
        found.append(names[tid])
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = f.read().split()
    except OSError:
        children = []
    found += [f"reader {child}" for child in children if state(f"/proc/{child}/stat") == "R"]
    return found


def sample(command: list[str], every: float, timeout: float) -> tuple[int, Counter[int],
                                                                      Counter[str], Counter[str]]:
    """Run `command`, sampling until it ends: (samples, by count, busy, alone)."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    by_count: Counter[int] = Counter()
    busy: Counter[str] = Counter()
    alone: Counter[str] = Counter()
    names: dict[str, str] = {}
    samples, deadline = 0, time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(every)
            found = runnable(proc.pid, names)
            if found is None:
                break
            samples += 1
            by_count[len(found)] += 1
            busy.update(found)
            if len(found) <= 1:
                alone[found[0] if found else "none"] += 1
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate()
    if proc.returncode != 0:
        sys.exit(f"the crawl failed ({proc.returncode}): {err.decode()[-500:]}")
    return samples, by_count, busy, alone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=float, default=0.005, help="seconds between samples")
    parser.add_argument("--timeout", type=float, default=300, help="seconds allowed")
    parser.add_argument("--port", type=int, default=throughput.DEFAULT_PORT)
    args = parser.parse_args()
    if not (SITE / "index.html").exists():
        sys.exit(f"no site in {SITE}: run benchmarks/throughput.py once first")
    script = Path(sys.executable).parent / "crawler"
    prefix = [str(script)] if script.exists() else [sys.executable, "-m", "crawler"]
    with nginx.NginxServer(SITE, args.port), tempfile.TemporaryDirectory() as tmp:
        config = throughput.write_our_config(f"http://127.0.0.1:{args.port}/index.html")
        command = [*prefix, "run", str(config), "-o", str(Path(tmp) / "crawl.db")]
        samples, by_count, busy, alone = sample(command, args.every, args.timeout)
    if not samples:
        sys.exit("no samples: the crawl ended at once")
    print(f"{samples} samples every {args.every * 1000:g} ms")
    print("runnable at once:  " + "  ".join(f"{n}: {by_count[n] / samples:.0%}"
                                             for n in sorted(by_count)))
    print("busy:              " + "  ".join(f"{name} {n / samples:.0%}"
                                             for name, n in busy.most_common()))
    print("alone (or none):   " + "  ".join(f"{name} {n / samples:.0%}"
                                             for name, n in alone.most_common()))


if __name__ == "__main__":
    main()
