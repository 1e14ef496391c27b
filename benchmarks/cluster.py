"""Cluster benchmark: 1 node against 2 nodes sharing a Redis frontier, beside scrapy-redis.

On the throughput benchmark's site (``--pages`` pages, nginx on 127.0.0.1),
each round runs, one after the other:

- ``local``: one ``crawler run`` with its usual SQLite frontier (the reference:
  what sharing through Redis costs one process);
- ``1-node``: one ``crawler run ... --frontier redis://127.0.0.1:PORT/0 -o shard-1.db``;
- ``2-nodes``: two of them at once, ``-o shard-1.db`` and ``-o shard-2.db``;
- ``scrapy-redis``: two Scrapy processes sharing scrapy-redis's scheduler and
  dupefilter (``scrapy_redis_spider.py``, in a throwaway venv under /tmp).

Every Redis run gets its own redis-server on a free loopback port, stopped
after the run. Measured per run: pages/s (pages / seconds from the spawn to
the last process's exit, and to the last request nginx saw), CPU-ms per page
of the crawler processes (and of redis-server, apart), peak RSS per process,
Redis ``used_memory`` at the end. Checked per run: nginx's access log has
every page exactly once (scrapy-redis's duplicates and misses are reported,
not failed); our shards are merged with ``crawler merge`` and the merged file
must hold one row per page. Rounds alternate because the machine is shared::

    .venv/bin/python benchmarks/cluster.py                       # 10,000 pages, 3 rounds
    .venv/bin/python benchmarks/cluster.py --runs 1 --pages 1000 --only 1-node 2-nodes
    .venv/bin/python benchmarks/cluster.py --json out.json

Exit status: 0 every run correct and 2 nodes at least ``--bar`` (1.5) times
the pages/s of 1 node; 1 a run of ours failed a check; 2 the bar was missed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType

import nginx
import sitegen
import throughput as tp
from redis import Redis

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
WORK_DIR = OUT_DIR / "cluster"
SCRAPY_REDIS_VENV = Path("/tmp/crawler-bench-scrapy-redis-venv")
DEFAULT_PORT = 8811
VARIANTS = ("local", "1-node", "2-nodes", "scrapy-redis")
CRAWL_NAME = "bench"


# ---------------------------------------------------------------- redis-server


class RedisProcess:
    """A redis-server on a free loopback port, in a temporary directory, for one run."""

    def __init__(self) -> None:
        self.port = nginx.free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="crawler-bench-redis-"))
        self.proc: subprocess.Popen[bytes] | None = None
        self.client: Redis | None = None
        self.empty_memory = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def __enter__(self) -> RedisProcess:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.tmp), "--loglevel", "warning"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self.client = Redis(host="127.0.0.1", port=self.port, socket_timeout=10)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.client.ping()
                break
            except Exception as exc:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    self.__exit__(None, None, None)
                    raise RuntimeError(f"redis-server did not start on port {self.port}") from exc
                time.sleep(0.05)
        self.empty_memory = self.memory()["used_memory"]
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self.client is not None:
            self.client.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def memory(self) -> dict[str, int]:
        """used_memory and used_memory_peak, in bytes."""
        assert self.client is not None
        info = self.client.info("memory")
        return {"used_memory": int(info["used_memory"]),
                "used_memory_peak": int(info["used_memory_peak"])}

    def cpu_seconds(self) -> float:
        return nginx.process_cpu_seconds(self.proc.pid) if self.proc else 0.0


# ---------------------------------------------------------------- running processes


@dataclass
class Group:
    """Several processes started together: each one's wall, CPU, peak RSS and exit code."""

    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    rss_mb: list[float] = field(default_factory=list)
    exit_codes: list[int] = field(default_factory=list)
    started_at: float = 0.0  # time.time() at the spawn
    timed_out: bool = False


