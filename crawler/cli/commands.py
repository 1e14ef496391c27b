"""The everyday commands beside `run` and the database ones: fetch, shell, init, report.

`register(subparsers)` adds each; every command lives in its own module.
"""

from __future__ import annotations

from typing import Any

from crawler.cli import fetch, html_report, init, shell


def register(subparsers: Any) -> None:
    """Add `fetch`, `shell`, `init` and `report` to an argparse subparsers object."""
    fetch.register(subparsers)
    shell.register(subparsers)
    init.register(subparsers)
    html_report.register(subparsers)
