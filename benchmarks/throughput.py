"""Throughput benchmark: our crawler against Scrapy on a synthetic site served by nginx.

Generates (or reuses) a deterministic site of ``--pages`` pages, serves it with
nginx on 127.0.0.1, then runs the crawlers alternately (ours, scrapy, ours,
scrapy, ...) ``--runs`` times each. Every run is a subprocess whose wall time,
CPU time (user + sys, from ``os.wait4``) and peak RSS (``ru_maxrss``) are
measured; nginx's access log proves that each page was fetched exactly once and
the SQLite output is checked for one row per page. The times nginx logged the
first and the last request split each run into its start-up (``start``, launch
to first request), its crawl (``crawl/s``, pages/s between the two) and its
ending (``end``, last request to exit: the final writes, indexes, teardown).
Prints a table, medians and ratios. Standard library only, so the project venv's Python runs it::

    .venv/bin/python benchmarks/throughput.py                  # 10,000 pages, 3 runs each
    .venv/bin/python benchmarks/throughput.py --only scrapy --runs 1 --pages 500
    .venv/bin/python benchmarks/throughput.py --bare --json out.json
    .venv/bin/python benchmarks/throughput.py --baseline main --only ours baseline

``--only ours ours-inline bare`` measures the reader processes: ``ours-inline``
is ours with every page read on the event loop (``fetch.parse_processes=0``);
loop-ms/page is each crawler's main-thread CPU per page. ``bare-store`` is
the bare loop storing what ours stores by default (pages with bodies and
text, links, the full-text index) from a writer thread: the floor under
"0.7x the bare loop" for any crawler storing the same (``bare_store.py``).
``bare-store-proc``, ``bare-store-reader`` and ``bare-store-3`` are that
floor split over processes (``bare_store_split.py``): the writer in its own
process; parsing and storing in a reader process, the loop only fetching;
and loop, reader and writer in three processes.

``--baseline REF`` also runs the crawler as it was at git REF (a worktree in
/tmp, run by this same Python), so a change is measured against its parent in
one run, alternating, on the same site.

Exit status: 0 when every run was correct (and the bar was met, when both
crawlers ran), 1 when a run failed or fetched a page other than once, 2 when
ours missed the ``--bar`` (default 6x Scrapy's pages/s).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import posixpath
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nginx
import sitegen

BENCH_DIR = Path(__file__).resolve().parent
OUT_DIR = BENCH_DIR / "out"
SCRAPY_VENV = Path("/tmp/crawler-bench-scrapy-venv")
DEFAULT_PORT = 8765
CRAWLERS = ("ours", "ours-memory", "ours-inline", "baseline", "scrapy", "bare", "bare-store",
            "bare-store-proc", "bare-store-reader", "bare-store-3")
SPLITS = {"bare-store-proc": "writer", "bare-store-reader": "reader",
          "bare-store-3": "reader+writer"}  # bare_store_split.py

OUR_CONFIG = """\
name: bench
start_urls: ["{start_url}"]
politeness: {{robots_txt: ignore, per_host_concurrency: 64, per_host_delay: 0}}
fetch: {{concurrency: 64}}
store: {{body: true, text: true, links: true}}
"""


# ---------------------------------------------------------------- the crawlers


@dataclass(frozen=True)
class Crawler:
    """How to run one crawler: a command from (start URL, output db)."""

    name: str
    command: Callable[[str, Path], list[str]]
    writes_db: bool


def our_command(config: Path, *extra: str) -> Callable[[str, Path], list[str]]:
    """``crawler run CONFIG -o DB`` with the ``crawler`` script beside this Python."""
    script = Path(sys.executable).parent / "crawler"
    prefix = [str(script)] if script.exists() else [sys.executable, "-m", "crawler"]
    return lambda start_url, db: [*prefix, "run", str(config), "-o", str(db), *extra]


def scrapy_command(python: Path) -> Callable[[str, Path], list[str]]:
    """``scrapy_spider.py START DB`` under the Scrapy venv's Python."""
    spider = BENCH_DIR / "scrapy_spider.py"
    return lambda start_url, db: [str(python), str(spider), start_url, str(db)]


