"""The Crawler: wires config, spider, scheduler, workers, fetcher and store, and shuts down cleanly.

One scheduler coroutine feeds a bounded queue; N identical workers take a
request, fetch it, parse it, run the spider's callback, buffer the page for
the store and hand new requests back to the scheduler. Nothing a single page
does (a broken body, a raising callback) can end a worker: it is recorded in
`errors` and the worker takes the next request.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from crawler.config import CrawlConfig, apply_overrides, config_from_dict
from crawler.engine import recrawl, redirects
from crawler.engine.scheduler import Scheduler
from crawler.errors import CrawlerError, FetchError, RedirectError, TooLargeError
from crawler.fetch.http import Fetcher
from crawler.frontier.memory import Frontier, MemoryFrontier
from crawler.frontier.sqlite import SqliteFrontier
from crawler.html import content
from crawler.html.markdown import html_to_markdown
from crawler.html.parser import parse_page, visible_text
from crawler.models import Item, Request, Response
from crawler.politeness.retries import (
    RETRY_AFTER_STATUSES,
    RETRYABLE_KINDS,
    backoff_delay,
    parse_retry_after,
)
from crawler.politeness.robots import (
    PageDirectives,
    RobotsRules,
    directives_for,
    fetch_robots,
    robots_agent,
    unfollowed,
)
from crawler.sitemaps.reader import SITEMAP, Sitemaps
from crawler.spider import ConfigSpider, Spider, iterate
from crawler.stats import CrawlStats, Progress, Snapshot
from crawler.store.sqlite import PageRecord, Store, headers_json, iso_time

log = logging.getLogger(__name__)

SHUTDOWN_GRACE = 10.0  # seconds in-flight requests get to finish after a stop


@dataclass(slots=True)
class _Outcome:
    """What the spider's callback produced for one page."""

    items: list[Item] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)  # shorthand for Request(url)


