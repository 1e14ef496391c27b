"""Which URLs may enter a crawl: canonical form, depth, scope, trap shapes and budgets.

Pure decisions on a URL, each returning the name of the `dropped` counter
it was refused under (None: admitted). `Scheduler.schedule` asks them in
order (canonicalize → depth → dedupe → scope → traps) before a request
enters the frontier; `Budgets` is asked at dispatch, when a request is about
to be sent.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

from crawler import urls
from crawler.config import CrawlConfig, LimitsConfig, ScopeConfig
from crawler.hooks import Hooks
from crawler.models import SITEMAP, Request

if TYPE_CHECKING:
    from crawler.html.parser import ParsedPage


def url_form(config: CrawlConfig) -> urls.Canonicalizer:
    """The canonical form the `urls` settings ask for (a new crawl's; see Session.form)."""
    return urls.Canonicalizer(sort_query=config.urls.sort_query, drop=config.urls.drop_params)


def canonical_in(form: urls.Canonicalizer) -> Callable[[str], tuple[str, str]]:
    """url → (canonical URL in `form`, host key); raises urls.Rejected.

    Cached (links repeat a lot), one cache per caller, so a hit costs what it did
    before there were forms.
    """
    @lru_cache(maxsize=16_384)
    def canonical(url: str) -> tuple[str, str]:
        # Links come canonical from the page already: the string fast path checks that
        # in ~7 us where parsing and printing with yarl took ~14 (a miss: on the
        # benchmark site the off-site links alone outgrow the cache), and so does its
        # host key (yarl would parse the URL only for that: 3-4% of the loop's CPU).
        if (plain := form.canonicalize_plain(url)) is not None:
            return plain, urls.plain_host_key(plain)
        urls.reject_other_schemes(url)  # a page's mailto: links: ~1% of the loop in yarl
        parsed = urls.parse_url(url)
        text = urls.canonicalize(parsed)
        if parsed.raw_query_string or ";" in text:  # the rules read only these
            text = form.apply(text)
        return text, urls.host_key(parsed)
    return canonical


canonical = canonical_in(urls.DEFAULT_FORM)  # the default form, for tools outside a crawl
_host_key = urls.plain_host_key  # for a canonical URL (`schedule_urls` names a parameter urls)


class Scope:
    """The `scope` settings as questions about one canonical URL."""

    def __init__(self, scope: ScopeConfig) -> None:
        self.config = scope

    def too_deep(self, depth: int) -> bool:
        max_depth = self.config.max_depth
        return max_depth is not None and depth > max_depth

    def refuse(self, url: str, kind: str = "page", host: str | None = None) -> str | None:
        """Why `url` is not crawled (a sitemap: only its host is scoped), or None.
        `host`: its host key, when known (saves parsing the URL)."""
        if kind == SITEMAP:  # a sitemap file is not a page: include/exclude are about pages
            return self._offsite(url, host)
        return self._out_of_scope(url, host) or self._trap(url)

    def _offsite(self, url: str, host: str | None) -> str | None:
        scope = self.config
        if not scope.allowed_domains:
            return None
        # yarl parsed each off-site link only for this: 3% of the loop's samples.
        name = urls.host_in_key(host) if host is not None else urls.host_of(url)
        if not urls.domain_allowed(name, scope.allowed_domains,
                                   subdomains=scope.allow_subdomains):
            return "offsite"
        return None

    def _out_of_scope(self, url: str, host: str | None) -> str | None:
        scope = self.config
        if reason := self._offsite(url, host):
            return reason
        if scope.exclude and any(p.search(url) for p in scope.exclude):
            return "excluded"
        if scope.include and not any(p.search(url) for p in scope.include):
            return "not_included"
        return None

    def _trap(self, url: str) -> str | None:
        """Why `url`, on its own, looks like a crawler trap (an endless URL space), or None."""
        scope = self.config
        if len(url) > scope.max_url_length:
            return "url_too_long"
        path = urls.path_and_query(url)[0]
        segments = [s for s in path.split("/") if s]
        if len(segments) > scope.max_path_segments:
            return "too_many_segments"
        # Counting is only needed when some segment repeats: a set says so at C speed
        # (a Counter per new URL was 5-8% of the loop's samples on the long crawl).
        if (len(segments) > scope.max_repeated_segments
                and len(set(segments)) < len(segments)
                and max(Counter(segments).values()) > scope.max_repeated_segments):
            return "repeated_segments"
        return None


class Admission:
    """`schedule()`: canonicalize → depth → dedupe → scope → traps → the frontier.

    Synchronous, so workers never await anything to hand links over; says
    why it dropped a URL (the name of its `dropped` counter).
    """

    def __init__(self, scope: ScopeConfig, frontier: Admits, *, dropped: Counter[str],
                 hooks: Hooks, offer: Callable[[str], None],
                 form: urls.Canonicalizer = urls.DEFAULT_FORM) -> None:
        self._scope = Scope(scope)
        self._form = form
        self._canonical = canonical_in(form)  # the crawl's form: see Session.form
        self.frontier = frontier
        self._drops = dropped
        self._hooks = hooks
        self._offer = offer  # the host has a new request: the scheduler may run it

    def schedule(self, request: Request, parent: Request | None = None) -> str | None:
        """Admit `request` into the frontier: None, or the reason it was dropped."""
        if parent is not None:
            request.depth = parent.depth + 1
            request.referrer = parent.url
        try:
            url, host = self._canonical(request.url)
        except urls.Rejected as exc:
            return self._dropped(request.url, exc.reason)
        if request.href is None:
            request.href = request.url
        request.url = url
        if self._scope.too_deep(request.depth):
            return self._dropped(url, "max_depth")
        if not request.dont_filter and self.frontier.seen(url):
            return self._dropped(url, "duplicate")
        return self._admit(request, host)

    def schedule_url(self, url: str, parent: Request) -> str | None:
        """`schedule(Request(url), parent)`, without building a Request for a URL already seen.

        Most links of a page lead to pages already seen. The page's reader made
        its links canonical in this crawl's form, and a canonical URL is its own
        canonical form, so a link found as it is among the URLs seen is a
        duplicate before any canonicalization: one set lookup instead of the
        canonical form's cache, and its ~7-14 us when the URL is not in it
        (86% of the links on the benchmark site end here).
        """
        depth = parent.depth + 1
        too_deep = self._scope.too_deep(depth)
        if not too_deep and self.frontier.seen(url):
            return self._dropped(url, "duplicate")
        try:
            canonical_url, host = self._canonical(url)
        except urls.Rejected as exc:
            return self._dropped(url, exc.reason)
        if too_deep:
            return self._dropped(canonical_url, "max_depth")
        if self.frontier.seen(canonical_url):
            return self._dropped(canonical_url, "duplicate")
        return self._follow(canonical_url, url, host, parent)

    def schedule_urls(self, urls: Sequence[str], parent: Request,
                      page: ParsedPage | None = None) -> None:
        """`schedule_url` for each of a page's links, in order.

        Most are already seen (86% on the benchmark site): those are counted as
        duplicates together, at a set lookup each, where one call each took ~4
        Python calls (3% of the loop's samples). With a `request_dropped` hook
        (told of each in page order) or past `max_depth` (which counts first),
        each goes through `schedule_url`.

        A URL that is one of `page`'s link targets, made in this crawl's form
        by the page's reader, is canonical already: it skips the canonical
        form's cache, which the off-site links (each seen once) always missed,
        and its ~7 us check (5% of the loop's samples; on a crawl whose links
        are mostly new, 10%).
        """
        seen = self.frontier.seen
        if self._hooks.request_dropped or self._scope.too_deep(parent.depth + 1):
            for url in urls:
                self.schedule_url(url, parent)
            return
        fresh = [url for url in urls if not seen(url)]
        if duplicates := len(urls) - len(fresh):
            self._drops["duplicate"] += duplicates
        if not fresh:
            return
        made = page.canonical_targets() if page is not None and page.form == self._form else ()
        for url in fresh:
            if url in made:
                self._follow(url, url, _host_key(url), parent)
            else:
                self.schedule_url(url, parent)

    def _follow(self, canonical_url: str, href: str, host: str, parent: Request) -> str | None:
        """Admit the link `href` of `parent`'s page, made `canonical_url`, one level deeper."""
        request = Request(canonical_url, href=href, depth=parent.depth + 1, referrer=parent.url)
        return self._admit(request, host)

    def _admit(self, request: Request, host: str) -> str | None:
        reason = self._scope.refuse(request.url, request.kind, host)
        if reason is None and not self.frontier.add(host, request):
            reason = "duplicate"
        if reason is not None:
            return self._dropped(request.url, reason)
        if self._hooks.request_scheduled:
            self._hooks.emit("request_scheduled", request)
        self._offer(host)
        return None

    def _dropped(self, url: str, reason: str) -> str:
        # Inline rather than settle.count_drop: most links of a page end here.
        self._drops[reason] += 1
        if self._hooks.request_dropped:
            self._hooks.emit("request_dropped", url, reason)
        return reason


class Admits(Protocol):
    """What admission needs of the frontier (frontier.windows.Windows)."""

    def seen(self, url: str) -> bool: ...

    def add(self, host: str, request: Request) -> bool: ...


class Budgets:
    """Requests sent per host and per URL pattern (host + path + set of query keys).

    Counted at dispatch, on requests actually sent: the seen-set is not all
    in memory, so counting at acceptance would also count duplicates it has
    not caught yet. A retry is not counted again, nor is a sitemap.
    """

    def __init__(self, limits: LimitsConfig) -> None:
        self.limits = limits
        self._per_host: Counter[str] = Counter()
        self._per_pattern: Counter[tuple[str, str, str]] = Counter()

    def charge(self, url: str, host: str) -> str | None:
        """Count one request to `url`; the budget it would exceed instead, if any."""
        limits = self.limits
        budget = limits.max_urls_per_host
        if budget is not None and self._per_host[host] >= budget:
            return "host_budget"
        query_budget = limits.max_urls_per_pattern
        path, query = urls.path_and_query(url)
        if query and query_budget is not None:
            keys = "&".join(sorted({pair.partition("=")[0] for pair in query.split("&")}))
            pattern = (host, path, keys)
            if self._per_pattern[pattern] >= query_budget:
                return "pattern_budget"
            self._per_pattern[pattern] += 1
        self._per_host[host] += 1
        return None