def baseline_command(ref: str, config: Path) -> Callable[[str, Path], list[str]]:
    """``crawler run`` from the code at git `ref`, checked out into a worktree in /tmp."""
    sha = subprocess.run(["git", "rev-parse", "--short", ref], cwd=BENCH_DIR, check=True,
                         capture_output=True, text=True).stdout.strip()
    tree = Path(f"/tmp/crawler-baseline-{sha}")
    if not tree.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), sha], cwd=BENCH_DIR,
                       check=True, capture_output=True)
    # -c, not -m: sys.path[0] would be the working directory (this checkout). And in
    # the tree: its reader processes, before they were started with -P, imported
    # `crawler` from the working directory, which read its pages with this checkout's code.
    code = (f"import os, sys; os.chdir({str(tree)!r}); sys.path.insert(0, {str(tree)!r}); "
            "import crawler; "
            f"assert crawler.__file__.startswith({str(tree)!r}); "
            "from crawler.cli import main; sys.exit(main(sys.argv[1:]))")
    return lambda start_url, db: [sys.executable, "-c", code, "run", str(config),
                                  "-o", str(db)]


def bare_command(start_url: str, db: Path) -> list[str]:
    """The bare aiohttp loop under this Python (it writes no db)."""
    return [sys.executable, str(BENCH_DIR / "bare_loop.py"), start_url]


def bare_store_command(start_url: str, db: Path) -> list[str]:
    """The bare loop storing pages, text, links and the FTS index (bare_store.py)."""
    return [sys.executable, str(BENCH_DIR / "bare_store.py"), start_url, str(db)]


def bare_store_split_command(split: str) -> Callable[[str, Path], list[str]]:
    """bare-store's work split over processes (bare_store_split.py ``--split``)."""
    script = str(BENCH_DIR / "bare_store_split.py")
    return lambda start_url, db: [sys.executable, script, "--split", split, start_url, str(db)]


def write_our_config(start_url: str) -> Path:
    """Write the YAML config our crawler runs with into ``benchmarks/out``."""
    path = OUT_DIR / "bench.yaml"
    path.write_text(OUR_CONFIG.format(start_url=start_url))
    return path


def ensure_scrapy(venv: Path) -> Path:
    """The Python of a venv with Scrapy, creating the venv and installing if needed."""
    python = venv / "bin" / "python"
    if python.exists() and _run_ok([str(python), "-c", "import scrapy"]):
        return python
    print(f"setting up Scrapy in {venv} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "scrapy"], check=True,
                   timeout=900)
    return python


def scrapy_version(python: Path) -> str:
    """Scrapy's version in that venv."""
    out = subprocess.run([str(python), "-c", "import scrapy; print(scrapy.__version__)"],
                         capture_output=True, text=True, timeout=60, check=False)
    return out.stdout.strip() or "?"


def _run_ok(cmd: list[str]) -> bool:
    """Whether a short command exits 0."""
    return subprocess.run(cmd, capture_output=True, timeout=120, check=False).returncode == 0


# ---------------------------------------------------------------- measuring


@dataclass
class Measurement:
    """Resources one crawler subprocess used, and what the rest of the machine used."""

    wall_s: float
    cpu_s: float
    maxrss_mb: float
    exit_code: int
    timed_out: bool
    server_cpu_s: float
    other_cpu_s: float
    loop_cpu_s: float = 0.0  # the main thread's (the event loop's) share of cpu_s
    started_at: float = 0.0  # time.time() when it was started and when it had exited
    ended_at: float = 0.0


