"""Frontier memory benchmark (issue 4): peak RSS when far more URLs are found than fetched.

nginx on 127.0.0.1 serves an endless generated site: one template HTML file for
every path under ``/p/``, rewritten on the fly by ``sub_filter`` so that the
page at ``/p/3/17`` links to ``/p/3/17/0`` ... ``/p/3/17/49`` (50 new URLs),
back home to ``/`` and up to ``/p/3`` (duplicates), plus one off-site link. A
crawl stopped after N pages has found about 50 x N URLs, nearly all still
waiting in the frontier.

Each crawl is a subprocess reaped with ``os.wait4``, whose ``ru_maxrss`` is its
peak RSS. Ours runs at ``--small`` and ``--pages`` pages, then Scrapy does the
same two jobs (unless ``--skip-scrapy``). The bar of issue 4: ours under 150 MB
at 20,000 pages, and at most 1.5x its own peak at 2,000 pages::

    .venv/bin/python benchmarks/frontier_memory.py                   # 2k and 20k, ours and Scrapy
    .venv/bin/python benchmarks/frontier_memory.py --skip-scrapy -s store.text=false
    .venv/bin/python benchmarks/frontier_memory.py --pages 5000 --small 500 --json out.json

Exit status: 0 every run did its job and the bar was met, 1 a run failed (exit
status, timeout, too few pages or requests), 2 ours missed the bar.
Standard library only, so the project venv's Python runs it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nginx
import sitegen
import throughput

OUT_DIR = throughput.OUT_DIR / "memory"
LINKS_PER_PAGE = 50
BAR_MB = 150.0
BAR_RATIO = 1.5

# sub_filter puts the page's own path where the template says {{page}} and its
# parent's where it says {{parent}}. `set` runs before try_files, which rewrites
# $uri to /page.html, so the path is copied first and the map reads the copy.
# The home page is "/" but names its children /p/N, hence its $bench_page.
# sub_filter_types is left at its default, text/html (naming it again warns).
HTTP_CONF = r"""
    map $bench_page $bench_parent {
        ~^(?<up>/p/.+)/[^/]+$  $up;
        default                /;
    }
"""

SERVER_CONF = r"""
        sub_filter_once off;
        sub_filter '{{page}}' '$bench_page';
        sub_filter '{{parent}}' '$bench_parent';
        location = / {
            set $bench_page /p;
            try_files /page.html =404;
        }
        location /p/ {
            set $bench_page $uri;
            try_files /page.html =404;
        }
        location / {
            return 404;
        }
"""

OUR_CONFIG = """\
name: frontier-memory
start_urls: ["{start_url}"]
politeness: {{robots_txt: ignore, per_host_concurrency: 64, per_host_delay: 0}}
fetch: {{concurrency: 64}}
limits: {{max_pages: {pages}}}
store: {{body: true, text: true, links: true}}
"""

# Scrapy's defaults (in-memory dupefilter and scheduler) but FIFO like ours:
# its default LIFO queue walks depth-first, so its URLs would grow ~3 bytes a
# level for hundreds of levels and the job would not be the same (measured:
# 3.6 GB instead of 2.5 GB at 20,000 pages).
SCRAPY_SETTINGS = ("SCHEDULER_MEMORY_QUEUE=scrapy.squeues.FifoMemoryQueue",)


# ---------------------------------------------------------------- the site


def page_template(seed: int = 1) -> str:
    """The one HTML file nginx serves for every page: ~6 KB, 50 child links, filler text."""
    rng = random.Random(seed)
    vocab = sitegen.make_vocabulary(rng, 800)
    items = "\n".join(
        f'<li><a href="{{{{page}}}}/{i}">{sitegen.words(rng, vocab, rng.randint(2, 4))}</a></li>'
        for i in range(LINKS_PER_PAGE))
    paras = "\n".join(f"<p>{sitegen.sentence_block(rng, vocab)}</p>" for _ in range(5))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>Catalogue {{page}}</title>\n"
        '<meta name="description" content="Section {{page}} of the synthetic catalogue">\n'
        f"<style>\n{sitegen.CSS}\n</style>\n</head>\n<body>\n"
        '<header id="top"><nav><a href="/">Home</a> · <a href="{{parent}}">Up</a></nav></header>\n'
        "<main>\n<h1>Section {{page}}</h1>\n"
        f"{paras}\n<h2>In this section</h2>\n<ul class=\"related\">\n{items}\n</ul>\n</main>\n"
        '<footer><a href="/">Back to the catalogue</a> · <a href="#top">Top</a> · '
        '<a href="http://offsite.invalid/partners">Partners</a></footer>\n</body>\n</html>\n')


def write_site(root: Path, seed: int) -> Path:
    """Write ``page.html`` into ``root``; return ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "page.html").write_text(page_template(seed))
    return root


