"""The configuration model: frozen, typed dataclasses that hold every default.

Nothing else in the package decides a default. A CrawlConfig is plain data:
hashable, comparable, and turned back into the dict `config_from_dict` reads by
`to_json_dict`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any, Literal

from crawler.config.rules import ExtractRule, FieldRule, HostRule

DEFAULT_USER_AGENT = "crawler/0.1"

_frozen = dataclass(frozen=True, slots=True, kw_only=True)


@_frozen
class ScopeConfig:
    """Which URLs belong to the crawl."""

    allowed_domains: tuple[str, ...] = ()  # lower case; empty: the hosts of start_urls
    allow_subdomains: bool = True  # www.x.com is inside x.com
    include: tuple[re.Pattern[str], ...] = ()  # searched in the canonical URL; any must match
    exclude: tuple[re.Pattern[str], ...] = ()  # none may match
    max_depth: int | None = None  # start URLs are depth 0; None: unlimited
    max_url_length: int = 2048  # longer URLs are traps or junk
    max_path_segments: int = 32
    max_repeated_segments: int = 2  # a path segment more often than this: /a/b/a/b/a/b


@_frozen
class LimitsConfig:
    """When to stop."""

    max_pages: int | None = None
    max_duration: float | None = None  # seconds
    max_urls_per_host: int | None = None  # URLs accepted into the frontier, per host
    # URLs per host, path and set of query keys: /calendar?month=1, ?month=2, ...
    max_urls_per_pattern: int | None = 1000
    # Sitemaps (with `sitemaps: true`). sitemaps.org allows 50,000 URLs and
    # 50 MB uncompressed per file; the XML cap leaves room for files over it.
    max_sitemap_size: int = 50 * 1024 * 1024  # bytes received (compressed), per sitemap
    max_sitemap_decompressed: int = 100 * 1024 * 1024  # XML bytes after gunzip, per sitemap
    max_sitemap_urls: int = 50_000  # <url>/<sitemap> entries read from one sitemap
    max_sitemap_depth: int = 2  # sitemap indexes followed below a discovered sitemap
    max_sitemaps: int | None = 1000  # sitemap files fetched in one crawl


@_frozen
class PolitenessConfig:
    """How gently to treat each host."""

    robots_txt: Literal["obey", "ignore"] = "obey"
    per_host_concurrency: int = 2
    per_host_delay: float = 0.25  # seconds between the starts of two requests to one host
    hosts: tuple[HostRule, ...] = ()  # first match wins
    max_retry_after: float = 300.0  # cap on how long a 429/503 Retry-After cools a host
    # robots.txt (RFC 9309)
    robots_agent: str | None = None  # product token for robots.txt groups and <meta name>;
    #                                  None: the first token of fetch.user_agent
    robots_ttl: float = 24 * 3600.0  # a cached robots.txt is fetched again after this
    robots_tries: int = 5  # an unreachable robots.txt (5xx, network) gives up its host after
    robots_backoff: float = 10.0  # wait before trying it again; doubles each time, jittered
    robots_max_backoff: float = 300.0
    max_crawl_delay: float = 30.0  # a larger Crawl-delay is cut to this
    # page-level directives: <meta name="robots">, <meta name="AGENT">, X-Robots-Tag
    noindex: Literal["obey", "ignore"] = "obey"  # obey: keep no title, text or body
    nofollow: Literal["obey", "ignore"] = "obey"  # obey: follow none of the page's links
    rel_nofollow: Literal["follow", "skip"] = "follow"  # <a rel="nofollow"> is a ranking hint
    # adaptive throttling: a host's delay moves towards latency / target_concurrency
    adaptive: bool = False
    target_concurrency: float = 1.0  # requests the server should be handling at once
    max_delay: float = 60.0  # the most adaptive throttling slows a host down to

    def rule_for(self, host: str) -> tuple[int, float]:
        """(concurrency, delay) for `host`: the first matching rule, else the defaults."""
        for rule in self.hosts:
            if rule.matches(host):
                concurrency = self.per_host_concurrency if rule.concurrency is None else (
                    rule.concurrency)
                delay = self.per_host_delay if rule.delay is None else rule.delay
                return concurrency, delay
        return self.per_host_concurrency, self.per_host_delay


@_frozen
class FetchConfig:
    """HTTP settings."""

    concurrency: int = 16  # worker tasks
    timeout: float = 30.0  # seconds, total per request, body included
    connect_timeout: float = 10.0
    read_timeout: float = 15.0  # seconds without a byte (headers or body) before giving up
    max_body_size: int = 10 * 1024 * 1024  # bytes after content decoding
    max_redirects: int = 10  # hops followed from one request; more is an error
    user_agent: str = DEFAULT_USER_AGENT
    headers: tuple[tuple[str, str], ...] = ()
    parse_in_thread_above: int = 256 * 1024  # bytes
    retries: int = 2  # retries after the first attempt, for connection errors,
    #                   timeouts and retry_statuses
    retry_statuses: tuple[int, ...] = (408, 429, 500, 502, 503, 504)
    backoff: float = 0.5  # seconds before the first retry; doubles each time, with jitter
    max_backoff: float = 60.0


@_frozen
class StoreConfig:
    """What to keep in the database for each page."""

    body: bool = True
    text: bool = True
    links: bool = True
    markdown: bool = False  # Markdown of the main content, for search and language models
    # Responses that are not HTML: a row without the body (never read), the body
    # kept (not parsed), or no row at all.
    non_html: Literal["metadata", "body", "skip"] = "metadata"


@_frozen
class CrawlConfig:
    """Everything about one crawl."""

    name: str = "crawl"
    start_urls: tuple[str, ...] = ()
    sitemaps: bool = False  # seed from the start hosts' sitemaps (robots.txt, /sitemap.xml)
    output: str | None = None  # None: "<name>.db"
    # Where URLs to fetch and the seen-set live: on disk in the output file
    # (bounded memory, resumable) or in memory (no resume; tests and benchmarks).
    frontier: Literal["sqlite", "memory"] = "sqlite"
    # An unfinished crawl of the same name in the output file: continue it
    # (auto), insist on continuing one (always), or start over (never).
    resume: Literal["auto", "always", "never"] = "auto"
    recrawl: bool = False  # re-fetch the last crawl's pages with If-None-Match/If-Modified-Since
    scope: ScopeConfig = field(default_factory=ScopeConfig)
    limits: LimitsConfig = field(default_factory=LimitsConfig)
    politeness: PolitenessConfig = field(default_factory=PolitenessConfig)
    fetch: FetchConfig = field(default_factory=FetchConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    extract: tuple[ExtractRule, ...] = ()
    source: str | None = None  # the file it came from

    @property
    def output_path(self) -> str:
        """The SQLite file to write: `output`, or "<name>.db"."""
        return self.output if self.output is not None else f"{self.name}.db"

    def to_json_dict(self) -> dict[str, Any]:
        """A plain JSON-serialisable dict that `config_from_dict` reads back."""
        data = _plain(self)
        del data["source"]
        data["politeness"]["hosts"] = {
            rule.pattern: {"concurrency": rule.concurrency, "delay": rule.delay}
            for rule in self.politeness.hosts}
        data["fetch"]["headers"] = dict(self.fetch.headers)
        data["extract"] = [
            {"match": _plain(rule.match), "type": rule.type,
             "fields": {f.name: _plain(f) for f in rule.fields}}
            for rule in self.extract]
        return data


def _plain(value: Any) -> Any:
    """Dataclasses to dicts, tuples to lists, patterns and field rules to their strings."""
    if isinstance(value, re.Pattern):
        return value.pattern
    if isinstance(value, FieldRule):
        return [value.expression] if value.many else value.expression
    if isinstance(value, tuple):
        return [_plain(item) for item in value]
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in fields(value)}
    return value