def run_group(commands: list[list[str]], logs: list[Path], timeout: float) -> Group:
    """Start every command at once, reap each with wait4; kill them all past `timeout`."""
    group = Group(started_at=time.time())
    procs: list[subprocess.Popen[bytes]] = []
    results: dict[int, tuple[float, int, os.rusage]] = {}
    started = time.perf_counter()

    def reap(proc: subprocess.Popen[bytes]) -> None:
        with contextlib.suppress(ChildProcessError):  # reaped already, after a kill
            _, status, usage = os.wait4(proc.pid, 0)
            results[proc.pid] = (time.perf_counter() - started, status, usage)

    try:
        for command, log in zip(commands, logs, strict=True):
            with log.open("wb") as out:
                procs.append(subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out,
                                              stderr=out, start_new_session=True))
        threads = [threading.Thread(target=reap, args=(p,), daemon=True) for p in procs]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + timeout
        while any(t.is_alive() for t in threads) and time.monotonic() < deadline:
            time.sleep(0.2)  # short sleeps, not a long join, so Ctrl-C gets through
        group.timed_out = any(thread.is_alive() for thread in threads)
    finally:
        for proc in procs:  # whatever happened, no node outlives its run
            if proc.pid not in results:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
        for proc in procs:
            if proc.pid not in results:
                reap(proc)
    for proc in procs:
        wall, status, usage = results[proc.pid]
        group.walls.append(wall)
        group.cpus.append(usage.ru_utime + usage.ru_stime)
        group.rss_mb.append(usage.ru_maxrss / 1024)
        group.exit_codes.append(os.waitstatus_to_exitcode(status))
    return group


# ---------------------------------------------------------------- the variants


@dataclass(frozen=True)
class Setup:
    """What every run needs: the site, the commands' ingredients, the options."""

    server: nginx.NginxServer
    pages: int
    config: Path
    crawler: list[str]  # the `crawler` command
    scrapy_python: Path | None
    times_log: Path
    timeout: float
    profile: Path | None = None  # py-spy raw profiles of our nodes go here
    settings: tuple[str, ...] = ()  # `-s NAME=VALUE` for our processes


def write_config(start_url: str) -> Path:
    """The throughput benchmark's settings, but a host allows 128 requests at once.

    Each process runs 64 workers, as there. A host's concurrency holds for the
    whole cluster, so with the throughput config's 64 two nodes would share
    one node's 64 places: that measures the limit, not the scaling. 128 lets
    each node fill its 64 (one node alone cannot use more than 64 anyway).
    """
    path = WORK_DIR / "cluster.yaml"
    path.write_text(tp.OUR_CONFIG.format(start_url=start_url)
                    .replace("name: bench", f"name: {CRAWL_NAME}")
                    .replace("per_host_concurrency: 64", "per_host_concurrency: 128"))
    return path


def commands(variant: str, setup: Setup, redis_url: str, shards: list[Path]) -> list[list[str]]:
    """The processes one run of `variant` starts, each writing one of `shards`."""
    start_url = setup.server.url("/index.html")
    if variant == "scrapy-redis":
        spider = BENCH_DIR / "scrapy_redis_spider.py"
        return [[str(setup.scrapy_python), str(spider), start_url, redis_url, str(shard)]
                for shard in shards]
    frontier = [] if variant == "local" else ["--frontier", redis_url]
    settings = [arg for pair in setup.settings for arg in ("-s", pair)]
    return [[*profiler(setup.profile, shard), *setup.crawler, "run", str(setup.config),
             *frontier, "-o", str(shard), *settings] for shard in shards]


def profiler(directory: Path | None, shard: Path) -> list[str]:
    """`py-spy record` in front of a node's command when profiling (a diagnosis only:
    py-spy's own CPU is then counted with the node's)."""
    if directory is None:
        return []
    directory.mkdir(parents=True, exist_ok=True)
    py_spy = Path(sys.executable).parent / "py-spy"
    return [str(py_spy), "record", "-r", "100", "-f", "raw", "-o",
            str(directory / f"{shard.stem}.txt"), "--"]


def processes(variant: str) -> int:
    return 1 if variant in ("local", "1-node") else 2


# ---------------------------------------------------------------- one run


@dataclass
class RunResult:
    """One run of one variant: its figures and what the checks found."""

    variant: str
    run: int
    pages: int
    wall_s: float
    to_last_fetch_s: float
    pages_per_s: float
    pages_per_s_to_last_fetch: float
    cpu_ms_per_page: float
    redis_cpu_ms_per_page: float
    maxrss_mb: list[float]
    redis_used_mb: float
    redis_peak_mb: float
    nginx_cpu_pct: float
    other_cpu_pct: float
    requests: int
    missing: int
    duplicated: int
    merged_rows: int | None
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not self.problems