def check_sub_filter(binary: str) -> None:
    """Fail early, and clearly, when this nginx was built without the sub module."""
    out = subprocess.run([binary, "-V"], capture_output=True, text=True, timeout=30, check=False)
    if "http_sub_module" not in out.stderr + out.stdout:
        raise nginx.NginxError(f"{binary} lacks http_sub_module (sub_filter); "
                               "Debian's nginx package has it")


# ---------------------------------------------------------------- the runs


@dataclass
class MemRun:
    """One crawl: what it cost and evidence that it did the job."""

    crawler: str
    target: int
    wall_s: float
    cpu_s: float
    maxrss_mb: float
    exit_code: int
    pages_per_s: float
    requests: int
    non_200: int
    refetched: int
    pages_stored: int
    urls_found: int | None
    frontier_rows: int | None
    stop_reason: str | None
    problems: list[str] = field(default_factory=list)
    log: str = ""

    @property
    def ok(self) -> bool:
        """No problem found."""
        return not self.problems


def our_command(start_url: str, db: Path, pages: int, settings: list[str]) -> list[str]:
    """``crawler run CONFIG -o DB -s K=V ...`` with a config for ``pages`` pages."""
    config = OUT_DIR / f"ours-{pages}.yaml"
    config.write_text(OUR_CONFIG.format(start_url=start_url, pages=pages))
    flags = [arg for kv in settings for arg in ("-s", kv)]
    return [*throughput.our_command(config)(start_url, db), *flags]


def scrapy_command(python: Path, start_url: str, db: Path, pages: int,
                   settings: list[str]) -> list[str]:
    """``scrapy_spider.py START DB`` closing after ``pages`` responses."""
    cmd = throughput.scrapy_command(python)(start_url, db)
    pairs = [f"CLOSESPIDER_PAGECOUNT={pages}", *SCRAPY_SETTINGS, *settings]
    return [*cmd, *(arg for kv in pairs for arg in ("-s", kv))]


def db_figures(db: Path, site: str) -> tuple[int, int | None, int | None, str | None]:
    """(pages rows, distinct in-site link targets, frontier rows, stop reason).

    Link targets are None when ``links`` is empty (``store.links=false``), frontier
    rows when there is no ``frontier`` table (the in-memory frontier).
    """
    if not db.exists():
        return 0, 0, None, None
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        pages = conn.execute("SELECT count(*) FROM pages").fetchone()[0]
        found = conn.execute("SELECT count(DISTINCT url) FROM links WHERE url LIKE ?",
                             (site + "/%",)).fetchone()[0] or None
        frontier = (conn.execute("SELECT count(*) FROM frontier").fetchone()[0]
                    if "frontier" in tables else None)
        stop = None
        if "crawls" in tables:  # ours only: the crawl's own account of why it stopped
            row = conn.execute("SELECT stats FROM crawls ORDER BY id DESC LIMIT 1").fetchone()
            stop = json.loads(row[0]).get("stop_reason") if row and row[0] else None
    return pages, found, frontier, stop


def log_figures(entries: list[nginx.LogEntry]) -> tuple[int, int, int]:
    """(requests, non-200 responses, requests for a URI already served) from nginx's log."""
    counts = Counter(e.uri for e in entries)
    non_200 = sum(1 for e in entries if e.status != 200)
    return len(entries), non_200, sum(c - 1 for c in counts.values())


def problems_of(run: MemRun, timeout: float, timed_out: bool) -> list[str]:
    """Why a run did not do the job, if it did not."""
    out = []
    if timed_out:
        out.append(f"timed out after {timeout:.0f}s")
    elif run.exit_code != 0:
        out.append(f"exited with {run.exit_code} (see {run.log})")
    if run.requests < run.target:
        out.append(f"nginx served {run.requests} requests, fewer than {run.target} pages")
    if run.non_200:
        out.append(f"{run.non_200} responses were not 200")
    if run.pages_stored < run.target:
        out.append(f"{run.pages_stored} pages stored, expected {run.target}")
    if run.urls_found is not None and run.urls_found < run.target:
        out.append(f"only {run.urls_found} URLs found")
    return out


