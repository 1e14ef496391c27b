"""Adaptive throttling: a host's delay follows its latency, and backs off when it struggles.

Like Scrapy's AutoThrottle, each response moves the delay halfway towards
`latency / target_concurrency`: a server that takes 0.4 s per request, with a
target of 1, ends up with one request at a time, 0.4 s apart. Unlike it, a
429, a 5xx or a timeout at least doubles the delay at once, since a server
that says it is overloaded should not have to say it for long.

The delay never leaves [floor, cap]: the floor is the host's configured delay
raised by its Crawl-delay (both are promises: the user's and the site's), the
cap is `politeness.max_delay`. When the floor is above the cap, the floor wins.
"""

from __future__ import annotations

FIRST_BACKOFF = 0.1  # seconds: what "doubling" a zero delay gives


def overloaded(status: int | None) -> bool:
    """A 429, a 5xx, or no answer in time (None)."""
    return status is None or status == 429 or status >= 500


def adapt(delay: float, latency: float, status: int | None, *, target_concurrency: float,
          floor: float, cap: float) -> float:
    """The host's next delay after a response that took `latency` seconds (status None: timeout)."""
    if overloaded(status):
        new = max(2 * delay, FIRST_BACKOFF)
    else:
        new = (delay + latency / target_concurrency) / 2
        if not 200 <= (status or 0) < 300 and new < delay:
            # Error pages are small and fast: they must not speed the crawl up.
            new = delay
    return max(floor, min(new, cap))
