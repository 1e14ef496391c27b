"""Run one crawl in a child process and read its peak memory from the kernel.

The parent (pytest, and the test servers in its threads) is not counted: the
child's peak RSS comes from `os.wait4`'s rusage when it exits. The child also
reports its peak RSS just before the crawl began (the interpreter and the
imports), so the difference is what the crawl itself added.

    python -m tests.peak_rss CONFIG_JSON OUTPUT_DB   # the child's side
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MIB = 1024 * 1024


@dataclass(frozen=True)
class ChildCrawl:
    """What a crawl in a child process did, and its peak memory in bytes."""

    before: int  # peak RSS when the crawl began
    peak: int  # peak RSS over the child's whole life
    stats: dict[str, Any]

    @property
    def growth(self) -> int:
        return self.peak - self.before


def crawl_in_child(config: dict[str, Any], output: Path, *, env: dict[str, str],
                   timeout: float = 60.0) -> ChildCrawl:
    """Crawl `config` into `output` in a child process; fails if it takes over `timeout`."""
    report = output.with_suffix(".report.json")
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.peak_rss", json.dumps(config), str(output), str(report)],
        env=env, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.monotonic() > deadline:
            proc.kill()
            os.wait4(proc.pid, 0)
            proc.returncode = -9
            raise AssertionError(f"the crawl in the child took over {timeout}s")
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    assert proc.returncode == 0, f"the child crawl exited with {proc.returncode}"
    data = json.loads(report.read_text())
    return ChildCrawl(before=data["before"], peak=usage.ru_maxrss * 1024, stats=data["stats"])


def _child(config_json: str, output: str, report: str) -> None:
    import resource

    import crawler
    from crawler.config import config_from_dict

    config = config_from_dict(json.loads(config_json))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    stats = crawler.run(config=config, output=output)
    Path(report).write_text(json.dumps({"before": before, "stats": stats.to_dict()}))


if __name__ == "__main__":
    _child(*sys.argv[1:])
