"""The page pipeline: one request in, its `Outcome` out, through small stages.

    request ─► sitemap? ─────────────────────────────► read it: URLs scheduled as found
            └► fetch ─► no response ─────────────────► retry later | failed
                     └► retryable status ────────────► retry later
                     └► body over the cap ───────────► page row without body + too_large
                     └► 3xx ─────────────────────────► page row + the next hop
                     └► non-HTML, store.non_html skip ► skipped
                     └► page: parse → directives → callback → text → page row,
                              items, links to follow

Nothing here writes anything: each stage returns an `Outcome`, and the
worker hands it to `Settler.settle`, the one place where its consequences
(rows, counters, follow-ups, frontier state) happen.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Callable

from crawler.config import CrawlConfig
from crawler.engine import outcome as outcomes
from crawler.engine import redirects
from crawler.engine.callbacks import Yielded, call_back, split_follow
from crawler.engine.outcome import Failure, Outcome
from crawler.engine.readers import ReaderDied, ReaderPool
from crawler.engine.rows import page_row
from crawler.errors import FetchError, RedirectError
from crawler.fetch.base import Fetcher, FetchOptions
from crawler.hooks import Hooks
from crawler.html import content
from crawler.html.document import Document, read_document
from crawler.html.parser import ParsedPage, parse_page
from crawler.html.reading import PageReading
from crawler.models import SITEMAP, Item, Request, Response
from crawler.politeness.directives import directives_for
from crawler.politeness.retries import RetryPolicy, retry_after
from crawler.politeness.robots import robots_agent
from crawler.sitemaps.reader import Sitemaps
from crawler.spider import Spider
from crawler.store.records import PageRecord
from crawler.urls import DEFAULT_FORM, Canonicalizer

# (request, latency in seconds, status or None for a timeout): adaptive throttling's input.
Observe = Callable[[Request, float, int | None], None]


class Pipeline:
    """Turns a request into its Outcome; holds no state of its own between requests."""

    def __init__(self, config: CrawlConfig, fetcher: Fetcher, spider: Spider, *,
                 sitemaps: Sitemaps, retries: RetryPolicy, hooks: Hooks, observe: Observe,
                 recrawling: bool = False, form: Canonicalizer = DEFAULT_FORM,
                 readers: ReaderPool | None = None) -> None:
        self.config = config
        self.form = form  # the crawl's canonical URL form: links are made in it
        self.fetcher = fetcher
        self.spider = spider
        self.sitemaps = sitemaps
        self.retries = retries
        self.hooks = hooks
        self.observe = observe
        self.recrawling = recrawling
        self.readers = readers
        self._agent = robots_agent(config)
        self._options = FetchOptions(max_body_size=config.fetch.max_body_size,
                                     want_body=self._wants_body)

    async def run(self, request: Request) -> Outcome:
        if request.kind == SITEMAP:  # streamed and read for URLs; never a page row
            return await self.sitemaps.read(request)
        fetched_at = time.time()
        try:
            response = await self.fetcher.fetch(request, self._options)
        except FetchError as exc:
            return self._no_response(request, exc)
        if response.too_large is not None:
            return self._too_large(request, response, fetched_at)
        self.observe(request, response.elapsed, response.status)
        if self.hooks.response_received:
            self.hooks.emit("response_received", response)
        if self.retries.allows(request, status=response.status):
            return outcomes.retry(f"HTTP {response.status}",
                                  retry_after(response.status, response.headers))
        if redirects.is_redirect(response.status):
            return self._redirected(request, response, fetched_at)
        if self.config.store.non_html == "skip" and not response.is_html:
            return self._skipped(request, response)
        return await self._page(request, response, fetched_at)

    # ---- the stages ----

    def _no_response(self, request: Request, exc: FetchError) -> Outcome:
        if exc.kind == "timeout":
            self.observe(request, self.config.fetch.timeout, None)
        if self.retries.allows(request, kind=exc.kind):
            return outcomes.retry(str(exc))
        return outcomes.failed(request, exc.kind, str(exc))

    def _too_large(self, request: Request, response: Response, fetched_at: float) -> Outcome:
        """Keep what did arrive (status, headers) as a page without a body, and say why."""
        message = response.too_large or "too large"
        return Outcome("done", page=self._row(response, fetched_at), counts=True,
                       errors=[outcomes.attempts_failure(request, "too_large", message,
                                                         status=response.status)],
                       response=response)

    def _redirected(self, request: Request, response: Response, fetched_at: float) -> Outcome:
        """The 3xx as a page of its own (no body), and its target as the next hop.

        Not counted towards limits.max_pages, so a site that redirects every
        link still yields that many real pages.
        """
        done = Outcome("done", page=self._row(response, fetched_at), response=response)
        try:
            done.hop = redirects.next_hop(request, response, self.config.fetch.max_redirects,
                                          self.form)
        except RedirectError as exc:
            done.errors.append(Failure(exc.kind, str(exc), status=response.status,
                                       url=redirects.origin(request)))
        return done

    def _skipped(self, request: Request, response: Response) -> Outcome:
        """store.non_html: skip. No page row, but counted, and an error status recorded."""
        skipped = Outcome("done", dropped="non_html", response=response)
        if response.status >= 400:
            skipped.errors.append(_http_failure(request, response))
        return skipped

    async def _page(self, request: Request, response: Response, fetched_at: float) -> Outcome:
        parse_failure, reading = await self._parse(response)
        robots = directives_for(response, self._agent, self.config.politeness)
        calls_back = ((response.status < 400 or self.spider.handle_http_errors)
                      and response.status != 304)  # 304: no body to read
        yielded = await call_back(self.spider, response) if calls_back else Yielded()
        if reading is not None:  # read by a reader process: a noindex page keeps its items
            doc = reading.document if not robots.noindex else Document(
                items=reading.document.items)
        else:
            doc = await self._document(response, indexable=not robots.noindex)
        if calls_back:  # schema.org items come from the pages a callback reads
            yielded.items.extend(Item(name, data) for name, data in doc.items)
        body = None if robots.noindex else content.stored_body(
            response.body, html=response.is_html, keep=self.config.store.body,
            non_html=self.config.store.non_html)
        errors = [f for f in (parse_failure, yielded.failure) if f is not None]
        if response.status >= 400:
            errors.append(_http_failure(request, response))
        follow, kept_back = split_follow(response, yielded, robots,
                                         rel_nofollow=self.config.politeness.rel_nofollow)
        row = self._row(response, fetched_at, doc=doc, body=body, noindex=robots.noindex,
                        body_hash=reading.content_hash if reading else None)
        return Outcome("done", page=row, counts=True, noindex=robots.noindex, errors=errors,
                       items=yielded.items, follow=follow, unfollowed=kept_back,
                       response=response)

    # ---- helpers ----

    def _wants_body(self, response: Response) -> bool:
        """Read a body only when it may be kept: never a redirect's, HTML's or as configured."""
        return not redirects.is_redirect(response.status) and content.body_wanted(
            response.content_type, self.config.store.non_html)

    def _row(self, response: Response, fetched_at: float, *, doc: Document | None = None,
             body: bytes | None = None, noindex: bool = False,
             body_hash: str | None = None) -> PageRecord:
        return page_row(response, fetched_at, self.config.store, doc=doc, body=body,
                        noindex=noindex, recrawling=self.recrawling, body_hash=body_hash)

    def _big(self, response: Response) -> bool:
        return len(response.body) > self.config.fetch.parse_in_thread_above

    async def _parse(self, response: Response) -> tuple[Failure | None, PageReading | None]:
        """Parse HTML: in a reader process when there are some, else here (in a thread
        when huge, so the loop keeps serving other fetches)."""
        if not response.is_html or not response.body or self._parsed_in_form(response):
            return None, None  # (a fetcher that rendered it may have parsed it already)
        if self.readers is not None and self.readers.take():
            return await self._read_elsewhere(response)
        return await self._parse_here(response), None

    async def _read_elsewhere(self, response: Response
                              ) -> tuple[Failure | None, PageReading | None]:
        """The page read by a reader process; a page whose reader died is tried once
        more, then recorded as a parse error (it may be what kills the parser)."""
        assert self.readers is not None
        args = (response.body, response.url, response.encoding)
        try:
            answer = await self.readers.read(*args)
        except ReaderDied:
            try:
                answer = await self.readers.read(*args)
            except ReaderDied as exc:
                return Failure("parse", f"{exc} (the page was tried twice)"), None
        if not isinstance(answer, PageReading):
            kind, message, trace = answer
            if kind == "parse":
                return Failure("parse", message, traceback=trace), None
            raise RuntimeError(f"reading the page failed: {message}\n{trace}")
        response.parsed = ParsedPage(None, answer.title, answer.links,
                                     source=(response.body, response.encoding),
                                     meta=answer.robots_meta, extracted=answer.extracted,
                                     form=self.form)
        return None, answer

    async def _parse_here(self, response: Response) -> Failure | None:
        try:
            args = (response.body, response.url, response.encoding, self.form)
            if self._big(response):
                response.parsed = await asyncio.to_thread(parse_page, *args)
            else:
                response.parsed = parse_page(*args)
        except Exception as exc:
            return Failure("parse", f"{type(exc).__name__}: {exc}",
                           traceback=traceback.format_exc())
        return None

    def _parsed_in_form(self, response: Response) -> bool:
        """Parsed already with links in this crawl's form (a rendered page is parsed by the
        renderer in the default form; in another it is parsed again)."""
        page = response.parsed_page
        return page is not None and (page.form is self.form or page.form == self.form)

    async def _document(self, response: Response, *, indexable: bool) -> Document:
        """Text, Markdown, metadata and schema.org items as configured; in a thread
        for huge pages."""
        if response.parsed_page is None:
            return Document()
        if self._big(response):
            return await asyncio.to_thread(self._read, response, indexable)
        return self._read(response, indexable)

    def _read(self, response: Response, indexable: bool) -> Document:
        store = self.config.store
        return read_document(response.tree, response.url, text=store.text,
                             markdown=store.markdown, metadata=store.metadata,
                             schema_items=self.config.schema_items, indexable=indexable)


def _http_failure(request: Request, response: Response) -> Failure:
    return outcomes.attempts_failure(request, "http", f"HTTP {response.status}",
                                     status=response.status)
