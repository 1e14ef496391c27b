"""Long-crawl benchmark (issue 10): does the cost per page stay flat as the frontier grows?

nginx on 127.0.0.1 serves the endless site of ``frontier_memory.py`` (one
template rewritten by ``sub_filter``: every page links 50 new URLs), so 5
million URLs cost one 6 KB file on disk and the server is not the bottleneck
(its CPU is measured and printed beside ours). Our crawler runs once with
``store.body: false`` and 64 workers to ``--pages`` pages (default 100,000:
~5,000,000 URLs in the frontier), in a subprocess that is killed at
``--timeout``. Meanwhile its RSS and CPU (user and kernel) are sampled from
``/proc`` every half second; afterwards pages/s per ``--window`` pages
(default a tenth of the crawl) comes from ``pages.fetched_at``. The bar of
issue 10: pages/s over the last window at least 0.8x the first, peak RSS
under 150 MB::

    .venv/bin/python benchmarks/long_crawl.py                        # 100,000 pages
    .venv/bin/python benchmarks/long_crawl.py --pages 20000 --window 2000
    .venv/bin/python benchmarks/long_crawl.py --baseline main       # the code at main
    .venv/bin/python benchmarks/long_crawl.py --json out.json --plot curve.png

``--plot`` draws the curve with matplotlib from a throwaway venv in
``/tmp/crawler-bench-plot-venv`` (created the first time; never a
dependency of the crawler). Exit status: 0 the bar was met, 1 the run failed
(exit status, timeout, fewer pages than asked), 2 the bar was missed.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

import frontier_memory
import nginx
import throughput

OUT_DIR = throughput.OUT_DIR / "long"
PLOT_VENV = Path("/tmp/crawler-bench-plot-venv")
BAR_RATIO = 0.8
BAR_MB = 150.0

CONFIG = """\
name: long-crawl
start_urls: ["{start_url}"]
politeness: {{robots_txt: ignore, per_host_concurrency: 64, per_host_delay: 0}}
fetch: {{concurrency: 64}}
limits: {{max_pages: {pages}}}
store: {{body: false}}
"""


# ---------------------------------------------------------------- sampling


class Sampler(threading.Thread):
    """RSS and CPU of one process every `interval` seconds, read from /proc."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, float, float, float]] = []  # t, rss MB, user s, sys s
        self.stopped = threading.Event()
        self.started_at = time.monotonic()
        self.epoch = time.time()  # the wall clock at started_at, to line samples up with pages

    def run(self) -> None:
        tick = os.sysconf("SC_CLK_TCK")
        while not self.stopped.wait(self.interval):
            try:
                status = Path(f"/proc/{self.pid}/status").read_text()
                stat = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                return
            rss = next((int(line.split()[1]) for line in status.splitlines()
                        if line.startswith("VmRSS:")), 0)
            self.samples.append((time.monotonic() - self.started_at, rss / 1024,
                                 int(stat[11]) / tick, int(stat[12]) / tick))


# ---------------------------------------------------------------- the run


def command(args: argparse.Namespace, config: Path, db: Path) -> list[str]:
    """Our crawler (or the code at ``--baseline``) with ``-s`` settings."""
    if args.baseline:
        cmd = throughput.baseline_command(args.baseline, config)("", db)
    else:
        cmd = throughput.our_command(config)("", db)
    return [*args.wrap.split(), *cmd, *(arg for kv in args.setting for arg in ("-s", kv))]


