"""Main content: how well we find it (word-shingle F1 against human labels) and at what cost.

    .venv/bin/python benchmarks/extraction/evaluate.py                 # our labelled pages
    .venv/bin/python benchmarks/extraction/evaluate.py --public DIR    # + a public labelled set
        --trafilatura /tmp/trafilatura-venv/bin/python                 # + trafilatura, same run
        --crawl                                                        # + whole-crawl CPU per page

Sets of pages:

- `ours`: `tests/data/pages/*.html`, each with its label `*.txt` (the text a
  reader would call the content), in the shapes of real sites: news, blog,
  docs, forum thread, product page, listing, Chinese and Arabic articles.
- `public-dev` / `public-test`: a public labelled set in the layout of
  scrapinghub's article-extraction-benchmark (`ground-truth.json` with an
  `articleBody` per id, `html/<id>.html.gz`), read from `--public DIR` and
  never committed. Pages whose id starts with 0-7 are `dev` (looked at while
  tuning), 8-f are `test` (only scored).

Score: the benchmark's own metric. Each text is cut into shingles of 4
`\\w+` tokens; per page, true positives, false positives and false negatives
are counted over shingles and normalised to sum to 1; precision and recall
are averaged over pages, and F1 is computed from the two averages. Our side
is the Markdown's text (`crawler.html.markdown.plain_text`: link targets,
images and Markdown marks taken out); the headline our Markdown starts with
counts against us where a label leaves it out.

Cost: CPU time (`time.process_time`, least of `--repeat` runs) per page of
parsing with Lexbor and of finding the main content and rendering it; for
trafilatura, of `trafilatura.extract(html)` (its own parsing included). With
`--crawl`, every page is served by nginx on 127.0.0.1 and crawled by the
crawler with `store.markdown` on and off (bodies, text, links, metadata and
the search index stored), and the crawl's whole CPU time per page is
reported: fetching, parsing, extracting, writing SQLite (with the garbage
collector set as `crawler run` sets it). Each round crawls with Markdown,
without, and runs trafilatura over the same pages once, so the ratio is
taken under the same load; medians of `--runs` rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import gzip
import json
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from selectolax.lexbor import LexborHTMLParser  # noqa: E402

from crawler.html.main_content import find_main  # noqa: E402
from crawler.html.markdown import html_to_markdown, plain_text  # noqa: E402

OURS = ROOT / "tests" / "data" / "pages"
SITE = ROOT / "benchmarks" / "out" / "extraction-site"
_TOKEN = re.compile(r"\w+")
_HEADLINE = re.compile(r"\A[^\n]*\n")  # plain_text has taken the "# " off


@dataclass
class Page:
    set: str
    id: str
    path: Path
    url: str
    label: str
    html: bytes = b""


@dataclass
class Result:
    text: str
    ms: float  # extraction CPU per page
    parse_ms: float = 0.0
    headline: bool = False  # the Markdown starts with a `# headline`


@dataclass
class Scores:
    triples: list[tuple[float, float, float]] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)

    def summary(self) -> dict[str, float]:
        # As the benchmark does: an empty answer counts towards recall only.
        precision = statistics.mean([tp / (tp + fp) for tp, fp, _ in self.triples
                                     if tp + fp > 0] or [0.0])
        recall = statistics.mean([tp / (tp + fn) for tp, _, fn in self.triples
                                  if tp + fn > 0] or [0.0])
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        return {"pages": len(self.triples), "f1": f1, "precision": precision,
                "recall": recall, "ms": statistics.mean(self.ms) if self.ms else 0.0}


# -- pages ---------------------------------------------------------------------


def our_pages() -> list[Page]:
    return [Page("ours", html.stem, html, f"https://{html.stem}.example/page",
                 html.with_suffix(".txt").read_text(encoding="utf-8"))
            for html in sorted(OURS.glob("*.html"))]


def public_pages(directory: Path) -> list[Page]:
    truth = json.loads((directory / "ground-truth.json").read_text(encoding="utf-8"))
    return [Page("public-dev" if key[0] in "01234567" else "public-test", key,
                 directory / "html" / f"{key}.html.gz", value.get("url") or "",
                 value.get("articleBody") or "")
            for key, value in sorted(truth.items())]


def load(page: Page) -> bytes:
    raw = page.path.read_bytes()
    return gzip.decompress(raw) if page.path.suffix == ".gz" else raw


# -- scoring -------------------------------------------------------------------


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text or "")
    return Counter(tuple(tokens[i:i + n]) for i in range(max(1, len(tokens) - n + 1))
                   if tokens[i:i + n])


def score(label: str, text: str) -> tuple[float, float, float]:
    """(tp, fp, fn) over shingles, normalised to sum to 1 (the benchmark's metric)."""
    want, got = shingles(label), shingles(text)
    tp = sum((want & got).values())
    fp = sum((got - want).values())
    fn = sum((want - got).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


# -- extractors ----------------------------------------------------------------


def ours(pages: list[Page], repeat: int) -> dict[str, Result]:
    out = {}
    for page in pages:
        parse_ms = extract_ms = float("inf")
        markdown = ""
        for _ in range(repeat):
            start = time.process_time()
            tree = LexborHTMLParser(page.html)
            middle = time.process_time()
            markdown = html_to_markdown(tree, page.url, find_main(tree))
            end = time.process_time()
            parse_ms, extract_ms = min(parse_ms, middle - start), min(extract_ms, end - middle)
        out[page.id] = Result(plain_text(markdown), extract_ms * 1000, parse_ms * 1000,
                              markdown.startswith("# "))
    return out


def without_headline(results: dict[str, Result]) -> dict[str, Result]:
    """Our texts without the `# headline` they start with (labels that leave it out)."""
    return {key: Result(_HEADLINE.sub("", r.text, count=1) if r.headline else r.text, r.ms,
                        r.parse_ms) for key, r in results.items()}


def trafilatura(python: str, pages: list[Page], repeat: int) -> tuple[str, dict[str, Result]]:
    job = {"repeat": repeat, "pages": [{"id": p.id, "path": str(p.path), "url": p.url}
                                       for p in pages]}
    runner = Path(__file__).with_name("run_trafilatura.py")
    done = subprocess.run([python, str(runner)], input=json.dumps(job), capture_output=True,
                          text=True, check=True, timeout=3600)
    answer = json.loads(done.stdout)
    return answer["version"], {key: Result(value["text"], value["ms"])
                               for key, value in answer["pages"].items()}


def tally(pages: list[Page], results: dict[str, Result]) -> dict[str, Scores]:
    by_set: dict[str, Scores] = {}
    for page in pages:
        result = results[page.id]
        scores = by_set.setdefault(page.set, Scores())
        scores.triples.append(score(page.label, result.text))
        scores.ms.append(result.ms)
    return by_set


# -- the crawl -----------------------------------------------------------------


def build_site(pages: list[Page]) -> list[str]:
    """Every page under /p/, and an index linking them all; returns the paths."""
    shutil.rmtree(SITE, ignore_errors=True)
    (SITE / "p").mkdir(parents=True)
    paths = []
    for page in pages:
        path = f"/p/{page.set}-{page.id}.html"
        (SITE / path.lstrip("/")).write_bytes(page.html)
        paths.append(path)
    links = "".join(f'<li><a href="{p}">{p}</a></li>' for p in paths)
    (SITE / "index.html").write_text(f"<html><body><ul>{links}</ul></body></html>")
    return paths


def crawl_cpu(base: str, markdown: bool, pages: int) -> float:
    """CPU milliseconds per page of one crawl of the site (this process, all threads)."""
    import crawler
    from crawler.config import config_from_dict

    config = config_from_dict({
        "name": "extraction", "start_urls": [f"{base}/index.html"],
        "politeness": {"robots_txt": "ignore", "per_host_delay": 0, "per_host_concurrency": 8},
        "scope": {"max_depth": 1}, "limits": {"max_pages": pages + 10},
        "store": {"markdown": markdown}})
    with tempfile.TemporaryDirectory() as tmp:
        before = resource.getrusage(resource.RUSAGE_SELF)
        stats = asyncio.run(crawler.crawl(config=config, output=Path(tmp) / "x.db"))
        after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu * 1000 / max(1, stats.pages)


def crawl_costs(pages: list[Page], runs: int, trafilatura_python: str | None
                ) -> dict[str, float]:
    """Medians of `runs` rounds of: a crawl with Markdown, one without, and (given a
    Python with trafilatura) one trafilatura pass over the same pages, so that a
    machine whose load changes treats all three alike."""
    from nginx import NginxServer, ensure_nginx, free_port

    ensure_nginx()
    build_site(pages)
    gc.freeze()  # the collector as `crawler run` sets it (crawler/cli/__init__.py)
    gc.set_threshold(50_000, 20, 100)
    rounds: dict[str, list[float]] = {"markdown_on": [], "markdown_off": [], "trafilatura": []}
    with NginxServer(SITE, free_port()) as server:
        base = server.base_url
        crawl_cpu(base, True, len(pages))  # warm up: imports, caches
        for _ in range(runs):
            rounds["markdown_on"].append(crawl_cpu(base, True, len(pages)))
            rounds["markdown_off"].append(crawl_cpu(base, False, len(pages)))
            if trafilatura_python:
                _, found = trafilatura(trafilatura_python, pages, 1)
                rounds["trafilatura"].append(statistics.mean(r.ms for r in found.values()))
    return {name: statistics.median(values) for name, values in rounds.items() if values}


# -- the report ----------------------------------------------------------------


def table(rows: list[tuple[str, str, dict[str, float]]]) -> str:
    lines = ["| set | extractor | pages | F1 | precision | recall | CPU ms/page |",
             "|---|---|---|---|---|---|---|"]
    for name, extractor, s in rows:
        lines.append(f"| {name} | {extractor} | {s['pages']} | {s['f1']:.3f} | "
                     f"{s['precision']:.3f} | {s['recall']:.3f} | {s['ms']:.2f} |")
    return "\n".join(lines)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--public", type=Path, metavar="DIR",
                   help="a public labelled set (ground-truth.json, html/<id>.html.gz)")
    p.add_argument("--trafilatura", metavar="PYTHON",
                   help="a Python that has trafilatura, to compare with in the same run")
    p.add_argument("--crawl", action="store_true", help="also measure whole crawls (nginx)")
    p.add_argument("--runs", type=int, default=3, help="crawls of each kind (default 3)")
    p.add_argument("--repeat", type=int, default=3, help="extractions per page, least kept")
    p.add_argument("--json", type=Path, metavar="FILE", help="write the numbers as JSON")
    p.add_argument("--show", metavar="ID", help="print our text and the label of one page")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    pages = our_pages() + (public_pages(args.public) if args.public else [])
    for page in pages:
        page.html = load(page)
    results = {"ours": ours(pages, args.repeat)}
    results["ours-body"] = without_headline(results["ours"])
    if args.show:
        page = next(p for p in pages if p.id.startswith(args.show))
        print(results["ours"][page.id].text, "\n----- label -----\n", page.label)
        return
    versions = {"ours": "this crawler", "ours-body": "this crawler, headline left out"}
    if args.trafilatura:
        version, results["trafilatura"] = trafilatura(args.trafilatura, pages, args.repeat)
        versions["trafilatura"] = f"trafilatura {version}"
    report = report_of(pages, results, versions, args)
    print(report["table"])
    print(report["cost"])
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


def report_of(pages: list[Page], results: dict[str, dict[str, Result]],
              versions: dict[str, str], args: argparse.Namespace) -> dict[str, Any]:
    rows = []
    summaries: dict[str, dict[str, Any]] = {}
    for extractor, found in results.items():
        for name, scores in sorted(tally(pages, found).items()):
            summary = scores.summary()
            summaries[f"{name}/{extractor}"] = summary
            rows.append((name, versions[extractor], summary))
    parse = statistics.mean(r.parse_ms for r in results["ours"].values())
    cost = [f"Lexbor parse: {parse:.2f} CPU ms/page (both parse and extraction are the least "
            f"of {args.repeat} runs)"]
    crawl = crawl_costs(pages, args.runs, args.trafilatura) if args.crawl else {}
    if crawl:
        cost.append(f"whole crawl, markdown on: {crawl['markdown_on']:.2f} CPU ms/page; "
                    f"markdown off: {crawl['markdown_off']:.2f}")
        if "trafilatura" in crawl:
            traf = crawl["trafilatura"]
            cost.append(f"trafilatura extract(), in the same rounds: {traf:.2f} CPU ms/page; "
                        f"the whole crawl with markdown costs {crawl['markdown_on'] / traf:.2f}x "
                        f"that (medians of {args.runs} rounds)")
    return {"table": table(rows), "cost": "\n".join(cost), "scores": summaries,
            "crawl": crawl, "parse_ms": parse}


if __name__ == "__main__":
    main()
