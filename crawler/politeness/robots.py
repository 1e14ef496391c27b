"""robots.txt (RFC 9309, parsed with Protego) and the page-level robots directives.

robots.txt is fetched per host key before that host's first request, with up
to 5 redirects and cut at 500 KiB as the RFC allows. A 4xx answer (or more
than 5 redirects) means no rules; a 5xx, a 429, a timeout or a network error
means "unreachable": the host is treated as fully disallowed for now, and the
politeness layer tries again later or gives the host up.

Groups are matched on a product token ("crawler"), not on the whole
User-Agent header: Protego looks for a group's name anywhere in the string it
is given at a word start, so "crawler/0.1 (+https://example.com/bot)" would
also pick a group written for "example".

Page-level directives come from `<meta name="robots">`, `<meta name="TOKEN">`
and the `X-Robots-Tag` header; `page_directives` reads them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

from protego import Protego

from crawler import urls
from crawler.config import CrawlConfig, PolitenessConfig
from crawler.errors import FetchError
from crawler.fetch.http import Fetcher
from crawler.html.parser import ParsedPage, robots_meta
from crawler.models import Request, Response

log = logging.getLogger(__name__)

MAX_ROBOTS_SIZE = 500 * 1024
MAX_ROBOTS_REDIRECTS = 5  # RFC 9309 §2.3.1.2: follow at least five


@dataclass(slots=True, frozen=True)
class RobotsRules:
    """What one host's robots.txt says."""

    parser: Protego | None   # None: no rules (4xx)
    disallow_all: bool = False
    reason: str = ""
    unreachable: bool = False  # 5xx, 429 or no answer: to be tried again

    def allowed(self, url: str, agent: str) -> bool:
        if self.disallow_all:
            return False
        return self.parser is None or self.parser.can_fetch(url, agent)

    def crawl_delay(self, agent: str) -> float | None:
        """The group's Crawl-delay in seconds, uncapped (the politeness layer caps it)."""
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(agent)
        return None if delay is None else float(delay)


def unreachable(detail: str) -> RobotsRules:
    """Rules for a robots.txt that could not be read: nothing allowed until it can be."""
    return RobotsRules(None, disallow_all=True, reason=f"robots.txt unreachable: {detail}",
                       unreachable=True)


async def fetch_robots(fetcher: Fetcher, host_key: str) -> RobotsRules:
    """Fetch and parse `host_key`/robots.txt; never raises."""
    url = f"{host_key}/robots.txt"
    try:
        response = await fetcher.fetch(Request(url), max_body_size=MAX_ROBOTS_SIZE,
                                       truncate=True, max_redirects=MAX_ROBOTS_REDIRECTS)
    except FetchError as exc:
        if exc.kind == "redirect":  # RFC 9309: past five redirects it MAY be taken as absent
            return RobotsRules(None)
        return unreachable(str(exc))
    status = response.status
    # 429 is a 4xx, but it says "too fast", not "no file": wait like for a 5xx (as Google does).
    if status >= 500 or status == 429:
        return unreachable(f"HTTP {status}")
    if status >= 300:  # 4xx, or a redirect that could not be followed: no rules
        return RobotsRules(None)
    text = response.body.decode("utf-8", errors="replace")
    try:
        return RobotsRules(Protego.parse(text))
    except Exception as exc:  # a parser bug must not stop the crawl: no usable rules
        log.warning("could not parse %s: %s", url, exc)
        return RobotsRules(None)


_PRODUCT_TOKEN = re.compile(r"\s*([A-Za-z_-]+)")


@lru_cache(maxsize=16)
def agent_token(user_agent: str) -> str:
    """The product token of a User-Agent header: "crawler" for "crawler/0.1 (+https://x/)".

    RFC 9309 matches robots.txt groups on this token, which holds only letters,
    '_' and '-'. A header that does not start with one is used as it is.
    """
    match = _PRODUCT_TOKEN.match(user_agent)
    return match.group(1) if match else user_agent.strip()


