"""How a request ended: one `Outcome` per request, built by a pipeline stage.

Every request ends in exactly one outcome, and `Settler.settle`
(`crawler/engine/settle.py`) is the only place that acts on it: the
frontier state, the counters, the `errors` rows, the page row, the items
and the requests to follow, together.

| outcome | frontier state | page row | counts towards max_pages |
|---|---|---|---|
| stored (a page, even a 404) | done | yes | yes |
| redirected (a 3xx hop) | done | yes, no body | no |
| too large | done | yes, no body | yes |
| skipped (non-HTML with `store.non_html: skip`) | done | no | no |
| read (a sitemap) | done | no | no |
| retry later | stays leased | no | no |
| failed (no response, tries used up) | failed | no | no |
| refused (robots.txt, a budget) | dropped | no | no |
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from crawler.engine import redirects
from crawler.models import Item, Request, Response
from crawler.store.records import PageRecord

State = Literal["done", "failed", "dropped", "retry"]


@dataclass(slots=True)
class Failure:
    """What goes into one `errors` row (the request gives its URL, depth and referrer)."""

    kind: str
    message: str
    status: int | None = None
    tries: int = 1
    traceback: str | None = None
    url: str | None = None  # another URL than the request's: where a redirect chain began


@dataclass(slots=True)
class Outcome:
    """The end of one request (see the table in the module docstring)."""

    state: State
    page: PageRecord | None = None
    counts: bool = False  # a page towards limits.max_pages
    noindex: bool = False  # stored without title, text and body (robots noindex)
    errors: list[Failure] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    follow: list[Request | str] = field(default_factory=list)  # what the callback yielded
    unfollowed: list[str] = field(default_factory=list)  # kept back by nofollow directives
    hop: Request | None = None  # a redirect's next hop
    dropped: str | None = None  # counted under stats.dropped (non_html, robots, budgets)
    reason: str | None = None  # retry: why this attempt failed
    retry_after: float | None = None  # retry: a Retry-After, in seconds
    response: Response | None = None


def retry(reason: str, retry_after: float | None = None) -> Outcome:
    return Outcome("retry", reason=reason, retry_after=retry_after)


def failed(request: Request, kind: str, message: str) -> Outcome:
    """No response, and no more tries: the errors row lists every attempt."""
    return Outcome("failed", errors=[attempts_failure(request, kind, message)])


def refused(request: Request, reason: str, *, counted: str = "robots") -> Outcome:
    """Refused at dispatch by robots.txt; a redirect hop also says where its chain went."""
    errors = [Failure("robots", reason)]
    if request.redirects:  # say where the chain was going, under the URL it began at
        errors.append(Failure("redirect", redirects.describe(request.redirects, request.url)
                              + ": refused by robots.txt", url=redirects.origin(request)))
    return Outcome("dropped", errors=errors, dropped=counted)


def over_budget(reason: str) -> Outcome:
    """Refused at dispatch: its host or URL pattern has had its share."""
    return Outcome("dropped", dropped=reason)


def attempts_failure(request: Request, kind: str, last: str, *,
                     status: int | None = None) -> Failure:
    """A failure of this attempt, with every earlier attempt's reason in the message."""
    return Failure(kind, attempts(request, last), status=status, tries=request.tries + 1)


def attempts(request: Request, last: str) -> str:
    """The error message: the last failure, or every attempt's when it was retried."""
    if not request.failures:
        return last
    every = (*request.failures, last)
    return "; ".join(f"attempt {i}: {why}" for i, why in enumerate(every, 1))
