"""Rendering benchmark: a script-built site crawled by ours (always, auto) and Crawlee.

    .venv/bin/python benchmarks/render.py --pages 300 --runs 1

The site (nginx on 127.0.0.1) is a shell per page whose script fetches the
page's JSON and builds its title, text and links from it, then adds `#done`.
Each crawler waits for `#done`, uses one Chromium (the system's, the same
binary and flags for both) with 4 pages at once, and crawls until the site is
exhausted. For each run: pages found, wall time, pages/s, CPU seconds of the
whole process tree (crawler, driver, browser: RUSAGE_CHILDREN), peak PSS of
the tree, and the tree's PSS over the run (early and late) to show whether
browser memory stays flat.

Crawlee (npm `crawlee` + `playwright`) is installed into /tmp/crawlee-bench
the first time (no browser download: it is pointed at the same Chromium).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nginx import NginxServer, ensure_nginx, free_port

from crawler.fetch.browser import find_executable, launch_args

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "benchmarks" / "out"
CRAWLEE_DIR = Path("/tmp/crawlee-bench")
CONCURRENCY = 4

APP_JS = """
const n = location.pathname.match(/(\\d+)/)[1];
fetch(`/data/${n}.json`).then(r => r.json()).then(d => {
  document.title = d.title;
  const app = document.getElementById('app');
  app.innerHTML = `<h1>${d.title}</h1>` + d.paragraphs.map(p => `<p>${p}</p>`).join('') +
    '<ul>' + d.links.map(l => `<li><a href="/p/${l}.html">page ${l}</a></li>`).join('') + '</ul>';
  const done = document.createElement('span'); done.id = 'done'; app.append(done);
});
"""

CRAWLEE_JS = """
import { PlaywrightCrawler, Configuration } from 'crawlee';
const [start, max, exe, args] = [process.argv[2], Number(process.argv[3]), process.argv[4],
                                 JSON.parse(process.argv[5])];
let found = 0;
const crawler = new PlaywrightCrawler({
  maxConcurrency: %(concurrency)d, minConcurrency: %(concurrency)d, maxRequestsPerCrawl: max,
  maxRequestRetries: 0, navigationTimeoutSecs: 30, requestHandlerTimeoutSecs: 30,
  browserPoolOptions: { useFingerprints: false },
  launchContext: { launchOptions: { executablePath: exe, headless: true, args } },
  async requestHandler({ page, request, enqueueLinks, pushData }) {
    await page.waitForSelector('#done', { state: 'attached' });
    found += 1;
    await pushData({ url: request.url, title: await page.title(),
                     text: await page.innerText('body') });
    await enqueueLinks({ strategy: 'same-origin' });
  },
}, new Configuration({ persistStorage: true, purgeOnStart: true }));
await crawler.run([start]);
console.log(JSON.stringify({ found }));
"""


def make_site(root: Path, pages: int, seed: int = 7) -> None:
    """Page n links to n+1, 2n, 2n+1 and two random pages: all reachable from page 0."""
    rng = random.Random(seed)
    (root / "p").mkdir(parents=True, exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "app.js").write_text(APP_JS)
    shell = ("<!doctype html><html><head><title>loading</title></head><body>"
             "<div id='app'></div><noscript>This site needs JavaScript.</noscript>"
             "<script src='/app.js'></script></body></html>")
    words = [f"w{n}" for n in range(400)]
    for n in range(pages):
        links = sorted({m for m in (n + 1, 2 * n, 2 * n + 1, rng.randrange(pages),
                                    rng.randrange(pages)) if 0 <= m < pages and m != n})
        data = {"title": f"Page {n}", "links": links,
                "paragraphs": [" ".join(rng.choices(words, k=60)) for _ in range(5)]}
        (root / "p" / f"{n}.html").write_text(shell)
        (root / "data" / f"{n}.json").write_text(json.dumps(data))


class TreeMemory:
    """Samples the PSS of a process and all its descendants until stopped."""

    def __init__(self, pid: int, every: float = 0.25) -> None:
        self.pid, self.every = pid, every
        self.samples: list[tuple[float, int]] = []  # (seconds since start, bytes)
        self.peak_by: dict[str, int] = {}  # at the peak: PSS by program (python, node, chromium)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> TreeMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(self.every):
            by = tree_pss(self.pid)
            total = sum(by.values())
            if total > self.peak:
                self.peak_by = by
            self.samples.append((time.monotonic() - started, total))

    @property
    def peak(self) -> int:
        return max((b for _, b in self.samples), default=0)

    def quarter(self, q: int) -> int:
        """Mean PSS over the q-th quarter of the run (1..4)."""
        n = len(self.samples)
        part = self.samples[(q - 1) * n // 4: q * n // 4] or self.samples[-1:]
        return sum(b for _, b in part) // max(1, len(part))


def tree_pss(pid: int) -> dict[str, int]:
    """PSS of `pid` and its descendants, by program: python, node, chromium."""
    by: dict[str, int] = {}
    for p in [pid, *descendants(pid)]:
        try:
            program = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0].decode()
            name = (program.split() or [""])[0].rsplit("/", 1)[-1]
            for line in Path(f"/proc/{p}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    kind = next((k for k in ("python", "node", "chrom") if k in name), "other")
                    by[kind] = by.get(kind, 0) + int(line.split()[1]) * 1024
        except OSError:
            pass
    return by


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rpartition(")")[2].split()[1]), []).append(int(entry))
    out, stack = [], list(children.get(pid, []))
    while stack:
        child = stack.pop()
        out.append(child)
        stack.extend(children.get(child, []))
    return out


def measure(command: list[str], cwd: Path, timeout: float) -> dict[str, object]:
    """Run `command`; wall time, CPU of its whole (reaped) tree, peak and quartile PSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    proc = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    with TreeMemory(proc.pid) as memory:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode != 0:
        print(stderr.decode(errors="replace")[-2000:], file=sys.stderr)
    return {"wall": wall, "cpu": cpu, "peak_pss": memory.peak, "rc": proc.returncode,
            "peak_by": memory.peak_by,
            "pss_quarters": [memory.quarter(q) for q in (1, 2, 3, 4)],
            "stdout": stdout.decode(errors="replace")}


