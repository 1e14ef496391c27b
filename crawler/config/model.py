"""The configuration model: frozen, typed dataclasses, each key declared once.

A key is a field declared with `key(default, validator, doc)`: its type is the
annotation, and the field carries its default, how a value is checked and the
sentence that documents it (the README's reference table is generated from
these; see `crawler.config.reference`). Nothing else in the package decides a
default. A CrawlConfig is plain data: hashable, comparable, and turned back
into the dict `config_from_dict` reads by `to_json_dict`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Literal

from crawler.config import secrets
from crawler.config.checks import (
    auto_or,
    boolean,
    choice,
    domain,
    duration,
    frontier_location,
    integer,
    key,
    list_of,
    optional,
    param_names,
    path_string,
    positive_number,
    product_token,
    redacted,
    regex,
    schema_type,
    section,
    size,
    status,
    string,
    url,
)
from crawler.config.rules import (
    ExtractRule,
    FetchHostRule,
    FieldRule,
    HostRule,
    RenderRule,
    extract_rules,
    fetch_host_rules,
    host_rules,
    preset_cookies,
    proxy_list,
    render_rules,
    secret_headers,
)

DEFAULT_USER_AGENT = "crawler/0.1"
# What a rendered page may be told not to load (Playwright's resource types, less the document).
RESOURCE_TYPES = ("image", "media", "font", "stylesheet", "script", "xhr", "fetch",
                  "websocket", "eventsource", "manifest", "texttrack", "other")

_frozen = dataclass(frozen=True, slots=True, kw_only=True)

# What `urls.drop_params: true` leaves out of URLs (the README lists them): campaign tags
# and ad-click ids, which mark how a visitor came and not what the page is, and session
# ids, which a server puts in URLs for clients without cookies.
TRACKING_PARAMS = (
    "utm_*",                                   # Google Analytics campaigns (utm_source, ...)
    "fbclid", "gclid", "gclsrc", "dclid", "gbraid", "wbraid",  # Facebook, Google Ads
    "msclkid", "yclid", "twclid", "ttclid", "li_fat_id", "igshid",  # Bing, Yandex, X, ...
    "mc_cid", "mc_eid",                        # Mailchimp
    "_hsenc", "_hsmi", "mkt_tok", "_ga", "_gl",  # HubSpot, Marketo, Google's linker
    "jsessionid", "phpsessid", "sid", "sessionid", "session_id", "cfid", "cftoken",
)


@_frozen
class ScopeConfig:
    """Which URLs belong to the crawl."""

    # Empty: filled with the start URLs' hosts when the config is read.
    allowed_domains: tuple[str, ...] = key(
        (), list_of(domain), "hosts that may be crawled", shown="the start URLs' hosts")
    allow_subdomains: bool = key(True, boolean, "`www.x.com` is inside `x.com`")
    include: tuple[re.Pattern[str], ...] = key(
        (), list_of(regex),
        "regexes searched in the canonical URL; if any are given, one must match")
    exclude: tuple[re.Pattern[str], ...] = key(
        (), list_of(regex), "regexes; a URL matching any is not crawled")
    max_depth: int | None = key(
        None, optional(integer(0)), "links followed from the start URLs", shown="unlimited")
    # Longer, deeper or self-repeating URLs are traps or junk.
    max_url_length: int = key(
        2048, integer(16), "longer URLs are dropped (`url_too_long`)")
    max_path_segments: int = key(
        32, integer(1), "deeper paths are dropped (`too_many_segments`)")
    max_repeated_segments: int = key(
        2, integer(1), "a path naming one segment more often is a trap: `/a/b/a/b/a/b` "
                       "(`repeated_segments`)")


@_frozen
class UrlsConfig:
    """When two URLs are one page: the canonical form that deduplication compares."""

    sort_query: bool = key(
        True, boolean,
        "query parameters sorted by name, stable for a repeated name, so `?b=2&a=1` and "
        "`?a=1&b=2` are one URL (fetched once, stored so); `false`: kept as written")
    drop_params: tuple[str, ...] = key(
        (), param_names(TRACKING_PARAMS),
        "query parameters left out of URLs (and `;name=` path parameters): `true` for the "
        "tracking and session parameters listed below the table, or a list of names and "
        "globs, case-insensitive: `[utm_*, ref]`", shown="`false`")


@_frozen
class LimitsConfig:
    """When to stop."""

    max_pages: int | None = key(
        None, optional(integer(1)),
        "pages stored before the crawl stops (over all runs of a resumed crawl)",
        shown="unlimited")
    max_duration: float | None = key(  # seconds
        None, optional(duration(positive=True)), "wall time before the crawl stops",
        shown="unlimited")
    max_urls_per_host: int | None = key(
        None, optional(integer(1)), "requests sent to one host (`host_budget`)",
        shown="unlimited")
    max_urls_per_pattern: int | None = key(
        1000, optional(integer(1)),
        "requests per host, path and set of query keys, so `/calendar?month=N` cannot grow "
        "for ever (`pattern_budget`); paths like `/product/123` are not patterns. Both "
        "budgets are counted when a request is dispatched")
    # Sitemaps (with `sitemaps: true`). sitemaps.org allows 50,000 URLs and
    # 50 MB uncompressed per file; the XML cap leaves room for files over it.
    max_sitemap_size: int = key(
        50 * 1024 * 1024, size(1),
        "bytes of one sitemap as sent (compressed when it is gzip); the rest is cut off, the "
        "URLs before the cut are used", shown="`50MB`")
    max_sitemap_decompressed: int = key(
        100 * 1024 * 1024, size(1),
        "bytes of XML in one sitemap after decompression, so a gzip bomb stops there",
        shown="`100MB`")
    max_sitemap_urls: int = key(
        50_000, integer(1),
        "entries read from one sitemap (the protocol's limit); the rest are not read")
    max_sitemap_depth: int = key(
        2, integer(0), "levels of sitemap indexes followed below a sitemap found in robots.txt "
                       "or at `/sitemap.xml`")
    max_sitemaps: int | None = key(
        1000, optional(integer(1)), "sitemap files fetched in one crawl; `null` = unlimited")


@_frozen
class PolitenessConfig:
    """How gently to treat each host."""

    robots_txt: Literal["obey", "ignore"] = key(
        "obey", choice("obey", "ignore"), "`obey` or `ignore`")
    per_host_concurrency: int = key(2, integer(1), "requests in flight to one host")
    per_host_delay: float = key(
        0.25, duration(positive=False), "seconds between the starts of two requests to one host")
    hosts: tuple[HostRule, ...] = key(
        (), host_rules, 'overrides by host pattern, first match wins: '
                        '`{"*.example.com": {concurrency: 4, delay: 0}}`')
    max_retry_after: float = key(
        300.0, duration(positive=True),
        "cap on how long a 429/503 `Retry-After` cools its whole host", shown="`5m`")
    # robots.txt (RFC 9309)
    robots_agent: str | None = key(
        None, optional(product_token),
        'the product token matched against robots.txt groups and `<meta name="…">` (letters, '
        "`_`, `-`): `crawler` for `crawler/0.1 (+https://…)`; set it when your user agent does "
        "not start with your bot's name", shown="the first token of `fetch.user_agent`")
    robots_ttl: float = key(
        24 * 3600.0, duration(positive=True),
        "a cached robots.txt is fetched again after this long (RFC 9309: at most 24 h)",
        shown="`24h`")
    robots_tries: int = key(
        5, integer(1), "unreachable robots.txt answers (5xx, 429, timeout, network error) in a "
                       "row before its host is given up")
    robots_backoff: float = key(
        10.0, duration(positive=True),
        "wait before trying an unreachable robots.txt again (the host waits meanwhile); "
        "doubles each time, ×0.5–1.5 jitter", shown="`10s`")  # noqa: RUF001
    robots_max_backoff: float = key(
        300.0, duration(positive=True), "cap on that wait", shown="`5m`")
    max_crawl_delay: float = key(
        30.0, duration(positive=False),
        "a larger robots.txt `Crawl-delay` is cut to this (`0`: ignore Crawl-delay)",
        shown="`30s`")
    # page-level directives: <meta name="robots">, <meta name="AGENT">, X-Robots-Tag
    noindex: Literal["obey", "ignore"] = key(
        "obey", choice("obey", "ignore"),
        '`obey`: a page with `noindex` (meta robots, `<meta name="TOKEN">`, `X-Robots-Tag`) '
        "keeps no title, text, Markdown or body and is left out of search; `ignore`")
    nofollow: Literal["obey", "ignore"] = key(
        "obey", choice("obey", "ignore"),
        "`obey`: a page with `nofollow` has its links stored but not followed; `ignore`")
    # <a rel="nofollow"> is a ranking hint, not a directive, so it is followed by default.
    rel_nofollow: Literal["follow", "skip"] = key(
        "follow", choice("follow", "skip"),
        '`skip`: do not follow links a page marks only with `rel="nofollow"`')
    # adaptive throttling: a host's delay moves towards latency / target_concurrency
    adaptive: bool = key(
        False, boolean, "adaptive throttling per host: the delay follows the host's latency "
                        "and backs off on 429/5xx/timeouts")
    target_concurrency: float = key(
        1.0, positive_number, "adaptive: the delay tends to latency ÷ this, i.e. about this "
                              "many requests in flight per host")
    max_delay: float = key(
        60.0, duration(positive=True),
        "adaptive: the most it slows a host down to (a higher `Crawl-delay` still wins)",
        shown="`60s`")

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

    concurrency: int = key(16, integer(1), "worker tasks: requests in flight over all hosts")
    timeout: float = key(
        30.0, duration(positive=True), "total time for one request, body included, so a server "
                                       "that dribbles its body costs at most this",
        shown="`30s`")
    connect_timeout: float = key(
        10.0, duration(positive=True), "time to connect", shown="`10s`")
    read_timeout: float = key(
        15.0, duration(positive=True),
        "time without a single byte (waiting for the headers or within the body); a server "
        "that never answers costs this much", shown="`15s`")
    max_body_size: int = key(
        10 * 1024 * 1024, size(1),
        "reading stops here: the page is stored with its status and headers but no body, and "
        "recorded in `errors` as `too_large`. It counts bytes after gzip/deflate/br decoding, "
        "so a compression bomb stops here too", shown="`10MB`")
    max_redirects: int = key(
        10, integer(0), "redirects followed from one request; a longer chain, or a loop, is "
                        "recorded in `errors` as `redirect`")
    user_agent: str = key(
        DEFAULT_USER_AGENT, string, "sent with every request; its first token is matched "
                                    "against robots.txt (see `politeness.robots_agent`)")
    headers: tuple[tuple[str, str], ...] = key(
        (), secret_headers, "extra request headers, sent to every host (`${NAME}` reads a "
                            "value from the environment; see `hosts` for credentials)")
    parse_in_thread_above: int = key(
        256 * 1024, size(0), "pages larger than this are parsed in a thread", shown="`256KB`")
    parse_processes: int | None = key(
        None, auto_or(integer(0)),
        "processes that parse and read HTML (links, text, metadata, Markdown) beside the "
        "event loop; `0`: all on the loop. Default: one less than the CPUs, at most 2, "
        "started once the crawl has read 50 pages", shown="auto")
    retries: int = key(
        2, integer(0),
        "retries after the first attempt, for connection errors, timeouts and `retry_statuses`")
    retry_statuses: tuple[int, ...] = key(
        (408, 429, 500, 502, 503, 504), list_of(status), "HTTP statuses worth another try")
    backoff: float = key(
        0.5, duration(positive=False),
        "wait before the first retry; doubles for each retry, ×0.5–1.5 jitter",  # noqa: RUF001
        shown="`0.5s`")
    max_backoff: float = key(
        60.0, duration(positive=True), "cap on that wait", shown="`60s`")
    # Rendering in a browser (crawler[browser]: Playwright driving Chromium).
    render: Literal["never", "always", "auto"] = key(
        "never", choice("never", "always", "auto"),
        "render HTML pages in a browser: `never`, `always`, or `auto` (only pages that look "
        "built by scripts, learning per host and URL pattern whether rendering finds more); "
        "a request's `meta={\"render\": true}` renders it whatever this says")
    render_match: tuple[re.Pattern[str], ...] = key(
        (), list_of(regex), "regexes searched in the URL: `always` and `auto` apply only to "
                            "matching URLs (the rest are fetched over HTTP); empty: every URL")
    render_hosts: tuple[RenderRule, ...] = key(
        (), render_rules, "`fetch.render` by host pattern, first match wins: "
                          '`{"app.example.com": always, "*.example.com": never}`')
    browser_path: str | None = key(
        None, optional(path_string), "the Chromium to run; unset: Playwright's own if "
                                     "installed, else `chromium` (or Chrome) on the PATH",
        shown="found")
    browser_concurrency: int = key(
        4, integer(1), "pages rendered at once, shared by all workers (one browser)")
    browser_recycle: int = key(
        100, integer(1), "a browser context (cookies, cache, memory) is replaced after "
                         "rendering this many pages, so memory stays flat on long crawls")
    render_wait_until: Literal["load", "domcontentloaded", "networkidle"] = key(
        "load", choice("load", "domcontentloaded", "networkidle"),
        "the page event a render waits for before the DOM is captured")
    render_wait_for: str | None = key(
        None, optional(string), "a CSS selector that must be in the page before it is "
                                      "captured (waited for within `render_timeout`)")
    render_settle: float = key(
        0.1, duration(positive=False),
        "then wait until no fetch/XHR is pending and the DOM has not changed for this long "
        "(so content loaded by `fetch()` is in); `0`: capture at once", shown="`100ms`")
    render_timeout: float = key(
        30.0, duration(positive=True), "the most one render may take (navigation, waits, the "
                                       "spider's `interact`, capture); then a `timeout` error",
        shown="`30s`")
    render_block: tuple[str, ...] = key(
        ("image", "media", "font"), list_of(choice(*RESOURCE_TYPES)),
        "resource types a rendered page does not load (" + ", ".join(RESOURCE_TYPES) + ")")

    def render_for(self, host: str) -> str:
        """`render` for `host`: the first matching `render_hosts` rule, else `render`."""
        for rule in self.render_hosts:
            if rule.matches(host):
                return rule.render
        return self.render
    # Proxies (crawler/fetch/proxies.py)
    proxy: tuple[str, ...] = key(
        (), proxy_list,
        "an HTTP proxy (`http://host:3128`, `https://…`, with `user:password@` if it needs "
        "them; `${NAME}` reads a variable from the environment), or a list of them rotated as "
        "`proxy_rotation` says; a proxy that fails is benched and the request tried on another",
        shown="none")
    proxy_rotation: Literal["request", "host"] = key(
        "request", choice("request", "host"),
        "with several proxies: the next one for each request (`request`), or one per host, kept "
        "until it fails (`host`)")
    proxy_env: bool = key(
        False, boolean, "without a configured proxy, use `HTTP_PROXY` / `HTTPS_PROXY` / "
                        "`ALL_PROXY`, and `NO_PROXY`, from the environment")
    # Cookies (crawler/fetch/cookies.py)
    cookies: bool = key(
        False, boolean, "keep the cookies sites set (RFC 6265 rules, per host) and send them "
                        "back; the jar is saved in the file, so a resumed crawl keeps its "
                        "session")
    preset_cookies: tuple[tuple[str, str, str], ...] = key(
        (), preset_cookies, 'cookies to start with, by domain (sent to it and its subdomains): '
                            '`{"example.com": {session: "${SESSION}"}}`; needs `cookies: true`')
    hosts: tuple[FetchHostRule, ...] = key(
        (), fetch_host_rules,
        'what to send to hosts matching a pattern, and to no other: `headers`, `basic` '
        '(`{user, password}`), `bearer`, `proxy` (a URL, a list or `direct`); first match '
        'wins: `{"api.example.com": {bearer: "${API_TOKEN}"}}`')


@_frozen
class StoreConfig:
    """What to keep in the database for each page."""

    body: bool = key(True, boolean, "keep response bodies (needed for WARC export)")
    text: bool = key(True, boolean, "keep the visible text (needed for search)")
    links: bool = key(True, boolean, "keep every link in `links`")
    markdown: bool = key(
        False, boolean, "keep the main content as Markdown (`pages.markdown`: navigation, "
                        "banners, share bars, comments and related links left out) and a "
                        "SimHash of its text (`pages.simhash`) for near-duplicate detection")
    metadata: bool = key(
        True, boolean, "keep the page's metadata as JSON (`pages.metadata`): title, "
                       "description, author, published and modified dates, language, "
                       "canonical URL, site name, image, type, from meta tags, OpenGraph and "
                       "schema.org (JSON-LD, microdata)")
    non_html: Literal["metadata", "body", "skip"] = key(
        "metadata", choice("metadata", "body", "skip"),
        "responses that are not HTML (HTML: `text/html`, `application/xhtml+xml`, or no "
        "Content-Type and a body that starts like HTML): `metadata` stores the row (status, "
        "headers, type) without reading the body, `body` keeps the body too (never parsed), "
        "`skip` stores nothing and counts it (`dropped.non_html`; an error status is still "
        "recorded)")
    screenshot: bool = key(
        False, boolean, "keep a PNG of every rendered page in `screenshots` "
                        "(`crawler export DB --what screenshots -o DIR`)")
    screenshot_full_page: bool = key(
        True, boolean, "the screenshot covers the whole page; `false`: the viewport only")


@_frozen
class ClusterConfig:
    """A distributed crawl: several processes sharing one frontier in Redis."""

    lease_ttl: float = key(
        30.0, duration(positive=True),
        "how long a process may hold requests without renewing its lease; a process that "
        "died gives its requests back to the others after this", shown="`30s`")
    poll_interval: float = key(
        1.0, duration(positive=True),
        "how often a process asks the cluster for new hosts, expired leases, global counts "
        "and whether the crawl is over", shown="`1s`")
    node: str | None = key(
        None, optional(string), "this process's name in `crawler status`",
        shown="`hostname:pid`")


@_frozen
class CrawlConfig:
    """Everything about one crawl."""

    name: str = key(
        "crawl", string, "the crawl's name (`crawls.name`, the default item type)",
        shown="the file's name")
    start_urls: tuple[str, ...] = key((), list_of(url), "where the crawl begins (depth 0)")
    sitemaps: bool = key(
        False, boolean, "also start from the start hosts' sitemaps: robots.txt `Sitemap:` "
                        "lines, else `/sitemap.xml` (only that with `robots_txt: ignore`)")
    output: str | None = key(
        None, optional(path_string), "the SQLite file", shown="`<name>.db`")
    frontier: str = key(
        "sqlite", frontier_location,
        "where URLs to fetch and the seen-set live: `sqlite` (in the output file: bounded "
        "memory, resumable), `memory` (faster to start, nothing survives the process), or a "
        "Redis URL (`redis://host:6379/0`, `rediss://` for TLS) shared by every process of a "
        "distributed crawl (`--frontier`)")
    resume: Literal["auto", "always", "never"] = key(
        "auto", choice("auto", "always", "never"),
        "an unfinished crawl of this name in the output file: continue it (`auto`), insist on "
        "continuing the last one (`always`, `--resume`), or start a new crawl (`never`, "
        "`--fresh`)")
    recrawl: bool = key(
        False, boolean, "start a new crawl from the last one's pages, fetched conditionally, "
                        "and record each as `new`, `changed` or `unchanged` (`--recrawl`)")
    scope: ScopeConfig = section(ScopeConfig)
    urls: UrlsConfig = section(UrlsConfig)
    limits: LimitsConfig = section(LimitsConfig)
    politeness: PolitenessConfig = section(PolitenessConfig)
    fetch: FetchConfig = section(FetchConfig)
    store: StoreConfig = section(StoreConfig)
    cluster: ClusterConfig = section(ClusterConfig)
    schema_items: tuple[str, ...] = key(
        (), list_of(schema_type),
        "schema.org types whose objects in a page (JSON-LD or microdata) become items of that "
        "type, with no CSS: `[Product, Recipe, Event]`; a type takes in its common subtypes "
        "(`Article`: `NewsArticle`, `BlogPosting`, ...)", shown="none")
    extract: tuple[ExtractRule, ...] = key(
        (), extract_rules, "one rule or a list: `match` (URL regex), `type`, `fields` "
                           "(`sel::text`, `sel::attr(name)`, `sel::html`, `[sel]` for all "
                           "matches)", shown="none")
    source: str | None = None  # the file it came from; not a key: load_config sets it

    @property
    def output_path(self) -> str:
        """The SQLite file to write: `output`, or "<name>.db"."""
        return self.output if self.output is not None else f"{self.name}.db"

    def to_json_dict(self, *, redact: bool = False) -> dict[str, Any]:
        """A plain JSON-serialisable dict that `config_from_dict` reads back.

        With `redact` (what `crawls.config` stores), a secret written out in
        the YAML is `***`; one read from the environment stays `${NAME}`.
        """
        data = _plain(self)
        del data["source"]
        data["politeness"]["hosts"] = {
            rule.pattern: {"concurrency": rule.concurrency, "delay": rule.delay}
            for rule in self.politeness.hosts}
        data["fetch"].update(_fetch_json(self.fetch, redact))
        data["fetch"]["render_hosts"] = {rule.pattern: rule.render
                                         for rule in self.fetch.render_hosts}
        if redact:  # a Redis password is never stored
            data["frontier"] = redacted(self.frontier)
        data["extract"] = [
            {"match": _plain(rule.match), "type": rule.type,
             "fields": {f.name: _plain(f) for f in rule.fields}}
            for rule in self.extract]
        return data


def _fetch_json(fetch: FetchConfig, redact: bool) -> dict[str, Any]:
    """The fetch keys `_plain` cannot write as they are read: mappings, and secrets."""
    hide = secrets.redact if redact else str
    cookies: dict[str, dict[str, str]] = {}
    for host, name, value in fetch.preset_cookies:
        cookies.setdefault(host, {})[name] = hide(value)
    return {
        "headers": {name: secrets.redact_header(name, value) if redact else value
                    for name, value in fetch.headers},
        "proxy": [secrets.redact_url(url) if redact else url for url in fetch.proxy],
        "hosts": {rule.pattern: rule.to_json(redact=redact) for rule in fetch.hosts},
        "preset_cookies": cookies,
    }


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
