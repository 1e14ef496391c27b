"""Parsing human-friendly sizes ("10MB", "1.5MiB") and durations ("30s", "1h30m").

Both parsers accept a plain non-negative number as well as a string, and raise
ValueError with a message that lists the valid forms. KB, MB and GB are powers
of 1024, exactly like KiB, MiB and GiB: nobody means 10**6 bytes by a body cap.
"""

from __future__ import annotations

import math
import re

__all__ = ["DURATION_FORMS", "SIZE_FORMS", "parse_duration", "parse_size"]

SIZE_FORMS = ("a number of bytes or a size like '10MB', '512KB', '1.5MiB' "
              "(units B, KB, MB, GB, KiB, MiB, GiB; all powers of 1024)")
DURATION_FORMS = ("a number of seconds or a duration like '30s', '30m', '2h', '1h30m', "
                  "'500ms' (units ms, s, m, h, d)")

_NUMBER = r"(?:\d+(?:\.\d*)?|\.\d+)"
_SIZE = re.compile(rf"({_NUMBER})\s*([a-z]*)", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1, "b": 1,
    "k": 1024, "kb": 1024, "kib": 1024,
    "m": 1024**2, "mb": 1024**2, "mib": 1024**2,
    "g": 1024**3, "gb": 1024**3, "gib": 1024**3,
}
_PLAIN = re.compile(_NUMBER)
_DURATION = re.compile(rf"(?:{_NUMBER}\s*(?:ms|s|m|h|d)\s*)+", re.IGNORECASE)
_DURATION_PART = re.compile(rf"({_NUMBER})\s*(ms|s|m|h|d)", re.IGNORECASE)
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_size(value: str | float) -> int:
    """Return the number of bytes in `value`: 100, "100", "512KB", "10 MB", "1.5MiB"."""
    if not isinstance(value, str):
        return int(_non_negative(value, "size", SIZE_FORMS))
    match = _SIZE.fullmatch(value.strip())
    unit = match.group(2).lower() if match else None
    if match is None or unit not in _SIZE_UNITS:
        raise _invalid("size", value, SIZE_FORMS)
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def parse_duration(value: str | float) -> float:
    """Return the seconds in `value`: 10, "1.5", "500ms", "30s", "30m", "2h", "1h30m"."""
    if not isinstance(value, str):
        return float(_non_negative(value, "duration", DURATION_FORMS))
    text = value.strip()
    if _PLAIN.fullmatch(text):
        return float(text)
    if not _DURATION.fullmatch(text):
        raise _invalid("duration", value, DURATION_FORMS)
    return sum(float(number) * _DURATION_UNITS[unit.lower()]
               for number, unit in _DURATION_PART.findall(text))


def _non_negative(value: object, kind: str, forms: str) -> float:
    """Check that a non-string `value` is a finite number >= 0 (bools are not numbers)."""
    if (isinstance(value, bool) or not isinstance(value, int | float)
            or not math.isfinite(value) or value < 0):
        raise _invalid(kind, value, forms)
    return value


def _invalid(kind: str, value: object, forms: str) -> ValueError:
    """The error for a `kind` ("size" or "duration") that cannot be read."""
    negative = (isinstance(value, str) and value.strip().startswith("-")) or (
        isinstance(value, int | float) and not isinstance(value, bool) and value < 0)
    if negative:
        return ValueError(f"a {kind} cannot be negative, got {value!r}; expected {forms}")
    return ValueError(f"invalid {kind} {value!r}: expected {forms}")
