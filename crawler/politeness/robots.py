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

Page-level directives (`<meta name="robots">`, X-Robots-Tag) are in
`crawler.politeness.directives`.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import lru_cache

from protego import Protego

from crawler.config import CrawlConfig
from crawler.errors import FetchError
from crawler.fetch.base import Fetcher, FetchOptions
from crawler.models import Request

log = logging.getLogger(__name__)

MAX_ROBOTS_SIZE = 500 * 1024
MAX_ROBOTS_REDIRECTS = 5  # RFC 9309 §2.3.1.2: follow at least five
# RFC 9309 §2.5: a crawler may cut robots.txt at 500 KiB and use what it read.
_OPTIONS = FetchOptions(max_body_size=MAX_ROBOTS_SIZE, truncate=True,
                        max_redirects=MAX_ROBOTS_REDIRECTS)


@dataclass(slots=True, frozen=True)
class RobotsRules:
    """What one host's robots.txt says."""

    parser: Protego | None   # None: no rules (4xx)
    disallow_all: bool = False
    reason: str = ""
    unreachable: bool = False  # 5xx, 429 or no answer: to be tried again
    text: str = ""  # what was parsed (a cluster shares it with its other processes)

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
        response = await fetcher.fetch(Request(url), _OPTIONS)
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
        return RobotsRules(Protego.parse(text), text=text)
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