def run_variant(variant: str, run: int, setup: Setup) -> RunResult:
    """Run `variant` once against a fresh access log (and a fresh Redis), and check it."""
    shards = [WORK_DIR / f"{variant}-{run}-shard-{n}.db" for n in range(1, processes(variant) + 1)]
    logs = [OUT_DIR / "logs" / f"cluster-{variant}-{run}-{n}.log"
            for n in range(1, len(shards) + 1)]
    logs[0].parent.mkdir(parents=True, exist_ok=True)
    for shard in shards:
        tp.remove_db(shard)
    setup.server.reset_log()
    setup.times_log.write_bytes(b"")
    with contextlib.ExitStack() as stack:
        redis = None if variant == "local" else stack.enter_context(RedisProcess())
        busy_before, nginx_before = tp.machine_busy_seconds(), setup.server.cpu_seconds()
        group = run_group(commands(variant, setup, redis.url if redis else "", shards), logs,
                          setup.timeout)
        memory = redis.memory() if redis else {"used_memory": 0, "used_memory_peak": 0}
        empty = redis.empty_memory if redis else 0
        redis_cpu = redis.cpu_seconds() if redis else 0.0
        nginx_cpu = setup.server.cpu_seconds() - nginx_before
        busy = tp.machine_busy_seconds() - busy_before
    return finish(variant, run, setup, group, shards, logs, {
        "redis_cpu": redis_cpu, "nginx_cpu": nginx_cpu, "busy": busy,
        "used": (memory["used_memory"] - empty) / 2**20,
        "peak": (memory["used_memory_peak"] - empty) / 2**20})


def finish(variant: str, run: int, setup: Setup, group: Group, shards: list[Path],
           logs: list[Path], cpu: dict[str, float]) -> RunResult:
    """Check the access log, the exits and the merged shards; derive the figures."""
    fetches = tp.check_fetches(tp.settled_log(setup.server), setup.pages)
    pages = len(sitegen.document_paths(setup.pages))  # the query pages are pages too
    problems = exit_problems(group, logs, setup.timeout)
    merged = None
    if variant == "scrapy-redis":
        tp_problems = []  # its duplicates and misses are findings, reported beside
    else:
        tp_problems = fetches.problems()
        merged, merge_problems = merge_shards(setup.crawler, shards, variant, run, pages)
        tp_problems += merge_problems
    problems += tp_problems
    for shard in shards:
        tp.remove_db(shard)
    wall = max(group.walls) if group.walls else 0.0
    last = last_fetch(setup.times_log) - group.started_at
    crawl_cpu = sum(group.cpus)
    other = max(0.0, cpu["busy"] - crawl_cpu - cpu["redis_cpu"] - cpu["nginx_cpu"])
    return RunResult(
        variant, run, pages, wall, last, pages / wall, pages / last if last > 0 else 0.0,
        crawl_cpu * 1000 / pages, cpu["redis_cpu"] * 1000 / pages, group.rss_mb, cpu["used"],
        cpu["peak"], 100 * cpu["nginx_cpu"] / wall, 100 * other / wall, fetches.requests,
        fetches.missing, fetches.extra_fetches, merged, problems)


def exit_problems(group: Group, logs: list[Path], timeout: float) -> list[str]:
    if group.timed_out:
        return [f"timed out after {timeout:.0f}s"]
    return [f"process {n} exited with {code} (see {log})"
            for n, (code, log) in enumerate(zip(group.exit_codes, logs, strict=True), 1)
            if code != 0]


def merge_shards(crawler: list[str], shards: list[Path], variant: str, run: int,
                 pages: int) -> tuple[int | None, list[str]]:
    """`crawler merge` the shards into a new file; (its pages rows, problems)."""
    merged = WORK_DIR / f"{variant}-{run}-merged.db"
    tp.remove_db(merged)
    if variant == "local":  # one ordinary file: nothing to merge, count its rows
        merged = shards[0]
    else:
        done = subprocess.run([*crawler, "merge", str(merged), *map(str, shards)],
                              capture_output=True, text=True, timeout=600, check=False)
        if done.returncode != 0:
            return None, [f"crawler merge exited with {done.returncode}: {done.stderr[-500:]}"]
    try:
        with sqlite3.connect(f"file:{merged}?mode=ro", uri=True) as conn:
            rows = conn.execute("SELECT count(*), count(DISTINCT url) FROM pages").fetchone()
    except sqlite3.Error as exc:
        return None, [f"cannot read {merged}: {exc}"]
    finally:
        if merged not in shards:
            tp.remove_db(merged)
    problems = [] if rows == (pages, pages) else [
        f"merged file has {rows[0]} pages rows ({rows[1]} distinct URLs), expected {pages}"]
    return rows[0], problems


def last_fetch(times_log: Path) -> float:
    """The time (epoch seconds) of the last request in the timestamp log."""
    lines = times_log.read_text().split()
    return max((float(stamp) for stamp in lines), default=0.0)


# ---------------------------------------------------------------- reporting


