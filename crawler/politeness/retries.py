"""When to try a request again and how long to wait first.

Exponential back-off with jitter (so many failed requests do not return at the
same instant), and Retry-After as RFC 9110 §10.2.3 defines it: a number of
seconds or an HTTP date.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from crawler.config import FetchConfig, PolitenessConfig
from crawler.models import Request

# "browser": the browser crashed mid-render; it is restarted and the page tried again.
# "proxy": every proxy tried for the request failed.
RETRYABLE_KINDS = frozenset({"connection", "timeout", "browser", "proxy"})
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


class RetryPolicy:
    """Whether a failed attempt is tried again, and after how long (fetch.* settings)."""

    def __init__(self, fetch: FetchConfig, politeness: PolitenessConfig) -> None:
        self.fetch = fetch
        self.max_retry_after = politeness.max_retry_after

    def allows(self, request: Request, *, kind: str | None = None,
               status: int | None = None) -> bool:
        """Is this failure (an error `kind`, or an HTTP `status`) worth another try?"""
        if request.tries >= self.fetch.retries:
            return False
        if kind is not None:
            return kind in RETRYABLE_KINDS
        return status in self.fetch.retry_statuses

    def wait(self, tries: int, retry_after: float | None) -> tuple[float, float | None]:
        """(seconds before attempt `tries + 1`, seconds to cool the whole host or None)."""
        delay = backoff_delay(tries, base=self.fetch.backoff, cap=self.fetch.max_backoff)
        if retry_after is None:
            return delay, None
        cool = min(retry_after, self.max_retry_after)
        return max(delay, cool), cool


def retry_after(status: int, headers: Mapping[str, str]) -> float | None:
    """The Retry-After of a 429 or 503, in seconds; None for other answers."""
    if status not in RETRY_AFTER_STATUSES:
        return None
    return parse_retry_after(headers.get("Retry-After"))