class Crawler:
    """Runs one crawl. `await Crawler(spider, config).run()` returns its CrawlStats."""

    def __init__(self, spider: Spider | type[Spider] | None = None,
                 config: CrawlConfig | None = None, *, output: str | Path | None = None,
                 settings: Mapping[str, Any] | None = None, progress: bool = False,
                 frontier: Frontier | None = None,
                 announce: Callable[[str], None] | None = None) -> None:
        self.config = _resolve_config(spider, config, settings)
        self.spider = _instantiate(spider, self.config)
        self.output = Path(output) if output is not None else Path(self.config.output_path)
        self.stats = CrawlStats(output=self.output)
        self.queue: asyncio.Queue[Request] = asyncio.Queue(maxsize=self.config.fetch.concurrency)
        robots = self._robots if self.config.politeness.robots_txt == "obey" else None
        # The durable frontier needs the open database: it is attached in run().
        self._frontier = frontier
        self.scheduler = Scheduler(self.config, frontier, self.queue,
                                   robots=robots, on_refused=self._refused)
        self._sitemaps = Sitemaps(self.config, self.stats.sitemaps,
                                  schedule=self.scheduler.schedule,
                                  error=self._sitemap_error, retry=self._retry)
        self.show_progress = progress
        self._announce = announce or log.info
        self._recrawl = False
        self._stop_requested = asyncio.Event()
        self._abort = asyncio.Event()
        self._store: Store | None = None
        self._fetcher: Fetcher | None = None

    def stop(self, reason: str = "interrupted") -> None:
        """Ask for a graceful stop: no new dispatches, in-flight requests finish, data flushed."""
        self.scheduler.stop(reason)
        self._stop_requested.set()

    def abort(self) -> None:
        """Stop now: in-flight requests are abandoned (what was stored is still flushed)."""
        self.stop()
        self._abort.set()

    async def run(self) -> CrawlStats:
        async with Store(self.output) as store, Fetcher(self.config.fetch) as fetcher:
            self._store, self._fetcher = store, fetcher
            await self._open(store)
            try:
                await self._crawl()
            except BaseException:
                self.stats.status = "failed"
                raise
            finally:
                await self._finish(store)
        return self.stats

    async def _open(self, store: Store) -> None:
        """Start a new crawl, or resume the unfinished one of this name; attach the frontier."""
        config = self.config
        durable = self._frontier is None and config.frontier == "sqlite"
        if config.recrawl and not durable:
            raise CrawlerError("recrawl needs the SQLite frontier (frontier: sqlite)")
        previous = await store.latest_crawl(config.name) if durable else None
        resume = _should_resume(previous, config.resume)
        if config.resume == "always" and not resume:
            raise CrawlerError(f"{self.output}: no unfinished crawl named {config.name!r} "
                               "to resume")
        if resume:
            await store.resume_crawl(previous["id"], config.to_json_dict())
        else:
            recrawl_of = previous["id"] if previous is not None and config.recrawl else None
            await store.start_crawl(config.name, config.to_json_dict(), recrawl_of=recrawl_of)
        crawl_id = self.stats.crawl_id = store.crawl_id or 0
        if not durable:
            self.scheduler.attach(self._frontier or MemoryFrontier())
            return
        frontier = SqliteFrontier(store, crawl_id, resolve_callback=self._callback_named,
                                  name_callback=self._callback_name)
        self.scheduler.attach(frontier)
        if resume:
            await self._resume(frontier, previous)
        elif config.recrawl:
            self._recrawl = True
            if previous is not None:
                queued = await recrawl.seed(store, crawl_id, previous["id"])
                await frontier.recover()
                self._announce(f"recrawling {queued:,} pages of crawl #{previous['id']}")

    async def _resume(self, frontier: Frontier, previous: Any) -> None:
        """Continue where the last run stopped: its leases back in line, its pages counted."""
        self.scheduler.completed_before = previous["pages"]
        await frontier.recover()
        self._announce(f"resuming crawl {self.config.name!r} (#{previous['id']}) in "
                       f"{self.output}: {previous['pages']:,} pages stored, "
                       f"{previous['to_fetch']:,} URLs still to fetch")

    def _callback_name(self, callback: Any) -> str | None:
        """The name a spider method is stored under; None for any other callable."""
        if getattr(callback, "__self__", None) is self.spider:
            return callback.__name__
        return None

    def _callback_named(self, name: str) -> Any:
        return getattr(self.spider, name, None)

    async def _crawl(self) -> None:
        for request in self.spider.start_requests():
            if self.scheduler.schedule(request):
                self._sitemaps.seed(request.url)
        workers = [asyncio.create_task(self._worker(), name=f"worker-{i}")
                   for i in range(self.config.fetch.concurrency)]
        extras = [asyncio.create_task(self._progress().run())] if self.show_progress else []
        try:
            await self._wait_for_end()
        finally:
            self.scheduler.close()
            for task in workers + extras:
                task.cancel()
            await asyncio.gather(*workers, *extras, return_exceptions=True)

    async def _wait_for_end(self) -> None:
        """Run the scheduler to the end; after a stop, give in-flight requests a bounded grace."""
        dispatch = asyncio.create_task(self.scheduler.run(), name="scheduler")
        stop_wait = asyncio.create_task(self._stop_requested.wait())
        try:
            await asyncio.wait({dispatch, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            if not dispatch.done():
                abort = asyncio.create_task(self._abort.wait())
                done, _ = await asyncio.wait({dispatch, abort}, timeout=SHUTDOWN_GRACE,
                                             return_when=asyncio.FIRST_COMPLETED)
                abort.cancel()
                if dispatch not in done:
                    log.warning("%d requests still in flight after %.0fs; abandoning them",
                                self.scheduler.in_flight, SHUTDOWN_GRACE)
            if dispatch.done():
                dispatch.result()
        finally:
            for task in (dispatch, stop_wait):
                task.cancel()
            await asyncio.gather(dispatch, stop_wait, return_exceptions=True)

    async def _finish(self, store: Store) -> None:
        frontier = self.scheduler.frontier
        try:
            await frontier.close()
        except Exception:  # logged, not raised: the status row must still be written
            log.exception("could not close the frontier")
        self.scheduler.dropped["duplicate"] += frontier.duplicates
        stats = self.stats
        stats.stop_reason = self.scheduler.stop_reason or stats.stop_reason
        if stats.status == "running":
            stats.status = "interrupted" if stats.stop_reason == "interrupted" else "finished"
        stats.dropped.update(self.scheduler.dropped)
        stats.duration = time.monotonic() - stats.started
        with contextlib.suppress(Exception):  # the status row must not hide the real error
            await store.finish_crawl(stats.status, stats.to_dict())

    async def _robots(self, host_key: str) -> RobotsRules:
        assert self._fetcher is not None
        rules = await fetch_robots(self._fetcher, host_key)
        self._sitemaps.robots_known(host_key, rules)
        return rules

    def _refused(self, request: Request, reason: str) -> None:
        if request.kind == SITEMAP:
            self.stats.sitemaps["not_fetched"] += 1
        self._error(request, "robots", reason)
        if request.redirects:  # say where the chain was going, under the URL it began at
            self._error(request, "redirect", redirects.describe(request.redirects, request.url)
                        + ": refused by robots.txt", url=redirects.origin(request))

    def _sitemap_error(self, request: Request, message: str, status: int | None) -> None:
        self._error(request, "sitemap", _attempts(request, message), status=status,
                    tries=request.tries + 1)

    def _progress(self) -> Progress:
        sched = self.scheduler
        return Progress(self.stats, lambda: Snapshot(sched.frontier.size(), sched.in_flight))

    # ---- the worker ----

    async def _worker(self) -> None:
        while True:
            request = await self.queue.get()
            stored = False
            try:
                stored = await self._process(request)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug of ours must not end the crawl
                log.exception("internal error on %s", request.url)
                self._error(request, "internal", f"{type(exc).__name__}: {exc}",
                            tb=traceback.format_exc())
                if not stored:
                    self.scheduler.frontier.failed(request)
            finally:
                self.scheduler.finished(request, stored=stored)
                self.queue.task_done()

    async def _process(self, request: Request) -> bool:
        """Fetch, parse, call back, store, follow. True when a page was stored."""
        assert self._fetcher is not None and self._store is not None
        self.scheduler.started(request)
        if request.kind == SITEMAP:  # streamed and read for URLs; never a page row
            tries = request.tries
            await self._sitemaps.read(request, self._fetcher, self._store)
            if request.tries == tries:  # not waiting for a retry: finished, read or not
                self.scheduler.frontier.done(request)
            return False
        fetched_at = time.time()
        try:
            response = await self._fetcher.fetch(request, want_body=self._wants_body)
        except TooLargeError as exc:
            return await self._too_large(request, exc, fetched_at)
        except FetchError as exc:
            if exc.kind == "timeout":
                self.scheduler.observe(request, self.config.fetch.timeout, None)
            if exc.kind in RETRYABLE_KINDS and self._retry(request, str(exc)):
                return False
            self._error(request, exc.kind, _attempts(request, str(exc)), tries=request.tries + 1)
            self.scheduler.frontier.failed(request)
            return False
        self.scheduler.observe(request, response.elapsed, response.status)
        if response.status in self.config.fetch.retry_statuses and self._retry(
                request, f"HTTP {response.status}", _retry_after(response)):
            return False
        if redirects.is_redirect(response.status):
            return await self._redirected(request, response, fetched_at)
        if self.config.store.non_html == "skip" and not response.is_html:
            return self._skipped(request, response)
        parsed = await self._parse(response)
        robots = directives_for(response, robots_agent(self.config), self.config.politeness)
        calls_back = response.status < 400 and response.status != 304  # 304: no body to read
        outcome = await self._callback(response) if calls_back else _Outcome()
        text, markdown = (await self._render(response) if parsed and not robots.noindex
                          else (None, None))
        body = None if robots.noindex else content.stored_body(
            response, keep=self.config.store.body, non_html=self.config.store.non_html)
        page_id = self._add_page(request, self._record(response, fetched_at, text, markdown,
                                                       body, noindex=robots.noindex))
        self._count_page(response, noindex=robots.noindex)
        if response.status >= 400:
            self._error(request, "http", _attempts(request, f"HTTP {response.status}"),
                        status=response.status, tries=request.tries + 1)
        for item in outcome.items:
            self._store.add_item(item.type, item.data, page_id=page_id, url=response.url)
        self.stats.items += len(outcome.items)
        self._follow(request, response, outcome, robots)
        await self._store.maybe_flush()
        return True

    def _follow(self, request: Request, response: Response, outcome: _Outcome,
                robots: PageDirectives) -> None:
        """Hand the callback's requests to the scheduler, except those robots directives forbid."""
        skip = unfollowed(response.parsed_page, robots,
                          rel_nofollow=self.config.politeness.rel_nofollow)
        for new in outcome.requests:
            if skip is not None and skip(new.url):
                self.scheduler.dropped["nofollow"] += 1
            else:
                self.scheduler.schedule(new, parent=request)
        for url in outcome.urls:
            if skip is not None and skip(url):
                self.scheduler.dropped["nofollow"] += 1
            else:
                self.scheduler.schedule_url(url, request)

    def _wants_body(self, response: Response) -> bool:
        """Read a body only when it may be kept: never a redirect's, HTML's or as configured."""
        return not redirects.is_redirect(response.status) and content.body_wanted(
            response.content_type, self.config.store.non_html)

    def _skipped(self, request: Request, response: Response) -> bool:
        """store.non_html: skip. No page row, but counted, and an error status still recorded."""
        self.stats.dropped["non_html"] += 1
        self.scheduler.frontier.done(request)  # handled as configured: not to be fetched again
        if response.status >= 400:
            self._error(request, "http", _attempts(request, f"HTTP {response.status}"),
                        status=response.status, tries=request.tries + 1)
        return False

    async def _too_large(self, request: Request, exc: TooLargeError, fetched_at: float) -> bool:
        """Keep what did arrive (status, headers) as a page without a body, and say why."""
        assert self._store is not None
        tries = request.tries + 1
        if exc.response is None:
            self._error(request, exc.kind, _attempts(request, str(exc)), tries=tries)
            self.scheduler.frontier.failed(request)
            return False
        response = exc.response
        self._add_page(request, self._record(response, fetched_at, None, None, None))
        self._count_page(response)
        self._error(request, exc.kind, _attempts(request, str(exc)), status=response.status,
                    tries=tries)
        await self._store.maybe_flush()
        return True

    async def _redirected(self, request: Request, response: Response, fetched_at: float) -> bool:
        """Store the 3xx as a page of its own (no body), then follow it as the next hop.

        Returns False: a hop is a row in `pages` but not a page towards
        limits.max_pages, so a site that redirects every link still yields
        that many real pages.
        """
        assert self._store is not None
        self._add_page(request, self._record(response, fetched_at, None, None, None))
        self._count_page(response)
        try:
            hop = redirects.next_hop(request, response, self.config.fetch.max_redirects)
        except RedirectError as exc:
            self._error(request, exc.kind, str(exc), status=response.status,
                        url=redirects.origin(request))
        else:
            reason = self._schedule_hop(hop)
            if reason is not None:
                self._error(request, "redirect", redirects.describe(hop.redirects, hop.url)
                            + f": not followed ({reason})", status=response.status,
                            url=redirects.origin(request))
        await self._store.maybe_flush()
        return False

    def _schedule_hop(self, hop: Request) -> str | None:
        """Schedule the next hop like a link; the drop reason when it is not taken.

        A target already seen is not an error: its page is in the database,
        and this 3xx row's Location leads to it.
        """
        before = self.scheduler.dropped.copy()
        if self.scheduler.schedule(hop):
            return None
        reason = next(iter(self.scheduler.dropped - before), "dropped")
        return None if reason == "duplicate" else reason

    def _retry(self, request: Request, reason: str, retry_after: float | None = None) -> bool:
        """Schedule another attempt if tries remain; False when they are used up."""
        fetch = self.config.fetch
        if request.tries >= fetch.retries:
            return False
        request.tries += 1
        request.failures = (*request.failures, reason)
        delay = backoff_delay(request.tries, base=fetch.backoff, cap=fetch.max_backoff)
        cool = None
        if retry_after is not None:
            cool = min(retry_after, self.config.politeness.max_retry_after)
            delay = max(delay, cool)
        self.scheduler.retry(request, delay, cool_host=cool)
        self.stats.retries += 1
        return True

    def _big(self, response: Response) -> bool:
        return len(response.body) > self.config.fetch.parse_in_thread_above

    async def _parse(self, response: Response) -> bool:
        """Parse HTML (in a thread when huge, so the loop keeps serving other fetches)."""
        if not response.is_html or not response.body:
            return False
        try:
            args = (response.body, response.url, response.encoding)
            if self._big(response):
                response.parsed = await asyncio.to_thread(parse_page, *args)
            else:
                response.parsed = parse_page(*args)
        except Exception as exc:
            self._error(response.request, "parse", f"{type(exc).__name__}: {exc}",
                        tb=traceback.format_exc())
            return False
        return True

    async def _render(self, response: Response) -> tuple[str | None, str | None]:
        """(visible text, Markdown) as configured; in a thread for huge pages."""
        if self._big(response):
            return await asyncio.to_thread(self._render_sync, response)
        return self._render_sync(response)

    def _render_sync(self, response: Response) -> tuple[str | None, str | None]:
        store, tree = self.config.store, response.tree
        # Markdown first: visible_text strips the tree it reads.
        markdown = html_to_markdown(tree, base_url=response.url) if store.markdown else None
        text = visible_text(tree) if store.text else None
        return text, markdown

    async def _callback(self, response: Response) -> _Outcome:
        """Run the request's callback; what it yielded before raising is kept."""
        outcome = _Outcome()
        request = response.request
        callback = request.callback or self.spider.parse
        try:
            async for value in iterate(callback(response)):
                self._collect(value, outcome)
        except Exception as exc:
            self._error(request, "callback", f"{type(exc).__name__}: {exc}",
                        tb=traceback.format_exc())
        return outcome

    def _collect(self, value: Any, outcome: _Outcome) -> None:
        if isinstance(value, str):
            outcome.urls.append(value)
        elif isinstance(value, Request):
            outcome.requests.append(value)
        elif isinstance(value, Item):
            outcome.items.append(value)
        elif isinstance(value, Mapping):
            outcome.items.append(Item(self.spider.item_type, value))
        elif value is not None:
            raise TypeError(f"a callback yielded {type(value).__name__}; "
                            "expected a dict, an Item, a Request or a URL string")

    def _record(self, response: Response, fetched_at: float, text: str | None,
                markdown: str | None, body: bytes | None, *,
                noindex: bool = False) -> PageRecord:
        """The page row; a noindex page keeps no title or body (nor text: see `_process`)."""
        store, page, request = self.config.store, response.parsed_page, response.request
        links = page.links if page and store.links else ()
        return PageRecord(
            url=request.url, final_url=response.url, status=response.status,
            depth=request.depth, headers=headers_json(response.headers.items()),
            size=len(response.body), fetched_at=iso_time(fetched_at),
            content_type=response.content_type,
            encoding=response.encoding if page else None,
            title=page.title if page and not noindex else None, text=text, markdown=markdown,
            referrer=request.referrer,
            elapsed_ms=round(response.elapsed * 1000, 2),
            request_headers=headers_json((response.request_headers or {}).items()),
            body=body, links=links, redirects=redirects.to_json(request.redirects),
            **self._version(response),
        )

    def _version(self, response: Response) -> dict[str, str | None]:
        """content_hash, and in a recrawl whether the page changed since the last crawl."""
        last = response.request.last_hash
        if response.status == 304:
            body_hash = last
        else:  # no hash for a body that was not read (a 3xx hop, metadata only, too large)
            body_hash = recrawl.content_hash(response.body) if response.body else None
        change = None
        if self._recrawl and (body_hash is not None or response.status == 304):
            change = recrawl.change(response.status, body_hash or "", last)
        return {"content_hash": body_hash, "change": change}

    def _add_page(self, request: Request, record: PageRecord) -> int:
        """Buffer the page row and mark its request done: one transaction holds both."""
        assert self._store is not None
        page_id = self._store.add_page(record)
        self.scheduler.frontier.done(request)
        return page_id

    def _count_page(self, response: Response, *, noindex: bool = False) -> None:
        self.stats.pages += 1
        self.stats.noindex += noindex
        self.stats.bytes += len(response.body)
        self.stats.by_status[response.status] += 1

    def _error(self, request: Request, kind: str, message: str, *, status: int | None = None,
               tb: str | None = None, tries: int = 1, url: str | None = None) -> None:
        assert self._store is not None
        self._store.add_error(url or request.url, kind, message, status=status, traceback=tb,
                              tries=tries, depth=request.depth, referrer=request.referrer)
        self.stats.errors += 1
        self.stats.errors_by_kind[kind] += 1


def _should_resume(previous: Any, mode: str) -> bool:
    """Resume the latest crawl of this name? Only if it has URLs left to fetch."""
    if previous is None or mode == "never" or not previous["to_fetch"]:
        return False
    return mode == "always" or previous["status"] != "finished"


def _attempts(request: Request, last: str) -> str:
    """The error message: the last failure, or every attempt's when it was retried."""
    if not request.failures:
        return last
    every = (*request.failures, last)
    return "; ".join(f"attempt {i}: {why}" for i, why in enumerate(every, 1))


def _retry_after(response: Response) -> float | None:
    if response.status not in RETRY_AFTER_STATUSES:
        return None
    return parse_retry_after(response.headers.get("Retry-After"))


def _resolve_config(spider: Spider | type[Spider] | None, config: CrawlConfig | None,
                    settings: Mapping[str, Any] | None) -> CrawlConfig:
    """The spider's class attributes, then the config, then explicit settings (last wins)."""
    if config is None:
        base: dict[str, Any] = {}
        if spider is not None:
            base["name"] = spider.name
            if spider.start_urls:
                base["start_urls"] = list(spider.start_urls)
            if spider.allowed_domains:
                base["scope"] = {"allowed_domains": list(spider.allowed_domains)}
        config = config_from_dict(base, source=f"spider {getattr(spider, 'name', '')}".strip())
    merged = dict(getattr(spider, "custom_settings", None) or {})
    merged.update(settings or {})
    return apply_overrides(config, merged) if merged else config


def _instantiate(spider: Spider | type[Spider] | None, config: CrawlConfig) -> Spider:
    if spider is None:
        return ConfigSpider(config)
    if isinstance(spider, Spider):
        spider.config = config
        return spider
    return spider(config)
