r"""Several fetchers behind one, chosen by URL pattern, as httpx mounts transports.

    fetcher = Mounts(http, [
        (r"^https://app\.example\.com/", browser),  # a regex, searched in the URL
        (lambda request: request.meta.get("render"), browser),  # or a predicate
    ])

The first pattern that matches takes the request; the default takes the rest.
The choice is made on the URL asked for: redirects a fetcher follows inside
one fetch stay with that fetcher. Mounts can tell when requests leave only
if every fetcher mounted can (`tell_sent`); those that can still tell.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TypeAlias

from crawler.fetch.base import PAGE, BodyStream, Fetcher, FetchOptions, Sent, tell_sent
from crawler.models import Request, Response

log = logging.getLogger(__name__)

# A regex (str or compiled) searched in the request's URL, or a predicate on the request.
Pattern: TypeAlias = "str | re.Pattern[str] | Callable[[Request], object]"


class Mounts:
    """A `Fetcher` that hands each request to the fetcher mounted for its URL."""

    def __init__(self, default: Fetcher, mounts: Iterable[tuple[Pattern, Fetcher]] = ()) -> None:
        self.default = default
        self._routes = [(_matcher(pattern), fetcher) for pattern, fetcher in mounts]
        self._opened: list[Fetcher] = []  # in the order they were opened

    def fetcher_for(self, request: Request) -> Fetcher:
        """The fetcher that takes `request`: the first mount that matches, else the default."""
        for matches, fetcher in self._routes:
            if matches(request):
                return fetcher
        return self.default

    async def fetch(self, request: Request, options: FetchOptions = PAGE) -> Response:
        return await self.fetcher_for(request).fetch(request, options)

    def stream(self, request: Request, *,
               max_redirects: int = 5) -> AbstractAsyncContextManager[BodyStream]:
        return self.fetcher_for(request).stream(request, max_redirects=max_redirects)

    def tell_sent(self, sent: Sent | None) -> bool:
        """Ask every fetcher to tell; True only if all of them can."""
        answers = [tell_sent(fetcher, sent) for fetcher in self._distinct()]  # ask them all
        return all(answers)

    async def open(self) -> None:
        """Open each distinct fetcher once, mounts in order and the default last.

        If one fails, those already opened are closed again before the error
        goes up: the caller never got an open Mounts, so it will not close it.
        """
        for fetcher in self._distinct():
            try:
                await fetcher.open()
            except BaseException:
                await self._close_opened(reraise=False)
                raise
            self._opened.append(fetcher)

    async def close(self) -> None:
        """Close each opened fetcher once, in reverse order, all of them even if one
        fails; the first failure is raised after the last close."""
        await self._close_opened(reraise=True)

    async def __aenter__(self) -> Mounts:
        await self.open()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    def _distinct(self) -> list[Fetcher]:
        """The fetchers by identity: one may be mounted under several patterns, and
        fetchers need not be hashable (a dataclass with eq is not)."""
        distinct: list[Fetcher] = []
        for fetcher in [*(fetcher for _, fetcher in self._routes), self.default]:
            if not any(fetcher is seen for seen in distinct):
                distinct.append(fetcher)
        return distinct

    async def _close_opened(self, *, reraise: bool) -> None:
        first: BaseException | None = None
        opened, self._opened = self._opened, []  # a second close closes nothing twice
        for fetcher in reversed(opened):
            try:
                await fetcher.close()
            except BaseException as exc:  # cancelled too: the others still hold resources
                if first is None and reraise:
                    first = exc
                else:
                    log.warning("closing %r failed", fetcher, exc_info=exc)
        if first is not None and reraise:
            raise first


def _matcher(pattern: Pattern) -> Callable[[Request], object]:
    """A pattern as a test on the request."""
    if isinstance(pattern, str):
        pattern = re.compile(pattern)
    if isinstance(pattern, re.Pattern):
        search = pattern.search
        return lambda request: search(request.url)
    if callable(pattern):
        return pattern
    raise TypeError(f"a mount pattern is a regex or a callable, not {pattern!r}")
