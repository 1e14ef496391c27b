"""The one exit of every request: `Settler.settle(request, outcome)`.

Whatever happened to a request (stored, redirected, retried, failed,
skipped, refused), this is where its consequences are written, together
and in one order: the page row, the `errors` rows, the items, the requests
to follow, the counters, the hooks, and last the frontier state, which goes
into the same store batch as the page. Synchronous: everything here buffers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from crawler.engine import redirects
from crawler.engine.outcome import Failure, Outcome
from crawler.hooks import Hook, Hooks, name_of
from crawler.models import SITEMAP, Request
from crawler.politeness.retries import RetryPolicy
from crawler.stats import CrawlStats
from crawler.store.records import ErrorRecord, ItemRecord, PageRecord, Record

if TYPE_CHECKING:
    from crawler.html.parser import ParsedPage


def count_drop(stats: CrawlStats, hooks: Hooks, url: str, reason: str) -> None:
    """Count a URL that is not crawled under its reason, and tell the hooks."""
    stats.dropped[reason] += 1
    if hooks.request_dropped:
        hooks.emit("request_dropped", url, reason)


class Follower(Protocol):
    """What settling needs of the scheduler."""

    def schedule(self, request: Request, parent: Request | None = None) -> str | None: ...

    def schedule_url(self, url: str, parent: Request) -> str | None: ...

    def schedule_urls(self, urls: Sequence[str], parent: Request,
                      page: ParsedPage | None = None) -> None: ...

    def retry(self, request: Request, delay: float, *, cool_host: float | None = None
              ) -> None: ...


class Settler:
    """Writes each request's outcome: records, counters, hooks, follow-ups, frontier state."""

    def __init__(self, *, write: Callable[[Record], None],
                 frontier_settle: Callable[[Request, str], None], scheduler: Follower,
                 stats: CrawlStats, hooks: Hooks, retries: RetryPolicy) -> None:
        self._write = write
        self._frontier_settle = frontier_settle
        self._scheduler = scheduler
        self._stats = stats
        self._hooks = hooks
        self._retries = retries

    def settle(self, request: Request, outcome: Outcome) -> None:
        if outcome.state == "retry":
            self._retry(request, outcome)  # its frontier row stays leased meanwhile
            return
        page_id = self._page(outcome) if outcome.page is not None else None
        for failure in outcome.errors:
            self.error(request, failure)
        self._items(outcome, page_id)
        if not self._follow(request, outcome):  # a redirect hop taken goes on
            self._stats.ended += 1
        if outcome.dropped is not None:
            self.dropped(request.url, outcome.dropped)
        if request.kind == SITEMAP and outcome.dropped == "robots":
            self._stats.sitemaps["not_fetched"] += 1
        self._frontier_settle(request, outcome.state)

    def error(self, request: Request, failure: Failure, *, emit: bool = True) -> None:
        """One `errors` row about `request` (also for requests that never got a frontier row)."""
        record = ErrorRecord(
            url=failure.url or request.url, kind=failure.kind, message=failure.message,
            status=failure.status, tries=failure.tries, traceback=failure.traceback,
            depth=request.depth, referrer=request.referrer)
        self._write(record)
        self._stats.count_error(failure.kind)
        if emit and self._hooks.error:
            self._hooks.emit("error", record)

    def hook_failed(self, event: str, hook: Hook, exc: BaseException, text: str,
                    args: tuple[Any, ...]) -> None:
        """A hook raised: an errors row of kind `hook` (not passed to `error` hooks again)."""
        url = next((getattr(a, "url", None) for a in args if getattr(a, "url", None)), None)
        url = url or next((a for a in args if isinstance(a, str)), "")
        self.error(Request(url), Failure(
            "hook", f"{event} hook {name_of(hook)}: {type(exc).__name__}: {exc}",
            traceback=text), emit=False)

    def dropped(self, url: str, reason: str) -> None:
        count_drop(self._stats, self._hooks, url, reason)

    def _retry(self, request: Request, outcome: Outcome) -> None:
        request.tries += 1
        request.failures = (*request.failures, outcome.reason or "failed")
        delay, cool = self._retries.wait(request.tries, outcome.retry_after)
        self._scheduler.retry(request, delay, cool_host=cool)
        self._stats.retries += 1

    def _page(self, outcome: Outcome) -> int | None:
        page: PageRecord = outcome.page  # type: ignore[assignment]
        self._write(page)  # the SQLite store numbers it
        stats = self._stats
        stats.pages += 1
        stats.noindex += outcome.noindex
        stats.bytes += page.size
        stats.by_status[page.status] += 1
        if self._hooks.page_stored:
            self._hooks.emit("page_stored", page)
        return page.id

    def _items(self, outcome: Outcome, page_id: int | None) -> None:
        url = outcome.response.url if outcome.response is not None else None
        for item in outcome.items:
            self._write(ItemRecord(item.type, item.data, url=url, page_id=page_id))
            if self._hooks.item:
                self._hooks.emit("item", item, outcome.response)
        self._stats.items += len(outcome.items)

    def _follow(self, request: Request, outcome: Outcome) -> bool:
        """Schedule what the callback yielded and a redirect's hop; True if the hop was taken."""
        scheduler = self._scheduler
        follow = outcome.follow
        if all(isinstance(new, str) for new in follow):  # the default parse: links only
            page = outcome.response.parsed_page if outcome.response is not None else None
            scheduler.schedule_urls(follow, request, page)  # type: ignore[arg-type]
        else:
            for new in follow:
                if isinstance(new, str):
                    scheduler.schedule_url(new, request)
                else:
                    scheduler.schedule(new, parent=request)
        for url in outcome.unfollowed:
            self.dropped(url, "nofollow")
        return outcome.hop is not None and self._hop(request, outcome.hop, outcome)

    def _hop(self, request: Request, hop: Request, outcome: Outcome) -> bool:
        """Schedule a redirect's target like a link; say so when it is not taken.

        A target already seen is not an error: its page is in the database,
        and this 3xx row's Location leads to it.
        """
        reason = self._scheduler.schedule(hop)
        if reason is None or reason == "duplicate":
            return reason is None
        status = outcome.page.status if outcome.page is not None else None
        self.error(request, Failure(
            "redirect", redirects.describe(hop.redirects, hop.url) + f": not followed ({reason})",
            status=status, url=redirects.origin(request)))
        return False