def robots_agent(config: CrawlConfig) -> str:
    """The token matched against robots.txt groups and `<meta name>`: configured or derived."""
    return config.politeness.robots_agent or agent_token(config.fetch.user_agent)


# ---- page-level directives: <meta name="robots"> and X-Robots-Tag ----

@dataclass(slots=True, frozen=True)
class PageDirectives:
    """What a page's robots directives forbid."""

    noindex: bool = False   # keep no title, text or body
    nofollow: bool = False  # follow none of its links


NO_DIRECTIVES = PageDirectives()

# X-Robots-Tag directives that take a value after a colon, so "name:" is not a user agent.
_VALUED = frozenset({"unavailable_after", "max-snippet", "max-image-preview",
                     "max-video-preview"})
_AGENT_PREFIX = re.compile(r"[a-z_-]+")
_WORDS = re.compile(r"[,\s]+")


def page_directives(agent: str, *, headers: Iterable[str] = (),
                    meta: Iterable[tuple[str, str]] = ()) -> PageDirectives:
    """The directives X-Robots-Tag values and `<meta name content>` pairs give `agent`.

    Directives add up, whichever source and whichever of the generic or
    agent-specific forms they come in; `none` means noindex and nofollow.
    Meta names other than "robots" and `agent` are ignored, and so are header
    directives prefixed with another agent ("otherbot: noindex").
    """
    agent = agent.lower()
    words: set[str] = set()
    for value in headers:
        words.update(_header_words(value, agent))
    for name, content in meta:
        if name.strip().lower() in ("robots", agent):
            words.update(_WORDS.split(content.lower()))
    none = "none" in words
    return PageDirectives(noindex=none or "noindex" in words,
                          nofollow=none or "nofollow" in words)


def _header_words(value: str, agent: str) -> list[str]:
    """The words of one X-Robots-Tag value that apply to `agent`.

    "otherbot: noindex, nofollow" applies both to otherbot only: an agent prefix
    holds until the next one, which also reads headers a proxy joined with ", ".
    """
    words: list[str] = []
    scope: str | None = None  # None: every crawler
    for part in value.lower().split(","):
        head, colon, rest = part.partition(":")
        name = head.strip()
        if colon and name not in _VALUED and _AGENT_PREFIX.fullmatch(name):
            scope, part = name, rest
        if scope is None or scope == agent:
            words.extend(_WORDS.split(part.strip()))
    return words


def directives_for(response: Response, agent: str,
                   politeness: PolitenessConfig) -> PageDirectives:
    """The directives of a fetched page that the configuration says to obey."""
    obey_noindex, obey_nofollow = politeness.noindex == "obey", politeness.nofollow == "obey"
    if not (obey_noindex or obey_nofollow):
        return NO_DIRECTIVES
    page = response.parsed_page
    found = page_directives(agent, headers=response.headers.getall("X-Robots-Tag", ()),
                            meta=robots_meta(page.tree) if page is not None else ())
    return PageDirectives(noindex=found.noindex and obey_noindex,
                          nofollow=found.nofollow and obey_nofollow)


def unfollowed(page: ParsedPage | None, directives: PageDirectives, *,
               rel_nofollow: str) -> Callable[[str], bool] | None:
    """A test for the URLs a page's callback yields that must not be followed; None: none.

    With `nofollow` no URL is followed. With `rel_nofollow: skip`, a URL the
    page links to only through `rel="nofollow"` anchors is not followed (one
    plain anchor to it is enough to follow it).
    """
    if directives.nofollow:
        return lambda url: True
    if rel_nofollow != "skip" or page is None:
        return None
    plain = {link.url for link in page.links if not link.nofollow}
    hinted = {link.url for link in page.links if link.nofollow} - plain
    if not hinted:
        return None
    return lambda url: _canonical(url) in hinted


def _canonical(url: str) -> str | None:
    try:
        return urls.canonicalize(url)
    except urls.Rejected:
        return None
