"""Where config values came from, so that every mistake can point at its line.

A `Doc` is one source of settings (a YAML file, a dict, the command line): its
name and, for a YAML file, the 1-based line of each key and value by key path.
Validators never format a location themselves; they ask the `Doc` for an error
at a path, which reads `configs/x.yaml:12: fetch.concurency: unknown key`.

A validator raises at the first mistake in its value; the readers of
containers (a section's keys, a list's items, the rules) read each part
`with doc.collecting():`, so one mistake is noted and the reading goes on,
and the reading ends with `doc.raise_problems()`: every mistake at once.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeAlias

from crawler.errors import ConfigError, ConfigErrors

__all__ = ["Doc", "KeyPath", "dotted"]

# ("politeness", "hosts", "*.x.com", "delay"); ints index lists: ("start_urls", 1)
KeyPath: TypeAlias = tuple[str | int, ...]


@dataclass(slots=True)
class Doc:
    """Where the values came from: a source name and the 1-based line of each key and value."""

    source: str
    key_lines: dict[KeyPath, int] = field(default_factory=dict)
    value_lines: dict[KeyPath, int] = field(default_factory=dict)
    problems: list[ConfigError] = field(default_factory=list)  # noted by collecting()

    def error(self, path: KeyPath, message: str, *, at_key: bool = False) -> ConfigError:
        """A ConfigError for the value (or key) at `path`, with its line when known."""
        return ConfigError(message, source=self.source, line=self.line(path, at_key=at_key),
                           key=dotted(path) or None)

    @contextmanager
    def collecting(self) -> Iterator[None]:
        """Note a ConfigError raised inside and go on: the part it was about is left out."""
        try:
            yield
        except ConfigErrors as exc:
            self.problems.extend(exc.errors)
        except ConfigError as exc:
            self.problems.append(exc)

    def raise_problems(self) -> None:
        """Raise what `collecting` noted: the one mistake, or ConfigErrors for several."""
        if len(self.problems) == 1:
            raise self.problems[0]
        if self.problems:
            raise ConfigErrors(list(self.problems))

    def line(self, path: KeyPath, *, at_key: bool = False) -> int | None:
        """The line of `path`, or of its nearest ancestor that has one."""
        first, second = ((self.key_lines, self.value_lines) if at_key
                         else (self.value_lines, self.key_lines))
        for depth in range(len(path), -1, -1):
            line = first.get(path[:depth]) or second.get(path[:depth])
            if line is not None:
                return line
        return None


def dotted(path: KeyPath) -> str:
    """("politeness", "hosts", "*.x.com") → "politeness.hosts['*.x.com']"; ints → "[0]"."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif re.fullmatch(r"[\w-]+", part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text
