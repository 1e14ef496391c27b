"""How well a crawl keeps the cores busy: which of its threads are runnable, sampled.

Serves the throughput benchmark's site with nginx on 127.0.0.1, runs
`crawler run` on it, and every `--every` seconds reads the scheduler state of
each of the crawl's threads and of its reader processes from `/proc`. Prints
the share of samples with 0, 1, 2, 3... of them runnable, each one's busy
share, and, of the samples where only one was runnable, which. On two cores
any sample with fewer than two runnable is a core the crawl left idle; the
one runnable alone is the stage the others were waiting for. Last, the CPU
each of them used, per page stored (from the same samples)::

    .venv/bin/python benchmarks/thread_states.py

Linux only (`/proc`); standard library only. The sampling costs a few % of
one core (this process), so a run is slightly slower than an unsampled one.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import nginx
import throughput

PAGES = 10000  # the throughput benchmark's site, generated here when missing


TICK = os.sysconf("SC_CLK_TCK")


def stat(stat_path: str) -> tuple[str, float] | None:
    """(the one-letter scheduler state, R: running or runnable; CPU seconds so far)."""
    try:
        with open(stat_path) as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def runnable(pid: int, names: dict[str, str], cpu: dict[str, float]) -> list[str] | None:
    """The crawl's threads and reader processes runnable now (None: it has ended); each
    one's CPU seconds so far go into `cpu`."""
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = f.read().split()
    except OSError:
        children = []
    found = []
    for tid in tids:
        if tid not in names:
            try:
                with open(f"/proc/{pid}/task/{tid}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            names[tid] = "event loop" if tid == str(pid) else f"thread {tid} ({comm})"
        found += _note(f"/proc/{pid}/task/{tid}/stat", names[tid], cpu)
    for child in children:
        found += _note(f"/proc/{child}/stat", f"reader {child}", cpu)
    return found


def _note(stat_path: str, name: str, cpu: dict[str, float]) -> list[str]:
    """[name] if runnable; its CPU so far into `cpu`."""
    read = stat(stat_path)
    if read is None:
        return []
    cpu[name] = read[1]
    return [name] if read[0] == "R" else []


def sample(command: list[str], every: float, timeout: float
           ) -> tuple[int, Counter[int], Counter[str], Counter[str], dict[str, float]]:
    """Run `command`, sampling until it ends: (samples, by count, busy, alone, CPU s)."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    by_count: Counter[int] = Counter()
    busy: Counter[str] = Counter()
    alone: Counter[str] = Counter()
    names: dict[str, str] = {}
    cpu: dict[str, float] = {}
    samples, deadline = 0, time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(every)
            found = runnable(proc.pid, names, cpu)
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
    return samples, by_count, busy, alone, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--every", type=float, default=0.005, help="seconds between samples")
    parser.add_argument("--timeout", type=float, default=300, help="seconds allowed")
    parser.add_argument("--port", type=int, default=throughput.DEFAULT_PORT)
    args = parser.parse_args()
    # The site's pages hold absolute links to the port it was generated for: served
    # on another one, the crawl retried dead connections and measured nothing useful.
    site, port = throughput.prepare_site(argparse.Namespace(port=args.port, pages=PAGES, seed=1))
    script = Path(sys.executable).parent / "crawler"
    prefix = [str(script)] if script.exists() else [sys.executable, "-m", "crawler"]
    with nginx.NginxServer(site, port), tempfile.TemporaryDirectory() as tmp:
        config = throughput.write_our_config(f"http://127.0.0.1:{port}/index.html")
        command = [*prefix, "run", str(config), "-o", str(Path(tmp) / "crawl.db")]
        samples, by_count, busy, alone, cpu = sample(command, args.every, args.timeout)
        with sqlite3.connect(Path(tmp) / "crawl.db") as con:
            pages = con.execute("SELECT count(*) FROM pages").fetchone()[0]
    if not samples:
        sys.exit("no samples: the crawl ended at once")
    print(f"{samples} samples every {args.every * 1000:g} ms")
    print("runnable at once:  " + "  ".join(f"{n}: {by_count[n] / samples:.0%}"
                                             for n in sorted(by_count)))
    print("busy:              " + "  ".join(f"{name} {n / samples:.0%}"
                                             for name, n in busy.most_common()))
    print("alone (or none):   " + "  ".join(f"{name} {n / samples:.0%}"
                                             for name, n in alone.most_common()))
    # As of the last sample: a thread's last few ms after it are not counted.
    print(f"CPU-ms a page ({pages:,} pages): " + "  ".join(
        f"{name} {seconds * 1000 / max(pages, 1):.2f}"
        for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]) if seconds >= 0.05))


if __name__ == "__main__":
    main()