def crawl(cmd: list[str], log_path: Path, timeout: float) -> dict[str, object]:
    """Run the crawl; wall time, exit, peak RSS (wait4) and the /proc samples."""
    with log_path.open("wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
        sampler = Sampler(proc.pid)
        sampler.start()
        timer = threading.Timer(timeout, os.killpg, (proc.pid, signal.SIGKILL))
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            sampler.stopped.set()
        wall = time.perf_counter() - started
    return {"wall_s": wall, "exit_code": os.waitstatus_to_exitcode(status),
            "timed_out": wall >= timeout, "maxrss_mb": usage.ru_maxrss / 1024,
            "user_s": usage.ru_utime, "sys_s": usage.ru_stime, "samples": sampler.samples,
            "epoch": sampler.epoch}


def cpu_at(samples: list[tuple[float, float, float, float]], t: float) -> tuple[float, float]:
    """(user, kernel) CPU seconds at `t` seconds into the run, from the nearest earlier sample."""
    user = kernel = 0.0
    for at, _rss, u, k in samples:
        if at > t:
            break
        user, kernel = u, k
    return user, kernel


def windows(db: Path, size: int, samples: list[tuple[float, float, float, float]],
            epoch: float) -> list[dict[str, float]]:
    """Pages/s, and CPU ms per page (user, kernel), over each `size` consecutive pages."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        stamps = [datetime.fromisoformat(row[0].replace("Z", "+00:00")).timestamp()
                  for row in conn.execute("SELECT fetched_at FROM pages ORDER BY fetched_at")]
    out = []
    for start in range(0, len(stamps) - size + 1, size):
        first, last = stamps[start], stamps[start + size - 1]
        seconds = max(last - first, 1e-3)
        (u0, k0), (u1, k1) = cpu_at(samples, first - epoch), cpu_at(samples, last - epoch)
        out.append({"pages": start + size, "pages_per_s": (size - 1) / seconds,
                    "at_s": last - epoch, "user_ms_per_page": (u1 - u0) * 1000 / size,
                    "kernel_ms_per_page": (k1 - k0) * 1000 / size})
    return out


def file_figures(db: Path) -> dict[str, object]:
    """Rows and sizes: the file, the frontier, and each table and index (dbstat)."""
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        figures: dict[str, object] = {
            "file_mb": db.stat().st_size / 2**20,
            "pages": conn.execute("SELECT count(*) FROM pages").fetchone()[0],
            "frontier_rows": conn.execute("SELECT count(*) FROM frontier").fetchone()[0],
        }
        try:
            sizes = conn.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name "
                                 "ORDER BY 2 DESC LIMIT 12").fetchall()
            figures["objects_mb"] = {name: size / 2**20 for name, size in sizes}
        except sqlite3.Error:
            pass
    return figures


def verdict(curve: list[dict[str, float]], maxrss_mb: float) -> dict[str, object]:
    """Last window over the first, and peak RSS, against the bar."""
    ratio = curve[-1]["pages_per_s"] / curve[0]["pages_per_s"] if len(curve) > 1 else None
    return {"first_pages_per_s": curve[0]["pages_per_s"] if curve else None,
            "last_pages_per_s": curve[-1]["pages_per_s"] if curve else None,
            "ratio": ratio, "ratio_bar_met": ratio is not None and ratio >= BAR_RATIO,
            "maxrss_mb": maxrss_mb, "rss_bar_met": maxrss_mb < BAR_MB}


# ---------------------------------------------------------------- reporting


def report(result: dict[str, object]) -> None:
    """The curve, the file, the verdict."""
    run, v = result["run"], result["verdict"]
    print(f"{'pages':>8} {'pages/s':>8} {'at s':>7} {'user ms/page':>12} {'kernel':>7}")
    for w in result["curve"]:
        print(f"{w['pages']:>8} {w['pages_per_s']:>8.0f} {w['at_s']:>7.0f} "
              f"{w['user_ms_per_page']:>12.2f} {w['kernel_ms_per_page']:>7.2f}")
    print(f"wall {run['wall_s']:.0f}s, CPU user {run['user_s']:.0f}s + kernel {run['sys_s']:.0f}s, "
          f"nginx {result['server_cpu_s']:.0f}s; peak RSS {run['maxrss_mb']:.0f} MB")
    files = result.get("file") or {}
    if files:
        print(f"file {files['file_mb']:.0f} MB, {files['frontier_rows']} frontier rows; "
              + ", ".join(f"{k} {mb:.0f} MB" for k, mb in list(files.get("objects_mb", {})
                                                               .items())[:6]))
    if v["ratio"] is not None:
        print(f"last/first window: {v['ratio']:.2f}x "
              f"(bar >= {BAR_RATIO}: {'pass' if v['ratio_bar_met'] else 'FAIL'}); "
              f"peak RSS {v['maxrss_mb']:.0f} MB "
              f"(bar < {BAR_MB:.0f}: {'pass' if v['rss_bar_met'] else 'FAIL'})")


PLOT = r"""
import json, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
r = json.load(open(sys.argv[1]))
c = r["curve"]
fig, (ax, low) = plt.subplots(2, 1, figsize=(7, 4.6), dpi=100, sharex=True,
                              gridspec_kw={"height_ratios": [3, 2]})
xs = [w["pages"] / 1000 for w in c]
ax.plot(xs, [w["pages_per_s"] for w in c], marker="o", label="pages/s")
ax.set_ylabel("pages/s per window"); ax.set_ylim(bottom=0); ax.grid(alpha=.3)
cpu = ax.twinx()
cpu.plot(xs, [w["user_ms_per_page"] + w["kernel_ms_per_page"] for w in c], marker="s",
         color="tab:red", label="CPU ms per page (user + kernel)")
cpu.plot(xs, [w["kernel_ms_per_page"] for w in c], marker=".", color="tab:orange",
         label="of which kernel")
cpu.set_ylabel("CPU ms per page"); cpu.set_ylim(bottom=0)
h1, l1 = ax.get_legend_handles_labels(); h2, l2 = cpu.get_legend_handles_labels()
ax.legend(h1 + h2, l1 + l2, loc="lower left", fontsize=8)
ax.set_title(r.get("title", "long crawl"), fontsize=9)
# RSS samples placed on the page axis through the windows' times (linear between them)
s = r["run"]["samples"]
knots = [(0.0, 0.0)] + [(w["at_s"], w["pages"] / 1000) for w in c]
def pages_at(t):
    for (t0, p0), (t1, p1) in zip(knots, knots[1:]):
        if t <= t1:
            return p0 + (p1 - p0) * (t - t0) / max(t1 - t0, 1e-9)
    return knots[-1][1]
low.plot([pages_at(t) for t, *_ in s], [m for _, m, *_ in s], color="grey", lw=.8)
low.axhline(150, color="tab:red", ls=":", lw=.8)
low.set_ylabel("RSS MB"); low.set_ylim(0, 160); low.grid(alpha=.3)
low.set_xlabel("pages crawled (thousands)")
fig.tight_layout(); fig.savefig(sys.argv[2])
"""


def plot(json_path: Path, png: Path) -> None:
    """Draw the curve with matplotlib from a throwaway venv (created if needed)."""
    python = PLOT_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(PLOT_VENV)], check=True, timeout=300)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "matplotlib"], check=True,
                       timeout=900)
    subprocess.run([str(python), "-c", PLOT, str(json_path), str(png)], check=True, timeout=120)


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pages", type=int, default=100_000, help="pages to crawl (default 100000)")
    p.add_argument("--window", type=int, help="pages per window (default pages/10)")
    p.add_argument("--timeout", type=float, default=3600,
                   help="seconds before the crawl is killed (default 3600)")
    p.add_argument("-s", "--setting", action="append", default=[], metavar="KEY=VALUE",
                   help="passed to the crawler as -s KEY=VALUE (repeatable)")
    p.add_argument("--baseline", metavar="REF", help="run the crawler as it was at git REF")
    p.add_argument("--wrap", default="", metavar="COMMAND",
                   help="run the crawler under this (e.g. 'py-spy record -f raw -o p.txt --')")
    p.add_argument("--json", type=Path, help="write the result as JSON here")
    p.add_argument("--plot", type=Path, help="draw the curve into this PNG")
    p.add_argument("--title", help="the plot's title")
    p.add_argument("--keep-db", action="store_true", help="keep the crawl's SQLite file")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, object]:
    """Serve the site, crawl it once, measure."""
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    frontier_memory.check_sub_filter(nginx.ensure_nginx())
    site = frontier_memory.write_site(OUT_DIR / "site", 1)
    db, log = OUT_DIR / "long.db", OUT_DIR / "long.log"
    throughput.remove_db(db)
    with nginx.NginxServer(site, nginx.free_port(), http_extra=frontier_memory.HTTP_CONF,
                           server_extra=frontier_memory.SERVER_CONF) as server:
        config = OUT_DIR / "long.yaml"
        config.write_text(CONFIG.format(start_url=server.url("/"), pages=args.pages))
        print(f"crawling {server.url('/')} to {args.pages} pages "
              f"({frontier_memory.LINKS_PER_PAGE} new links a page)", flush=True)
        server_before = server.cpu_seconds()
        measured = crawl(command(args, config, db), log, args.timeout)
        server_cpu = server.cpu_seconds() - server_before
        requests, non_200, refetched = frontier_memory.log_figures(throughput.settled_log(server))
    size = args.window or max(1, args.pages // 10)
    curve = windows(db, size, measured["samples"], measured["epoch"]) if db.exists() else []
    result = {"params": {"pages": args.pages, "settings": args.setting,
                         "baseline": args.baseline, "log": str(log)},
              "machine": throughput.machine_info(), "run": measured, "server_cpu_s": server_cpu,
              "server": {"requests": requests, "non_200": non_200, "refetched": refetched},
              "curve": curve, "file": file_figures(db) if db.exists() else {},
              "verdict": verdict(curve, measured["maxrss_mb"]),
              "title": args.title or f"{args.pages:,} pages, store.body false, 64 workers"}
    if not args.keep_db:
        throughput.remove_db(db)
    return result


def main(argv: list[str] | None = None) -> int:
    """Crawl, report, exit 0 / 1 / 2."""
    args = parse_args(argv)
    result = run(args)
    report(result)
    json_path = args.json or OUT_DIR / "long.json"
    json_path.write_text(json.dumps(result, indent=1) + "\n")
    if args.plot:
        plot(json_path, args.plot)
    run_, v = result["run"], result["verdict"]
    stored = (result["file"] or {}).get("pages", 0)
    if run_["exit_code"] != 0 or run_["timed_out"] or stored < args.pages:
        print(f"!!! the crawl failed: exit {run_['exit_code']}, {stored} pages stored "
              f"(log: {result['params']['log']})")
        return 1
    return 0 if v["ratio_bar_met"] and v["rss_bar_met"] else 2


if __name__ == "__main__":
    sys.exit(main())
