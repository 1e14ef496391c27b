"""Fetching a given list of URLs and following nothing: `fetch_all` and `crawler fetch`.

The list goes through the same engine as a crawl (scheduler, politeness,
robots.txt, retries, redirects hop by hop, bounds, the one exit in
`settle`): it is a crawl whose spider, `UrlListSpider`, starts from the list
and yields no links. Its callback hands each response, as it completes, to
the async iterator the caller reads, through a queue as long as the worker
count, so a slow reader slows the fetching instead of filling memory.

Storage: with `output` the crawl is an ordinary one in that SQLite file
(resumable: run it again and it continues; already stored URLs are not
fetched again). Without it, the engine still needs a store for its batches,
so it gets a temporary file that keeps no bodies, text or links and is
deleted at the end, with the frontier in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crawler import urls as urls_mod
from crawler.config import CrawlConfig, apply_overrides, config_from_dict
from crawler.engine.admission import canonical
from crawler.engine.crawler import Crawler
from crawler.html.parser import extract_item, rules_for
from crawler.models import Item, Request, Response
from crawler.spider import Spider
from crawler.stats import CrawlStats
from crawler.store.records import ErrorRecord

log = logging.getLogger(__name__)

NAME = "fetch"  # the crawl's name in `crawls.name`, unless one is given
# A list is fetched for its bodies, whatever their type; the temporary store keeps nothing.
LIST_DEFAULTS: dict[str, Any] = {"store.non_html": "body"}
NOT_STORED: dict[str, Any] = {"frontier": "memory", "store.body": False, "store.text": False,
                              "store.links": False, "store.markdown": False}


@dataclass(frozen=True, slots=True)
class Skipped:
    """An entry of a URL list that is not an http(s) URL, and where it was."""

    line: int  # 1-based line of a file, or position in a list
    text: str
    reason: str

    def describe(self, source: str) -> str:
        return f"{source}:{self.line}: {self.reason}"


def url_list(entries: Iterable[str], *, comments: bool = False
             ) -> tuple[list[str], list[Skipped]]:
    """(the URLs to fetch, the entries that are not http(s) URLs), in order.

    With `comments` (a file's lines) blank lines and `#` comments are passed
    over without a word.
    """
    good: list[str] = []
    skipped: list[Skipped] = []
    for number, entry in enumerate(entries, 1):
        text = entry.strip()
        if comments and (not text or text.startswith("#")):
            continue
        reason = url_problem(text)
        if reason is None:
            good.append(text)
        else:
            skipped.append(Skipped(number, text, reason))
    return good, skipped


def url_problem(text: str) -> str | None:
    """Why `text` cannot be fetched (not an absolute http(s) URL with a host), or None."""
    if not text:
        return "empty: expected an http(s) URL"
    try:
        canonical(text)
    except urls_mod.Rejected:
        return f"not an http(s) URL: {text[:200]!r}"
    return None


class UrlListSpider(Spider):
    """Starts from a list of URLs, follows nothing, hands each response to `deliver`.

    It sees error statuses too (`handle_http_errors`). With `extract:` rules
    in its config, the pages they match also yield items.
    """

    name = NAME
    handle_http_errors = True

    def __init__(self, urls: Iterable[str],
                 deliver: Callable[[Response], Any] | None = None,
                 config: CrawlConfig | None = None) -> None:
        super().__init__(config)
        self.urls = urls
        self._deliver = deliver

    def start_requests(self) -> Iterable[Request]:
        for url in self.urls:
            yield Request(url)

    async def parse(self, response: Response) -> AsyncIterator[Item]:
        if self._deliver is not None:
            # A copy without the parsed tree: the engine strips that tree for the visible
            # text after this callback, and the reader may look at the page later.
            await self._deliver(response.unparsed_copy())
        if self.config is None or not response.is_html:
            return
        for rule in rules_for(response.url, self.config.extract):
            yield Item(rule.type or self.config.name, extract_item(response.tree, rule))


def list_config(config: CrawlConfig | None, settings: Mapping[str, Any] | None, *,
                name: str, stored: bool) -> CrawlConfig:
    """The config of a list fetch: `config` (its start URLs and their scope dropped), the
    list's defaults, then `settings`; without storage, nothing kept but the rows."""
    base = config or config_from_dict({"name": name})
    base = apply_overrides(base, {"start_urls": [], "name": name, **LIST_DEFAULTS})
    extra = {**({} if stored else NOT_STORED), **(settings or {})}
    return apply_overrides(base, extra) if extra else base


_END = object()
# Errors about a response that is yielded all the same (or about no URL at all).
_ANSWERED = frozenset({"http", "parse", "callback", "hook", "sink"})


class Fetching:
    """The responses of a URL list as they complete: `async for response in fetching`.

    Made by `crawler.fetch_all(urls)`. Every response that came back is
    yielded, whatever its status (after retries; the last hop of a redirect
    chain); a URL that got none (a connection error or timeout after its
    retries, refused by robots.txt, a body over `fetch.max_body_size`, a
    redirect not followed) is in `errors` instead, and each is logged (INFO). After
    the loop, `stats` holds the crawl's counters. Breaking out of the loop
    stops the fetching (use `async with` or `contextlib.aclosing` to have it
    stop at once); with `output` the crawl is then left `interrupted` and
    running the same fetch again continues it.
    """

    def __init__(self, urls: Iterable[str], *, config: CrawlConfig | None = None,
                 settings: Mapping[str, Any] | None = None,
                 output: str | Path | None = None, name: str = NAME,
                 progress: bool = False, announce: Callable[[str], None] | None = None
                 ) -> None:
        good, self.skipped = url_list(urls)
        for entry in self.skipped:
            log.warning("%s", entry.describe("urls"))
        self._temp = None if output is not None else tempfile.TemporaryDirectory(
            prefix="crawler-fetch-")
        where = Path(output) if output is not None else Path(self._temp.name) / "fetch.db"
        self.config = list_config(config, settings, name=name, stored=output is not None)
        self.errors: list[ErrorRecord] = []
        self.stats: CrawlStats | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue(maxsize=self.config.fetch.concurrency)
        self._closed = False
        spider = UrlListSpider(good, self._deliver)
        self.crawler = Crawler(spider, self.config, output=where, progress=progress,
                               hooks={"error": self._failed}, announce=announce)
        self.crawler.fetch_only = True

    def __aiter__(self) -> AsyncIterator[Response]:
        return self._responses()

    async def __aenter__(self) -> AsyncIterator[Response]:
        self._iterator = self._responses()
        return self._iterator

    async def __aexit__(self, *exc: object) -> None:
        await self._iterator.aclose()
        if self._temp is not None:  # also when the loop never started the crawl
            self._temp.cleanup()

    async def _deliver(self, response: Response) -> None:
        if not self._closed:
            await self._queue.put(response)

    def _failed(self, record: ErrorRecord) -> None:
        if record.kind in _ANSWERED:
            return
        self.errors.append(record)
        log.info("%s: %s: %s", record.url, record.kind, record.message)

    async def _responses(self) -> AsyncIterator[Response]:
        crawl = asyncio.create_task(self.crawler.run(), name="fetch_all")
        try:
            while (item := await self._next(crawl)) is not _END:
                yield item
            self.stats = await crawl  # raises what ended the crawl, if anything did
        finally:
            await self._close(crawl)

    async def _next(self, crawl: asyncio.Task[CrawlStats]) -> Any:
        """The next response, or _END once the crawl is over and every response was taken."""
        if not self._queue.empty():
            return self._queue.get_nowait()
        if crawl.done():
            return _END
        getter = asyncio.ensure_future(self._queue.get())
        await asyncio.wait({getter, crawl}, return_when=asyncio.FIRST_COMPLETED)
        if getter.done():
            return getter.result()
        getter.cancel()
        return self._queue.get_nowait() if not self._queue.empty() else _END

    async def _close(self, crawl: asyncio.Task[CrawlStats]) -> None:
        """The reader left (or the crawl ended): stop the crawl, unblock its workers, clean up."""
        self._closed = True
        if not crawl.done():
            self.crawler.stop("interrupted")
        while not crawl.done():
            while not self._queue.empty():
                self._queue.get_nowait()  # a worker waiting to hand one over goes on
            await asyncio.wait({crawl}, timeout=0.05)
        if self.stats is None and not crawl.cancelled():
            if crawl.exception() is None:
                self.stats = crawl.result()
            else:  # the reader had left; say what ended the crawl rather than lose it
                log.error("the fetch ended with an error after its reader left",
                          exc_info=crawl.exception())
        if self._temp is not None:
            with contextlib.suppress(OSError):
                self._temp.cleanup()


def fetch_all(urls: Iterable[str], *, config: CrawlConfig | None = None,
              settings: Mapping[str, Any] | None = None, output: str | Path | None = None,
              name: str = NAME) -> Fetching:
    """Fetch exactly `urls`, concurrently and politely, following no link.

        async for response in crawler.fetch_all(urls):
            print(response.status, response.url, len(response.body))

    Politeness, robots.txt, retries, redirects and bounds are a crawl's
    (`config` and dotted `settings` as for `crawl()`). Responses come as they
    complete; URLs that got none are in `.errors` after the loop. With
    `output` everything is stored in that SQLite file as a crawl named `name`
    and an interrupted fetch continues when run again; without it nothing is kept.
    """
    return Fetching(urls, config=config, settings=settings, output=output, name=name)