def run_one(name: str, cmd: list[str], db: Path, target: int, server: nginx.NginxServer,
            timeout: float, keep_db: bool) -> MemRun:
    """Run one crawl in a fresh subprocess against a fresh access log; measure and check it."""
    log = throughput.OUT_DIR / "logs" / f"memory-{name}-{target}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    throughput.remove_db(db)
    server.reset_log()
    m = throughput.measure(cmd, log, timeout, server.cpu_seconds)
    requests, non_200, refetched = log_figures(throughput.settled_log(server))
    pages, found, frontier, stop = db_figures(db, server.base_url)
    if not keep_db:
        throughput.remove_db(db)
    run = MemRun(name, target, m.wall_s, m.cpu_s, m.maxrss_mb, m.exit_code, target / m.wall_s,
                 requests, non_200, refetched, pages, found, frontier, stop, log=str(log))
    run.problems = problems_of(run, timeout, m.timed_out)
    return run


# ---------------------------------------------------------------- reporting


def print_header() -> None:
    """The table's header."""
    print(f"{'crawler':<7} {'pages':>6} {'peak RSS MB':>11} {'pages/s':>8} {'CPU s':>7} "
          f"{'wall s':>7} {'requests':>8} {'refetch':>7} {'stored':>6} {'URLs found':>10}  check",
          flush=True)


def print_run(r: MemRun) -> None:
    """One row, and the problems loudly."""
    print(f"{r.crawler:<7} {r.target:>6} {r.maxrss_mb:>11.1f} {r.pages_per_s:>8.1f} "
          f"{r.cpu_s:>7.1f} {r.wall_s:>7.1f} {r.requests:>8} {r.refetched:>7} "
          f"{r.pages_stored:>6} {r.urls_found or '-':>10}  {'ok' if r.ok else 'FAIL'}", flush=True)
    for problem in r.problems:
        print(f"        !!! {r.crawler} {r.target}: {problem}", flush=True)


def find(runs: list[MemRun], crawler: str, target: int) -> MemRun | None:
    """The run of ``crawler`` at ``target`` pages, if it ran."""
    return next((r for r in runs if r.crawler == crawler and r.target == target), None)


def verdict(runs: list[MemRun], small: int, large: int) -> dict[str, float | bool | None]:
    """Ours against the bar of issue 4, and against Scrapy at the large size."""
    ours_s, ours_l = find(runs, "ours", small), find(runs, "ours", large)
    scrapy_l = find(runs, "scrapy", large)
    ratio = ours_l.maxrss_mb / ours_s.maxrss_mb if ours_s and ours_l else None
    return {
        "ours_large_mb": ours_l.maxrss_mb if ours_l else None,
        "ours_ratio": ratio,
        "scrapy_large_mb": scrapy_l.maxrss_mb if scrapy_l else None,
        "rss_bar_met": bool(ours_l and ours_l.maxrss_mb < BAR_MB),
        "ratio_bar_met": bool(ratio is not None and ratio <= BAR_RATIO),
    }


def print_verdict(v: dict[str, float | bool | None], small: int, large: int) -> None:
    """The bar, pass/fail, and Scrapy beside it."""
    def mark(ok: object) -> str:
        return "pass" if ok else "FAIL"

    print()
    if v["ours_large_mb"] is not None:
        print(f"ours at {large}: peak RSS {v['ours_large_mb']:.0f} MB "
              f"(bar < {BAR_MB:.0f} MB: {mark(v['rss_bar_met'])})")
    if v["ours_ratio"] is not None:
        print(f"ours {large}/{small}: {v['ours_ratio']:.2f}x "
              f"(bar <= {BAR_RATIO}x: {mark(v['ratio_bar_met'])})")
    if v["scrapy_large_mb"] is not None:
        print(f"Scrapy at {large}: peak RSS {v['scrapy_large_mb']:.0f} MB", end="")
        if v["ours_large_mb"] is not None:
            print(f" (ours is {v['ours_large_mb'] / v['scrapy_large_mb']:.2f}x Scrapy's)", end="")
        print()