def run_ours(mode: str, start: str, work: Path, timeout: float) -> dict[str, object]:
    db = work / f"ours-{mode}.db"
    db.unlink(missing_ok=True)
    config = work / f"ours-{mode}.yaml"
    config.write_text(json.dumps({
        "name": f"render-{mode}", "start_urls": [start], "output": str(db),
        "politeness": {"robots_txt": "ignore", "per_host_delay": 0, "per_host_concurrency": 8},
        "fetch": {"concurrency": 8, "render": mode, "browser_concurrency": CONCURRENCY,
                  "render_wait_for": "#done", "render_settle": 0, "retries": 0},
        "store": {"body": True, "text": True, "links": True},
    }))
    result = measure([sys.executable, "-m", "crawler", "run", str(config), "-q"], REPO, timeout)
    import sqlite3
    with sqlite3.connect(db) as con:
        result["found"] = con.execute("SELECT count(*) FROM pages WHERE status = 200").fetchone()[0]
        result["rendered"] = con.execute(
            "SELECT count(*) FROM pages WHERE fetched_by = 'browser'").fetchone()[0]
        result["with_text"] = con.execute(
            "SELECT count(*) FROM pages WHERE text LIKE '%w%'").fetchone()[0]
    return result


def ensure_crawlee() -> None:
    if (CRAWLEE_DIR / "node_modules" / "crawlee").is_dir():
        return
    CRAWLEE_DIR.mkdir(parents=True, exist_ok=True)
    (CRAWLEE_DIR / "package.json").write_text('{"name": "bench", "type": "module"}')
    env = dict(os.environ, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    subprocess.run(["npm", "install", "--silent", "crawlee", "playwright"], cwd=CRAWLEE_DIR,
                   env=env, check=True)


def run_crawlee(start: str, pages: int, exe: str, timeout: float) -> dict[str, object]:
    script = CRAWLEE_DIR / "crawl.mjs"
    script.write_text(CRAWLEE_JS % {"concurrency": CONCURRENCY})
    shutil.rmtree(CRAWLEE_DIR / "storage", ignore_errors=True)
    result = measure(["node", str(script), start, str(pages + 10), exe,
                      json.dumps(launch_args())], CRAWLEE_DIR, timeout)
    last = [line for line in str(result["stdout"]).splitlines() if line.startswith("{")]
    result["found"] = json.loads(last[-1])["found"] if last else 0
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=300)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--only", nargs="+", default=["always", "auto", "crawlee"])
    parser.add_argument("--timeout", type=float, default=600)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    ensure_nginx()
    if "crawlee" in args.only:
        ensure_crawlee()
    exe = find_executable(None)
    site = OUT / f"render-site-{args.pages}"
    if not (site / "app.js").exists():
        make_site(site, args.pages)
    work = OUT / "render-work"
    work.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, object]] = []
    with NginxServer(site, free_port()) as nginx:
        start = nginx.url("/p/0.html")
        for run in range(args.runs):
            for who in args.only:
                nginx.reset_log()
                result = (run_crawlee(start, args.pages, exe, args.timeout) if who == "crawlee"
                          else run_ours(who, start, work, args.timeout))
                entries = nginx.log_entries()
                result.update(who=who, run=run + 1,
                              app_js=sum(e.uri == "/app.js" for e in entries),
                              documents=sum(e.uri.startswith("/p/") for e in entries))
                result.pop("stdout", None)
                results.append(result)
                report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


def report(r: dict[str, object]) -> None:
    found, wall, cpu = int(r["found"]), float(r["wall"]), float(r["cpu"])
    quarters = " ".join(f"{int(q) / 2**20:.0f}" for q in r["pss_quarters"])  # type: ignore[union-attr]
    print(f"{r['who']:>8} run {r['run']}: {found} pages in {wall:.1f}s = {found / wall:.1f} "
          f"pages/s, CPU {cpu:.1f}s ({1000 * cpu / max(found, 1):.0f} ms/page), peak PSS "
          f"{int(r['peak_pss']) / 2**20:.0f} MB (by quarter: {quarters} MB), "
          f"app.js served {r['app_js']}x, documents {r['documents']}, at the peak "
          + " ".join(f"{k} {v / 2**20:.0f} MB" for k, v in dict(r["peak_by"]).items())
          + (f", rendered {r['rendered']}" if "rendered" in r else ""), flush=True)


if __name__ == "__main__":
    main()
