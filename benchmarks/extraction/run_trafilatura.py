"""Run trafilatura on pages, for evaluate.py: a JSON job on stdin, results on stdout.

Runs under the Python of a throwaway venv that has trafilatura (never the
project's), so the project does not depend on it:

    python3 -m venv /tmp/trafilatura-venv
    /tmp/trafilatura-venv/bin/pip install trafilatura lxml_html_clean

Input: {"pages": [{"id": ..., "path": ..., "url": ...}], "repeat": N}; a path
ending in .gz is gunzipped. Output: {"version": ..., "pages": {id: {"text":
..., "ms": CPU milliseconds of extract(), the least of N runs}}}.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path

import trafilatura


def main() -> None:
    job = json.load(sys.stdin)
    out = {}
    for page in job["pages"]:
        raw = Path(page["path"]).read_bytes()
        html = gzip.decompress(raw) if page["path"].endswith(".gz") else raw
        best, text = float("inf"), ""
        for _ in range(job.get("repeat", 1)):
            start = time.process_time()
            text = trafilatura.extract(html, url=page["url"]) or ""
            best = min(best, time.process_time() - start)
        out[page["id"]] = {"text": text, "ms": best * 1000}
    json.dump({"version": trafilatura.__version__, "pages": out}, sys.stdout)


if __name__ == "__main__":
    main()