def machine_busy_seconds() -> float:
    """CPU seconds all cores spent busy since boot (from /proc/stat; 0 if unreadable)."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def thread_cpu_seconds(pid: int, tid: int) -> float | None:
    """CPU seconds (user + system) one thread of a process used so far (None: gone)."""
    try:
        stat = Path(f"/proc/{pid}/task/{tid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class LoopSampler(threading.Thread):
    """Samples the CPU time of a process's main thread (its event loop) until it ends.

    The main thread is the crawl's limit; its CPU per page says how fast the
    crawl could go with a core to itself, whatever else the machine runs.
    The last sample is at most `every` seconds before the process ended.
    """

    def __init__(self, pid: int, every: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.every = pid, every
        self.seconds = 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.is_set():
            value = thread_cpu_seconds(self.pid, self.pid)
            if value is None:
                return
            self.seconds = value
            self.done.wait(self.every)


def measure(cmd: list[str], log_path: Path, timeout: float,
            server_cpu: Callable[[], float]) -> Measurement:
    """Run ``cmd`` to completion; its own and its children's CPU and peak RSS via wait4.

    ``server_cpu_s`` is what the web server used meanwhile and ``other_cpu_s``
    what the rest of the machine burned: a noisy neighbour shows up there.
    """
    busy_before = machine_busy_seconds()
    server_before = server_cpu()
    with log_path.open("wb") as log:
        started, started_at = time.perf_counter(), time.time()
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                start_new_session=True)
        timed_out = threading.Event()

        def kill() -> None:
            timed_out.set()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)

        timer = threading.Timer(timeout, kill)
        timer.start()
        loop = LoopSampler(proc.pid)
        loop.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
            loop.done.set()
        wall, ended_at = time.perf_counter() - started, time.time()
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    server = server_cpu() - server_before
    busy = machine_busy_seconds() - busy_before
    return Measurement(wall_s=wall, cpu_s=cpu, maxrss_mb=usage.ru_maxrss / 1024,
                       exit_code=proc.returncode, timed_out=timed_out.is_set(),
                       server_cpu_s=server, other_cpu_s=max(0.0, busy - cpu - server),
                       loop_cpu_s=loop.seconds, started_at=started_at, ended_at=ended_at)


# ---------------------------------------------------------------- checking


@dataclass
class FetchCheck:
    """What nginx saw: each page should have been fetched exactly once."""

    requests: int = 0
    missing: int = 0
    duplicated: int = 0
    extra_fetches: int = 0
    non_canonical: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    bad_status: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every page exactly once, nothing else, all 200."""
        return not (self.missing or self.duplicated or self.non_canonical
                    or self.unexpected or self.bad_status)

    def problems(self) -> list[str]:
        """Human-readable failures (a few examples each)."""
        out = []
        if self.missing:
            out.append(f"{self.missing} pages never fetched")
        if self.duplicated:
            out.append(f"{self.duplicated} pages fetched more than once "
                       f"({self.extra_fetches} extra fetches)")
        for label, items in (("non-canonical request URIs", self.non_canonical),
                             ("requests outside the site", self.unexpected),
                             ("non-200 responses", self.bad_status)):
            if items:
                out.append(f"{len(items)} {label}, e.g. {items[:3]}")
        return out


def normalized_path(uri: str) -> str:
    """The request URI's path with dot segments resolved (query dropped)."""
    path = uri.split("?", 1)[0]
    norm = posixpath.normpath(path)
    return "/" + norm.lstrip("/") if norm != "." else "/"


def document_of(uri: str) -> str:
    """The document a request URI names: its normalized path, and its query parameters
    sorted by name (``/view.html?id=7&cat=0`` and ``?cat=0&id=7`` are one document)."""
    path = normalized_path(uri)
    query = uri.partition("?")[2]
    pairs = sorted(query.split("&"), key=lambda pair: pair.partition("=")[0]) if query else []
    return f"{path}?{'&'.join(pairs)}" if pairs else path


