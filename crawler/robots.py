"""robots.txt, parsed with Protego: fetched once per host key before that host's first request.

RFC 9309: a 4xx answer means no rules (allow all); a 5xx answer or a network
error means the site may be down, so the host is treated as fully
disallowed and recorded. Redirects are followed; the file is cut at
500 KiB as the RFC allows. Retrying an unreachable robots.txt later, and a
cache TTL, are the next steps (issue 3).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from protego import Protego

from crawler.errors import FetchError
from crawler.fetcher import Fetcher
from crawler.models import Request

log = logging.getLogger(__name__)

MAX_ROBOTS_SIZE = 500 * 1024
MAX_ROBOTS_REDIRECTS = 5  # RFC 9309 §2.3.1.2: follow at least five
MAX_CRAWL_DELAY = 30.0  # seconds: a Crawl-delay above this is capped, not obeyed blindly


@dataclass(slots=True, frozen=True)
class RobotsRules:
    """What one host's robots.txt says for our user agent."""

    parser: Protego | None   # None: no rules (4xx)
    disallow_all: bool = False
    reason: str = ""

    def allowed(self, url: str, user_agent: str) -> bool:
        if self.disallow_all:
            return False
        return self.parser is None or self.parser.can_fetch(url, user_agent)

    def crawl_delay(self, user_agent: str) -> float | None:
        if self.parser is None:
            return None
        delay = self.parser.crawl_delay(user_agent)
        return None if delay is None else min(float(delay), MAX_CRAWL_DELAY)


async def fetch_robots(fetcher: Fetcher, host_key: str) -> RobotsRules:
    """Fetch and parse `host_key`/robots.txt; never raises."""
    url = f"{host_key}/robots.txt"
    try:
        response = await fetcher.fetch(Request(url), max_body_size=MAX_ROBOTS_SIZE,
                                       truncate=True, max_redirects=MAX_ROBOTS_REDIRECTS)
    except FetchError as exc:
        return RobotsRules(None, disallow_all=True, reason=f"robots.txt unreachable: {exc}")
    if 400 <= response.status < 500:
        return RobotsRules(None)
    if response.status >= 500:
        return RobotsRules(None, disallow_all=True,
                           reason=f"robots.txt answered HTTP {response.status}")
    text = response.body.decode("utf-8", errors="replace")
    try:
        return RobotsRules(Protego.parse(text))
    except Exception as exc:  # a parser bug must not stop the crawl: no usable rules
        log.warning("could not parse %s: %s", url, exc)
        return RobotsRules(None)
