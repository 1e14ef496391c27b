"""robots.txt fetched once per host for the whole cluster, and shared with its TTL.

The first process that needs a host's rules takes a short lock in Redis,
fetches robots.txt and stores what it got (the text, "no rules", or
"unreachable" with the reason) under the host's key with an expiry: the
robots TTL for an answer, the first back-off for an unreachable one (so the
cluster does not hammer a host that is down). The others wait for that
record (polling, bounded by the lock's lifetime) and parse the same text.
If Redis cannot be asked, the process fetches robots.txt itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable

from protego import Protego
from redis.asyncio import Redis

from crawler.cluster.keys import Keys
from crawler.config import PolitenessConfig
from crawler.politeness.robots import RobotsRules, unreachable

log = logging.getLogger(__name__)

LOCK_SECONDS = 60  # longer than a robots.txt fetch can take (5 redirects, timeouts)
POLL = 0.25


class SharedRobots:
    """robots.txt rules per host, fetched by one process and read by all."""

    def __init__(self, client: Redis, keys: Keys, politeness: PolitenessConfig) -> None:
        self.keys = keys
        self._redis = client
        self._politeness = politeness

    async def rules(self, host: str,
                    fetch: Callable[[], Awaitable[RobotsRules]]) -> RobotsRules:
        """The cluster's rules for `host`, fetching them with `fetch` if nobody has yet."""
        try:
            return await self._shared(host, fetch)
        except Exception as exc:  # Redis away: this process fetches for itself
            log.warning("cannot share robots.txt of %s through Redis (%s); fetching it here",
                        host, exc)
            return await fetch()

    async def _shared(self, host: str, fetch: Callable[[], Awaitable[RobotsRules]]
                      ) -> RobotsRules:
        for _ in range(int(LOCK_SECONDS / POLL) + 1):
            record = await self._redis.get(self.keys.robots(host))
            if record is not None:
                return _rules(record)
            if await self._redis.set(self.keys.robots_lock(host), "1", nx=True,
                                     ex=LOCK_SECONDS):
                return await self._fetch_and_share(host, fetch)
            await asyncio.sleep(POLL)
        return await fetch()  # the lock holder never wrote: fetch it here

    async def _fetch_and_share(self, host: str,
                               fetch: Callable[[], Awaitable[RobotsRules]]) -> RobotsRules:
        try:
            rules = await fetch()
            ttl = self._politeness.robots_backoff if rules.unreachable else (
                self._politeness.robots_ttl)
            await self._redis.set(self.keys.robots(host), _record(rules),
                                  px=max(1, int(ttl * 1000)))
            return rules
        finally:
            await self._redis.delete(self.keys.robots_lock(host))


def _record(rules: RobotsRules) -> str:
    if rules.unreachable:
        return json.dumps({"kind": "unreachable", "reason": rules.reason})
    if rules.parser is None:
        return json.dumps({"kind": "none"})
    return json.dumps({"kind": "text", "text": rules.text})


def _rules(record: bytes | str) -> RobotsRules:
    data = json.loads(record)
    if data["kind"] == "unreachable":
        return unreachable(data["reason"].removeprefix("robots.txt unreachable: "))
    if data["kind"] == "none":
        return RobotsRules(None)
    return RobotsRules(Protego.parse(data["text"]), text=data["text"])