def check_fetches(entries: list[nginx.LogEntry], pages: int) -> FetchCheck:
    """Compare nginx's access log with the site's documents (pages and query pages)."""
    expected = sitegen.document_paths(pages)
    check = FetchCheck(requests=len(entries))
    counts: Counter[str] = Counter()
    for entry in entries:
        document = document_of(entry.uri)
        if document not in expected:
            check.unexpected.append(entry.uri)
            continue
        counts[document] += 1
        if normalized_path(entry.uri) != entry.uri.partition("?")[0]:  # order is not judged
            check.non_canonical.append(entry.uri)
        if entry.status != 200:
            check.bad_status.append(f"{entry.status} {entry.uri}")
    check.missing = len(expected - counts.keys())
    check.duplicated = sum(1 for c in counts.values() if c > 1)
    check.extra_fetches = sum(c - 1 for c in counts.values() if c > 1)
    return check


def check_db(db: Path, pages: int) -> list[str]:
    """Problems with the crawl's SQLite output: one pages row per page, some links."""
    if not db.exists():
        return [f"no database at {db}"]
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            n_pages = conn.execute("SELECT count(*) FROM pages").fetchone()[0]
            n_links = conn.execute("SELECT count(*) FROM links").fetchone()[0]
    except sqlite3.Error as exc:
        return [f"cannot read {db}: {exc}"]
    problems = []
    if n_pages != pages:
        problems.append(f"pages table has {n_pages} rows, expected {pages}")
    if n_links <= 0:
        problems.append("links table is empty")
    return problems


def settled_log(server: nginx.NginxServer, wait: float = 2.0) -> list[nginx.LogEntry]:
    """The access log once it stops growing (nginx logs just after the response)."""
    deadline = time.monotonic() + wait
    entries = server.log_entries()
    while time.monotonic() < deadline:
        time.sleep(0.1)
        again = server.log_entries()
        if len(again) == len(entries):
            break
        entries = again
    return entries


# ---------------------------------------------------------------- one run


@dataclass
class RunResult:
    """One crawler run: measurements, derived rates and the checks."""

    crawler: str
    run: int
    pages: int
    wall_s: float
    cpu_s: float
    maxrss_mb: float
    exit_code: int
    pages_per_s: float
    cpu_ms_per_page: float
    loop_ms_per_page: float
    nginx_cpu_pct: float
    other_cpu_pct: float
    requests: int
    problems: list[str]
    log: str
    # From nginx's log: start-up (launch to first request), the crawl (first to last
    # request, in pages/s) and the ending (last request to exit), so that a run's
    # pages/s can be read apart from its fixed costs.
    start_s: float = 0.0
    end_s: float = 0.0
    crawl_pages_per_s: float = 0.0

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems


def run_crawler(crawler: Crawler, run: int, server: nginx.NginxServer, pages: int,
                timeout: float, keep_db: bool) -> RunResult:
    """Run one crawler once against a fresh access log and check what it did."""
    db = OUT_DIR / f"{crawler.name}-{run}.db"
    log = OUT_DIR / "logs" / f"{crawler.name}-{run}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    remove_db(db)
    server.reset_log()
    m = measure(crawler.command(server.url("/index.html"), db), log, timeout, server.cpu_seconds)
    entries = settled_log(server)
    fetches = check_fetches(entries, pages)
    pages = len(sitegen.document_paths(pages))  # the query pages are pages too
    phases = Phases.of(entries, m, pages)
    problems = fetches.problems()
    if m.timed_out:
        problems.insert(0, f"timed out after {timeout:.0f}s")
    elif m.exit_code != 0:
        problems.insert(0, f"exited with {m.exit_code} (see {log})")
    if crawler.writes_db:
        problems += check_db(db, pages)
    if not keep_db:
        remove_db(db)
    return RunResult(crawler.name, run, pages, m.wall_s, m.cpu_s, m.maxrss_mb, m.exit_code,
                     pages / m.wall_s, m.cpu_s * 1000 / pages, m.loop_cpu_s * 1000 / pages,
                     100 * m.server_cpu_s / m.wall_s,
                     100 * m.other_cpu_s / m.wall_s, fetches.requests, problems, str(log),
                     phases.start_s, phases.end_s, phases.crawl_pages_per_s)


