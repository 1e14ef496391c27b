"""Fetching a URL list: `crawler fetch` and `crawler.fetch_all` against the tutorial gather loop.

Every page of the throughput benchmark's site (served by nginx on 127.0.0.1)
is put in a list, and fetched, alternately, by:

- ``fetch``: ``crawler fetch -i urls.txt -o DB`` (bodies, text, links and the
  full-text index stored; politeness off: 64 per host, no delay, no robots.txt);
- ``fetch_all``: ``async for response in crawler.fetch_all(urls)``, nothing
  stored (a temporary file holds the engine's batches), each body's length read;
- ``gather``: what every asyncio tutorial does: one aiohttp session,
  ``asyncio.gather`` over all URLs under a ``Semaphore(64)``, each body read.

nginx's log must show each URL fetched exactly once. Reported per run and as
medians: pages/s, CPU-ms per page and peak RSS (``wait4``)::

    .venv/bin/python benchmarks/fetch_list.py --pages 5000 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import nginx
import throughput as tp

SETTINGS = {"politeness.robots_txt": "ignore", "politeness.per_host_concurrency": 64,
            "politeness.per_host_delay": 0, "fetch.concurrency": 64}
CONTENDERS = ("fetch", "fetch_all", "gather")


def command(name: str, urls: Path, db: Path) -> list[str]:
    if name == "fetch":
        script = Path(sys.executable).parent / "crawler"
        prefix = [str(script)] if script.exists() else [sys.executable, "-m", "crawler"]
        flags = [arg for key, value in SETTINGS.items() for arg in ("-s", f"{key}={value}")]
        return [*prefix, "fetch", "-i", str(urls), "-o", str(db), "-q", *flags]
    return [sys.executable, str(Path(__file__)), f"_{name}", str(urls)]


async def run_fetch_all(urls: list[str]) -> int:
    import crawler
    got = 0
    async for response in crawler.fetch_all(urls, settings=SETTINGS):
        got += len(response.body) > 0
    return got


async def run_gather(urls: list[str]) -> int:
    import aiohttp
    limit = asyncio.Semaphore(64)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
        async def one(url: str) -> int:
            async with limit, session.get(url) as resp:
                return len(await resp.read()) > 0
        return sum(await asyncio.gather(*(one(url) for url in urls)))


def inner(mode: str, urls_file: str) -> int:
    urls = Path(urls_file).read_text().split()
    started = time.perf_counter()
    got = asyncio.run(run_fetch_all(urls) if mode == "_fetch_all" else run_gather(urls))
    print(f"{got} bodies in {time.perf_counter() - started:.1f}s")
    return 0 if got == len(urls) else 1


def one_run(name: str, run: int, server: nginx.NginxServer, urls: Path,
            pages: int) -> tp.RunResult:
    db = tp.OUT_DIR / f"list-{name}-{run}.db"
    log = tp.OUT_DIR / "logs" / f"list-{name}-{run}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    tp.remove_db(db)
    server.reset_log()
    m = tp.measure(command(name, urls, db), log, 600, server.cpu_seconds)
    entries = tp.settled_log(server)
    fetches = tp.check_fetches(entries, pages)
    count = len(tp.sitegen.document_paths(pages))  # the list: pages and query pages
    problems = fetches.problems()
    if m.exit_code != 0:
        problems.insert(0, f"exited with {m.exit_code} (see {log})")
    if name == "fetch":
        problems += tp.check_db(db, count)
    tp.remove_db(db)
    phases = tp.Phases.of(entries, m, count)
    return tp.RunResult(name, run, count, m.wall_s, m.cpu_s, m.maxrss_mb, m.exit_code,
                        count / m.wall_s, m.cpu_s * 1000 / count, m.loop_cpu_s * 1000 / count,
                        100 * m.server_cpu_s / m.wall_s, 100 * m.other_cpu_s / m.wall_s,
                        fetches.requests, problems, str(log),
                        phases.start_s, phases.end_s, phases.crawl_pages_per_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pages", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--port", type=int, default=tp.DEFAULT_PORT)
    args = parser.parse_args(argv)
    tp.OUT_DIR.mkdir(parents=True, exist_ok=True)
    site, port = tp.prepare_site(args)
    results: list[tp.RunResult] = []
    with nginx.NginxServer(site, port) as server:
        urls = tp.OUT_DIR / f"urls-{args.pages}.txt"
        documents = sorted(tp.sitegen.document_paths(args.pages))  # query pages too
        urls.write_text("".join(server.url(path) + "\n" for path in documents))
        print(f"{len(documents)} URLs of {server.url('/')}; {args.runs} run(s) each", flush=True)
        tp.print_header()
        for run in range(1, args.runs + 1):
            for name in CONTENDERS:
                results.append(one_run(name, run, server, urls, args.pages))
                tp.print_run(results[-1])
    summarize(results)
    tp.print_noise_warning(results)
    return 0 if all(r.ok for r in results) else 1


def summarize(results: list[tp.RunResult]) -> None:
    medians = {}
    print("\nmedians (correct runs only)")
    for name in CONTENDERS:
        runs = [r for r in results if r.crawler == name and r.ok]
        if runs:
            medians[name] = [statistics.median(getattr(r, f) for r in runs)
                             for f in ("pages_per_s", "cpu_ms_per_page", "maxrss_mb")]
            print(f"     {name:<11} {medians[name][0]:>9.1f} {medians[name][1]:>11.2f} "
                  f"{medians[name][2]:>11.1f}   ({len(runs)} runs)")
    if "gather" in medians:
        base = medians["gather"]
        for name in ("fetch", "fetch_all"):
            if name in medians:
                ours = medians[name]
                print(f"     {name}/gather: pages/s {ours[0] / base[0]:.2f}x, CPU per page "
                      f"{ours[1] / base[1]:.2f}x, peak RSS {ours[2] / base[2]:.2f}x")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] in ("_fetch_all", "_gather"):
        sys.exit(inner(sys.argv[1], sys.argv[2]))
    sys.exit(main())