def print_header() -> None:
    print(f"{'run':>3}  {'variant':<12} {'pages/s':>8} {'to last':>8} {'CPU-ms/p':>8} "
          f"{'redis ms/p':>10} {'peak RSS MB':>14} {'redis MB':>8} {'other%':>6} "
          f"{'requests':>8} {'dup':>5} {'miss':>5} {'merged':>7}  check")


def print_run(r: RunResult) -> None:
    rss = "/".join(f"{mb:.0f}" for mb in r.maxrss_mb)
    merged = "-" if r.merged_rows is None else str(r.merged_rows)
    print(f"{r.run:>3}  {r.variant:<12} {r.pages_per_s:>8.1f} {r.pages_per_s_to_last_fetch:>8.1f} "
          f"{r.cpu_ms_per_page:>8.2f} {r.redis_cpu_ms_per_page:>10.3f} {rss:>14} "
          f"{r.redis_used_mb:>8.1f} {r.other_cpu_pct:>6.0f} {r.requests:>8} {r.duplicated:>5} "
          f"{r.missing:>5} {merged:>7}  {'ok' if r.ok else 'FAIL'}", flush=True)
    for problem in r.problems:
        print(f"     !!! {r.variant} run {r.run}: {problem}", flush=True)


def summarize(results: list[RunResult]) -> dict[str, dict[str, float]]:
    """Medians per variant over its correct runs."""
    summary = {}
    for variant in VARIANTS:
        runs = [r for r in results if r.variant == variant and r.ok]
        if not runs:
            continue
        summary[variant] = {
            "pages_per_s": statistics.median(r.pages_per_s for r in runs),
            "pages_per_s_to_last_fetch": statistics.median(
                r.pages_per_s_to_last_fetch for r in runs),
            "cpu_ms_per_page": statistics.median(r.cpu_ms_per_page for r in runs),
            "redis_cpu_ms_per_page": statistics.median(r.redis_cpu_ms_per_page for r in runs),
            "maxrss_mb_per_process": statistics.median(max(r.maxrss_mb) for r in runs),
            "redis_used_mb": statistics.median(r.redis_used_mb for r in runs),
            "duplicated": statistics.median(r.duplicated for r in runs),
            "missing": statistics.median(r.missing for r in runs),
            "runs": len(runs)}
    return summary


def ratios(results: list[RunResult]) -> dict[str, float]:
    """Medians of each round's ratios (a round runs every variant back to back)."""
    by_round: dict[int, dict[str, RunResult]] = {}
    for r in results:
        if r.ok:
            by_round.setdefault(r.run, {})[r.variant] = r
    pairs = {"2-nodes/1-node": ("2-nodes", "1-node"), "1-node/local": ("1-node", "local"),
             "2-nodes/local": ("2-nodes", "local"),
             "2-nodes/scrapy-redis": ("2-nodes", "scrapy-redis")}
    out: dict[str, float] = {}
    for label, (a, b) in pairs.items():
        rounds = [v for v in by_round.values() if a in v and b in v]
        if not rounds:
            continue
        out[f"{label} pages_per_s"] = statistics.median(
            v[a].pages_per_s / v[b].pages_per_s for v in rounds)
        out[f"{label} pages_per_s_to_last_fetch"] = statistics.median(
            v[a].pages_per_s_to_last_fetch / v[b].pages_per_s_to_last_fetch for v in rounds)
        out[f"{label} cpu_ms_per_page"] = statistics.median(
            v[a].cpu_ms_per_page / v[b].cpu_ms_per_page for v in rounds)
    return out


def print_summary(summary: dict[str, dict[str, float]], rat: dict[str, float]) -> None:
    print("\nmedians (correct runs only)")
    for name, s in summary.items():
        print(f"     {name:<12} {s['pages_per_s']:>8.1f} {s['pages_per_s_to_last_fetch']:>8.1f} "
              f"{s['cpu_ms_per_page']:>8.2f} {s['redis_cpu_ms_per_page']:>10.3f} "
              f"{s['maxrss_mb_per_process']:>14.0f} {s['redis_used_mb']:>8.1f}   "
              f"dup {s['duplicated']:g}  miss {s['missing']:g}  ({s['runs']} runs)")
    if rat:
        print("\nratios (median over rounds)")
        for key, value in rat.items():
            print(f"     {key:<46} {value:6.2f}x")


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pages", type=int, default=10000, help="site size (default 10000)")
    p.add_argument("--runs", type=int, default=3, help="rounds (default 3)")
    p.add_argument("--only", nargs="+", choices=VARIANTS, help="run just these variants")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="preferred nginx port")
    p.add_argument("--seed", type=int, default=1, help="site generator seed")
    p.add_argument("--timeout", type=float, default=600, help="seconds allowed per run")
    p.add_argument("--bar", type=float, default=1.5,
                   help="required 2-nodes/1-node pages/s ratio (0 = no bar)")
    p.add_argument("--json", type=Path, help="write the results as JSON here")
    p.add_argument("--scrapy-redis-venv", type=Path, default=SCRAPY_REDIS_VENV)
    p.add_argument("-s", "--set", action="append", default=[], metavar="NAME=VALUE",
                   help="a setting for our crawls (crawler run -s), e.g. "
                        "politeness.per_host_concurrency=128")
    p.add_argument("--profile", type=Path, metavar="DIR",
                   help="record our nodes with py-spy into DIR (folded stacks)")
    return p.parse_args(argv)