@dataclass(frozen=True)
class Phases:
    """A run's start-up, crawl and ending, from the times nginx logged its requests."""

    start_s: float
    end_s: float
    crawl_pages_per_s: float

    @classmethod
    def of(cls, entries: list[nginx.LogEntry], m: Measurement, pages: int) -> Phases:
        times = [e.time for e in entries if e.time]
        if not times or not m.started_at:
            return cls(0.0, 0.0, 0.0)
        first, last = min(times), max(times)
        return cls(first - m.started_at, m.ended_at - last, pages / max(last - first, 1e-3))


def remove_db(db: Path) -> None:
    """Delete a SQLite file and its WAL/SHM companions."""
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)


# ---------------------------------------------------------------- reporting


def print_run(r: RunResult) -> None:
    """One table row, and the problems loudly."""
    status = "ok" if r.ok else "FAIL"
    print(f"{r.run:>3}  {r.crawler:<11} {r.pages_per_s:>9.1f} {r.cpu_ms_per_page:>11.2f} "
          f"{r.loop_ms_per_page:>11.2f} "
          f"{r.maxrss_mb:>11.1f} {r.wall_s:>8.1f} {r.start_s:>6.2f} {r.end_s:>6.2f} "
          f"{r.crawl_pages_per_s:>8.1f} {r.nginx_cpu_pct:>6.0f} {r.other_cpu_pct:>6.0f} "
          f"{r.requests:>9}  "
          f"{status}", flush=True)
    for problem in r.problems:
        print(f"     !!! {r.crawler} run {r.run}: {problem}", flush=True)


def print_header() -> None:
    """The table's header."""
    print(f"{'run':>3}  {'crawler':<11} {'pages/s':>9} {'CPU-ms/page':>11} {'loop-ms/page':>11} "
          f"{'peak RSS MB':>11} {'wall s':>8} {'start':>6} {'end':>6} {'crawl/s':>8} "
          f"{'nginx%':>6} {'other%':>6} {'requests':>9}  check")


def summarize(results: list[RunResult]) -> dict[str, dict[str, float]]:
    """Median pages/s, CPU-ms/page and peak RSS per crawler, over its correct runs."""
    summary = {}
    for name in CRAWLERS:
        runs = [r for r in results if r.crawler == name and r.ok]
        if runs:
            summary[name] = {
                "pages_per_s": statistics.median(r.pages_per_s for r in runs),
                "cpu_ms_per_page": statistics.median(r.cpu_ms_per_page for r in runs),
                "loop_ms_per_page": statistics.median(r.loop_ms_per_page for r in runs),
                "maxrss_mb": statistics.median(r.maxrss_mb for r in runs),
                "start_s": statistics.median(r.start_s for r in runs),
                "end_s": statistics.median(r.end_s for r in runs),
                "crawl_pages_per_s": statistics.median(r.crawl_pages_per_s for r in runs),
                "runs": len(runs),
            }
    return summary


def ratios(summary: dict[str, dict[str, float]]) -> dict[str, float]:
    """Ours against Scrapy (and the bare loop, when it ran)."""
    out: dict[str, float] = {}
    ours = summary.get("ours")
    for other in ("ours-memory", "ours-inline", "baseline", "scrapy", "bare", "bare-store",
                  *SPLITS):
        theirs = summary.get(other)
        if ours and theirs:
            out[f"ours/{other} pages_per_s"] = ours["pages_per_s"] / theirs["pages_per_s"]
            out[f"{other}/ours cpu_ms_per_page"] = (theirs["cpu_ms_per_page"]
                                                    / ours["cpu_ms_per_page"])
            out[f"ours/{other} maxrss"] = ours["maxrss_mb"] / theirs["maxrss_mb"]
            out[f"{other}/ours loop_ms_per_page"] = (theirs["loop_ms_per_page"]
                                                     / ours["loop_ms_per_page"])
    bare = summary.get("bare")
    for name in ("ours-inline", "baseline", "scrapy", "bare-store", *SPLITS):
        theirs = summary.get(name)
        if bare and theirs:
            out[f"{name}/bare pages_per_s"] = theirs["pages_per_s"] / bare["pages_per_s"]
    for name in ("ours", "bare-store", *SPLITS):  # the same, between first and last request
        theirs = summary.get(name)
        if bare and theirs and bare["crawl_pages_per_s"]:
            out[f"{name}/bare crawl pages_per_s"] = (theirs["crawl_pages_per_s"]
                                                     / bare["crawl_pages_per_s"])
    return out