# ---------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pages", type=int, default=20000, help="the large crawl (default 20000)")
    p.add_argument("--small", type=int, default=2000, help="the small crawl (default 2000)")
    p.add_argument("--skip-scrapy", action="store_true", help="do not run Scrapy")
    p.add_argument("--skip-ours", action="store_true", help="do not run ours")
    p.add_argument("--skip-small", action="store_true", help="run only the large crawl")
    p.add_argument("-s", "--setting", action="append", default=[], metavar="KEY=VALUE",
                   help="passed to our crawler as -s KEY=VALUE (repeatable)")
    p.add_argument("--scrapy-setting", action="append", default=[], metavar="NAME=VALUE",
                   help="passed to the Scrapy spider as -s NAME=VALUE (repeatable)")
    p.add_argument("--json", type=Path, help="write the results as JSON here")
    p.add_argument("--timeout", type=float, default=900, help="seconds allowed per run")
    p.add_argument("--seed", type=int, default=1, help="filler text seed")
    p.add_argument("--keep-db", action="store_true", help="keep each run's SQLite output")
    p.add_argument("--scrapy-venv", type=Path, default=throughput.SCRAPY_VENV)
    p.add_argument("--serve", type=float, metavar="SECONDS",
                   help="only serve the site this long (for a crawl by hand), then exit")
    return p.parse_args(argv)


def plan(args: argparse.Namespace, start_url: str,
         info: dict[str, str]) -> list[tuple[str, int, list[str], Path]]:
    """(crawler, pages, command, db) for every run, ours first, small before large."""
    sizes = [args.pages] if args.skip_small else [args.small, args.pages]
    runs = []
    for pages in [] if args.skip_ours else sizes:
        db = OUT_DIR / f"ours-{pages}.db"
        runs.append(("ours", pages, our_command(start_url, db, pages, args.setting), db))
    if not args.skip_scrapy:
        python = throughput.ensure_scrapy(args.scrapy_venv)
        info["scrapy"] = throughput.scrapy_version(python)
        for pages in sizes:
            db = OUT_DIR / f"scrapy-{pages}.db"
            runs.append(("scrapy", pages, scrapy_command(python, start_url, db, pages,
                                                         args.scrapy_setting), db))
    return runs


def serve(server: nginx.NginxServer, seconds: float, pages: int) -> int:
    """Keep the site up for ``seconds`` (Ctrl-C ends it sooner); say how to crawl it."""
    config = OUT_DIR / f"ours-{pages}.yaml"
    config.write_text(OUR_CONFIG.format(start_url=server.url("/"), pages=pages))
    print(f"serving {server.url('/')} for {seconds:.0f}s; crawl it with\n"
          f"  .venv/bin/crawler run {config} -o /tmp/crawl.db", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        time.sleep(seconds)
    return 0


def exit_status(runs: list[MemRun], v: dict[str, float | bool | None]) -> int:
    """0 all good, 1 a run failed, 2 ours missed the bar."""
    failed = [r for r in runs if not r.ok]
    if failed:
        print("\n!!! run(s) FAILED: " + ", ".join(f"{r.crawler} {r.target}" for r in failed))
        return 1
    if v["ours_large_mb"] is None:
        return 0
    return 0 if v["rss_bar_met"] and (v["ours_ratio"] is None or v["ratio_bar_met"]) else 2


def main(argv: list[str] | None = None) -> int:
    """Serve the endless site, crawl it at two sizes with each crawler, report peak RSS."""
    args = parse_args(argv)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    check_sub_filter(nginx.ensure_nginx())
    site = write_site(OUT_DIR / "site", args.seed)
    info = throughput.machine_info()
    runs: list[MemRun] = []
    with nginx.NginxServer(site, nginx.free_port(), http_extra=HTTP_CONF,
                           server_extra=SERVER_CONF) as server:
        if args.serve is not None:
            return serve(server, args.serve, args.pages)
        start_url = server.url("/")
        todo = plan(args, start_url, info)
        extra = f"; ours with {' '.join(args.setting)}" if args.setting else ""
        print(f"endless site at {start_url}, {LINKS_PER_PAGE} new links a page{extra}",
              flush=True)
        print_header()
        for name, pages, cmd, db in todo:
            run = run_one(name, cmd, db, pages, server, args.timeout, args.keep_db)
            print_run(run)
            runs.append(run)
    v = verdict(runs, args.small, args.pages)
    print_verdict(v, args.small, args.pages)
    if args.json:
        args.json.write_text(json.dumps({
            "params": {"pages": args.pages, "small": args.small, "settings": args.setting,
                       "scrapy_settings": [*SCRAPY_SETTINGS, *args.scrapy_setting],
                       "links_per_page": LINKS_PER_PAGE},
            "machine": info, "runs": [asdict(r) for r in runs], "verdict": v}, indent=2) + "\n")
    return exit_status(runs, v)


if __name__ == "__main__":
    sys.exit(main())
