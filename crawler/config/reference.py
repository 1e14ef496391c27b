"""The README's configuration reference table, generated from the key declarations.

    python -m crawler.config.reference                    # print the table
    python -m crawler.config.reference --write README.md  # replace the table in the file

One row per key declared with `key()` in `crawler.config.model`, sections
expanded, in declaration order: the dotted key, its default (the plain value,
or the declaration's `shown`) and its documentation. tests/test_config.py
checks that README.md holds exactly this table, so the two cannot drift.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crawler.config.checks import Key, keys_of
from crawler.config.loader import read_yaml
from crawler.config.model import CrawlConfig
from crawler.config.source import Doc, KeyPath, dotted

__all__ = ["HEADER", "check_shown", "main", "rows", "table", "table_in", "with_table"]

HEADER = "| key | default | meaning |"
_DIVIDER = "|---|---|---|"


def rows() -> list[tuple[str, str, str]]:
    """(key, default, meaning) in markdown for every key, sections expanded."""
    defaults = CrawlConfig()
    plain = defaults.to_json_dict()  # the defaults as a config file would write them
    found = []
    for name, declared in keys_of(CrawlConfig).items():
        if declared.section is None:
            found.append(_row((name,), declared, getattr(defaults, name), plain[name]))
            continue
        section = getattr(defaults, name)
        for inner, key in keys_of(declared.section).items():
            found.append(_row((name, inner), key, getattr(section, inner), plain[name][inner]))
    return found


def table() -> str:
    """The whole markdown table, header included, ending in a newline."""
    lines = [HEADER, _DIVIDER]
    lines += ["| " + " | ".join(cell.replace("|", r"\|") for cell in row) + " |"
              for row in rows()]
    return "\n".join(lines) + "\n"


def table_in(text: str) -> str:
    """The reference table as written in `text` (a README): its header and every row."""
    start, end = _span(text)
    return "".join(text.splitlines(keepends=True)[start:end])


def with_table(text: str) -> str:
    """`text` with its reference table replaced by the generated one."""
    start, end = _span(text)
    lines = text.splitlines(keepends=True)
    return "".join([*lines[:start], table(), *lines[end:]])


def check_shown(path: KeyPath, key: Key, default: Any) -> None:
    """Raise ValueError unless a literal `shown` ("`30s`") is the key's real default.

    The literal is read as YAML and through the key's validator, like a value
    in a config file, so the README cannot claim a default the code does not have.
    """
    literal = re.fullmatch(r"`([^`]+)`", key.shown or "")
    if literal is None or default is None:
        return  # prose ("unlimited", "the file's name") or a default decided at run time
    doc = Doc(f"shown={key.shown!r}")
    value = key.check(doc, path, read_yaml(literal.group(1), doc.source)[0])
    doc.raise_problems()
    if value != default:
        raise ValueError(f"{dotted(path)}: shown={key.shown!r} reads back as {value!r}, "
                         f"but the default is {default!r}")


def main(argv: Sequence[str] | None = None) -> int:
    """Print the table, or with --write replace it in a README."""
    parser = argparse.ArgumentParser(prog="python -m crawler.config.reference",
                                     description="The configuration reference table.")
    parser.add_argument("--write", metavar="README", type=Path,
                        help="replace the table in this file instead of printing it")
    args = parser.parse_args(argv)
    if args.write is None:
        sys.stdout.write(table())
        return 0
    text = args.write.read_text(encoding="utf-8")
    args.write.write_text(with_table(text), encoding="utf-8")
    return 0


def _row(path: KeyPath, key: Key, default: Any, plain: Any) -> tuple[str, str, str]:
    """One row; the default is its plain value (strings bare, the rest as JSON) unless shown."""
    if key.shown is None:
        shown = plain if isinstance(plain, str) else json.dumps(plain, ensure_ascii=False)
        return f"`{dotted(path)}`", f"`{shown}`", key.doc
    check_shown(path, key, default)
    return f"`{dotted(path)}`", key.shown, key.doc


def _span(text: str) -> tuple[int, int]:
    """The first and past-the-last line of the table: the header and the rows under it."""
    lines = text.splitlines()
    if HEADER not in lines:
        raise ValueError(f"no configuration reference table (a line {HEADER!r}) found")
    start = end = lines.index(HEADER)
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return start, end


if __name__ == "__main__":
    sys.exit(main())