def print_noise_warning(results: list[RunResult], threshold: float = 40.0) -> None:
    """Say so when other processes took a good share of the CPU during the runs."""
    busy = [r for r in results if r.other_cpu_pct > threshold]
    if busy:
        print(f"\nnote: in {len(busy)} of {len(results)} runs other processes (not the crawler, "
              f"not nginx) used more than {threshold:.0f}% of a core; wall-clock figures are "
              "noisy")


def print_summary(summary: dict[str, dict[str, float]], rat: dict[str, float]) -> None:
    """Medians and ratios."""
    print("\nmedians (correct runs only)")
    for name, s in summary.items():
        print(f"     {name:<11} {s['pages_per_s']:>9.1f} {s['cpu_ms_per_page']:>11.2f} "
              f"{s['loop_ms_per_page']:>11.2f} {s['maxrss_mb']:>11.1f} {'':>8} "
              f"{s['start_s']:>6.2f} {s['end_s']:>6.2f} {s['crawl_pages_per_s']:>8.1f}   "
              f"({s['runs']} runs)")
    if rat:
        print("\nratios (higher is better for ours, except RSS)")
        for key, value in rat.items():
            print(f"     {key:<28} {value:6.2f}x")


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pages", type=int, default=10000, help="site size (default 10000)")
    p.add_argument("--runs", type=int, default=3, help="runs per crawler (default 3)")
    p.add_argument("--only", nargs="+", choices=CRAWLERS, help="run just these crawlers")
    p.add_argument("--bare", action="store_true", help="also run the bare aiohttp loop")
    p.add_argument("--memory-frontier", action="store_true",
                   help="also run ours with the in-memory frontier (-s frontier=memory)")
    p.add_argument("--baseline", metavar="REF",
                   help="also run ours as it was at this git ref (e.g. main, HEAD~3)")
    p.add_argument("--json", type=Path, help="write the results as JSON here")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help="preferred nginx port")
    p.add_argument("--seed", type=int, default=1, help="site generator seed")
    p.add_argument("--timeout", type=float, default=600, help="seconds allowed per run")
    p.add_argument("--bar", type=float, default=6.0,
                   help="required ours/scrapy pages/s ratio (0 = no bar)")
    p.add_argument("--keep-db", action="store_true", help="keep each run's SQLite output")
    p.add_argument("--scrapy-venv", type=Path, default=SCRAPY_VENV)
    return p.parse_args(argv)


def selected_names(args: argparse.Namespace) -> list[str]:
    """Which crawlers run, in the order they alternate."""
    if args.only:
        return list(args.only)
    return ["ours", *(["ours-memory"] if args.memory_frontier else []),
            *(["baseline"] if args.baseline else []), "scrapy",
            *(["bare"] if args.bare else [])]


