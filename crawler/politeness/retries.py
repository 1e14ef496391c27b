"""When to try a request again and how long to wait first.

Exponential back-off with jitter (so many failed requests do not return at the
same instant), and Retry-After as RFC 9110 §10.2.3 defines it: a number of
seconds or an HTTP date.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRYABLE_KINDS = frozenset({"connection", "timeout"})
RETRY_AFTER_STATUSES = frozenset({429, 503})


def backoff_delay(tries: int, *, base: float, cap: float,
                  rng: random.Random | None = None) -> float:
    """Seconds to wait before attempt `tries + 1`: base * 2**(tries-1), capped, times 0.5-1.5."""
    delay = min(cap, base * 2 ** max(0, tries - 1))
    return delay * (rng or random).uniform(0.5, 1.5)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds a Retry-After header asks for, or None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