def prepare_site(pages: int, seed: int, port: int) -> tuple[Path, int]:
    """The site for a free port (kept in benchmarks/out/cluster-site-N, reused)."""
    port = port if nginx.port_is_free(port) else nginx.free_port()
    site = OUT_DIR / f"cluster-site-{pages}"
    if not sitegen.is_generated(site, pages, seed, port):
        print(f"generating {pages} pages for port {port} in {site} ...", flush=True)
        sitegen.generate(site, pages=pages, seed=seed, port=port)
    return site, port


def ensure_scrapy_redis(venv: Path) -> Path:
    """The Python of a throwaway venv with Scrapy and scrapy-redis, made if needed."""
    python = venv / "bin" / "python"
    check = [str(python), "-c", "import scrapy, scrapy_redis"]
    if python.exists() and tp._run_ok(check):
        return python
    print(f"setting up Scrapy and scrapy-redis in {venv} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "scrapy", "scrapy-redis"],
                   check=True, timeout=900)
    return python


def crawler_command() -> list[str]:
    script = Path(sys.executable).parent / "crawler"
    return [str(script)] if script.exists() else [sys.executable, "-m", "crawler"]


def run_all(args: argparse.Namespace, variants: list[str], site: Path, port: int
            ) -> list[RunResult]:
    """Serve the site (with a log of request times too) and alternate the variants."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    times_log = WORK_DIR / "times.log"
    extra = f"    log_format times '$msec';\n    access_log {times_log} times;\n"
    results = []
    with nginx.NginxServer(site, port, http_extra=extra) as server:
        scrapy = (ensure_scrapy_redis(args.scrapy_redis_venv) if "scrapy-redis" in variants
                  else None)
        setup = Setup(server, args.pages, write_config(server.url("/index.html")),
                      crawler_command(), scrapy, times_log, args.timeout, args.profile,
                      tuple(args.set))
        print(f"site: {args.pages} pages at {server.url('/index.html')}; {args.runs} round(s) "
              f"of {', '.join(variants)}", flush=True)
        print_header()
        for run in range(1, args.runs + 1):
            for variant in variants:
                result = run_variant(variant, run, setup)
                print_run(result)
                results.append(result)
    return results


def exit_status(results: list[RunResult], rat: dict[str, float], bar: float) -> int:
    failed = [r for r in results if not r.ok]
    if failed:
        print(f"\n!!! {len(failed)} run(s) FAILED their checks: "
              + ", ".join(f"{r.variant} #{r.run}" for r in failed))
        return 1
    ratio = rat.get("2-nodes/1-node pages_per_s")
    if bar and ratio is not None:
        met = ratio >= bar
        print(f"\nbar: 2 nodes >= {bar:g}x the pages/s of 1 node: "
              f"{'met' if met else 'NOT met'} ({ratio:.2f}x)")
        return 0 if met else 2
    return 0


def stop_cleanly() -> None:
    """Ctrl-C and `kill` end the benchmark through its finally blocks, which stop every
    node, redis-server and nginx (a shell's background job starts with SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop_cleanly()
    variants = [v for v in VARIANTS if not args.only or v in args.only]
    site, port = prepare_site(args.pages, args.seed, args.port)
    results = run_all(args, variants, site, port)
    summary = summarize(results)
    rat = ratios(results)
    print_summary(summary, rat)
    tp.print_noise_warning(results)  # type: ignore[arg-type]
    if args.json:
        args.json.write_text(json.dumps({
            "params": {"pages": args.pages, "runs": args.runs, "seed": args.seed, "port": port},
            "machine": tp.machine_info(), "runs": [asdict(r) for r in results],
            "medians": summary, "ratios": rat}, indent=2) + "\n")
    return exit_status(results, rat, args.bar)


if __name__ == "__main__":
    sys.exit(main())