def build_crawlers(names: list[str], start_url: str, args: argparse.Namespace,
                   info: dict[str, str]) -> list[Crawler]:
    """The Crawler objects for the selected names (sets up Scrapy if needed)."""
    crawlers = []
    for name in names:
        if name == "ours":
            crawlers.append(Crawler("ours", our_command(write_our_config(start_url)), True))
        elif name == "baseline":
            if not args.baseline:
                raise SystemExit("--only baseline needs --baseline REF")
            info["baseline"] = args.baseline
            command = baseline_command(args.baseline, write_our_config(start_url))
            crawlers.append(Crawler("baseline", command, True))
        elif name == "ours-inline":  # every page read on the loop, no reader process
            command = our_command(write_our_config(start_url), "-s", "fetch.parse_processes=0")
            crawlers.append(Crawler("ours-inline", command, True))
        elif name == "ours-memory":
            command = our_command(write_our_config(start_url), "-s", "frontier=memory")
            crawlers.append(Crawler("ours-memory", command, True))
        elif name == "scrapy":
            python = ensure_scrapy(args.scrapy_venv)
            info["scrapy"] = scrapy_version(python)
            crawlers.append(Crawler("scrapy", scrapy_command(python), True))
        elif name == "bare-store":
            crawlers.append(Crawler("bare-store", bare_store_command, True))
        elif name in SPLITS:
            crawlers.append(Crawler(name, bare_store_split_command(SPLITS[name]), True))
        else:
            crawlers.append(Crawler("bare", bare_command, False))
    return crawlers


def prepare_site(args: argparse.Namespace) -> tuple[Path, int]:
    """Pick the port, generate the site for it unless cached; return (site dir, port)."""
    port = args.port if nginx.port_is_free(args.port) else nginx.free_port()
    site = OUT_DIR / f"site-{args.pages}"
    if not sitegen.is_generated(site, args.pages, args.seed, port):
        print(f"generating {args.pages} pages for port {port} in {site} ...", flush=True)
        started = time.perf_counter()
        sitegen.generate(site, pages=args.pages, seed=args.seed, port=port)
        print(f"  done in {time.perf_counter() - started:.1f}s", flush=True)
    return site, port


def run_all(crawlers: list[Crawler], server: nginx.NginxServer,
            args: argparse.Namespace) -> list[RunResult]:
    """Alternate the crawlers for ``--runs`` rounds, printing each run."""
    results = []
    print_header()
    for run in range(1, args.runs + 1):
        for crawler in crawlers:
            result = run_crawler(crawler, run, server, args.pages, args.timeout, args.keep_db)
            print_run(result)
            results.append(result)
    return results


def machine_info() -> dict[str, str]:
    """Where the numbers come from."""
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpus": str(os.cpu_count())}


def exit_status(results: list[RunResult], rat: dict[str, float], bar: float) -> int:
    """0 all good, 1 a run failed its checks, 2 the bar was missed."""
    failed = [r for r in results if not r.ok]
    if failed:
        print(f"\n!!! {len(failed)} run(s) FAILED their checks: "
              + ", ".join(f"{r.crawler} #{r.run}" for r in failed))
        return 1
    ratio = rat.get("ours/scrapy pages_per_s")
    if bar and ratio is not None:
        met = ratio >= bar
        print(f"\nbar: ours >= {bar:g}x Scrapy's pages/s: {'met' if met else 'NOT met'} "
              f"({ratio:.2f}x)")
        return 0 if met else 2
    return 0


def main(argv: list[str] | None = None) -> int:
    """Generate, serve, crawl alternately, check, report."""
    args = parse_args(argv)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    site, port = prepare_site(args)
    info = machine_info()
    with nginx.NginxServer(site, port) as server:
        start_url = server.url("/index.html")
        crawlers = build_crawlers(selected_names(args), start_url, args, info)
        print(f"site: {args.pages} pages at {start_url}; {args.runs} run(s) each of "
              f"{', '.join(c.name for c in crawlers)}", flush=True)
        results = run_all(crawlers, server, args)
    summary = summarize(results)
    rat = ratios(summary)
    print_summary(summary, rat)
    print_noise_warning(results)
    if args.json:
        args.json.write_text(json.dumps({
            "params": {"pages": args.pages, "runs": args.runs, "seed": args.seed,
                       "port": port},
            "machine": info, "runs": [asdict(r) for r in results],
            "medians": summary, "ratios": rat}, indent=2) + "\n")
    return exit_status(results, rat, args.bar)


if __name__ == "__main__":
    sys.exit(main())
