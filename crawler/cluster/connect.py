"""Joining a distributed crawl: connect to Redis, or say in one line why not.

`Cluster.connect(config, codec)` returns this process's Redis side of the
crawl (frontier, host gate, shared robots.txt); a Redis that is not there,
refuses the password, or a missing `redis` package is a CrawlerError whose
message names the problem and the fix, with the password never shown.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from crawler.config import CrawlConfig
from crawler.config.checks import redacted
from crawler.errors import CrawlerError
from crawler.frontier.codec import RequestCodec

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0


def is_cluster(frontier: str) -> bool:
    """Whether the `frontier` setting names a Redis server."""
    return frontier.startswith(("redis://", "rediss://"))


class Cluster:
    """One process's share of a distributed crawl."""

    def __init__(self, client: Any, config: CrawlConfig, codec: RequestCodec) -> None:
        from crawler.cluster.frontier import RedisFrontier, lease_window
        from crawler.cluster.gate import ClusterGate
        from crawler.cluster.keys import Keys
        from crawler.cluster.robots import SharedRobots

        self.client = client
        self.config = config
        self.keys = Keys.of(config.name)
        self.frontier = RedisFrontier(client, self.keys, codec,
                                      lease_ttl=config.cluster.lease_ttl,
                                      window=lease_window(config))
        self.gate = ClusterGate(client, self.keys, config)
        self.robots = SharedRobots(client, self.keys, config.politeness)

    @classmethod
    async def connect(cls, config: CrawlConfig, codec: RequestCodec) -> Cluster:
        client = await open_client(config.frontier)
        return cls(client, config, codec)

    def watch(self, windows: Any, scheduler: Any, stats: Any) -> Any:
        """The ClusterWatch of this process (see crawler.cluster.watch)."""
        from crawler.cluster.watch import ClusterWatch

        return ClusterWatch(self.client, self.frontier, self.gate, self.config,
                            windows=windows, scheduler=scheduler, stats=stats)

    async def clear(self) -> int:
        """Delete this crawl's keys (`--fresh`); other crawls' keys are not touched."""
        deleted = 0
        async for found in self.client.scan_iter(match=self.keys.pattern, count=1000):
            deleted += await self.client.unlink(found)
        log.info("cleared %d keys of crawl %r in Redis", deleted, self.config.name)
        return deleted

    async def close(self) -> None:
        await self.client.aclose()


@contextlib.asynccontextmanager
async def joined(config: CrawlConfig, codec: RequestCodec) -> AsyncIterator[Cluster | None]:
    """This process's share of the distributed crawl `config.frontier` names, or None."""
    if not is_cluster(config.frontier):
        yield None
        return
    cluster = await Cluster.connect(config, codec)
    try:
        if config.resume == "never":  # --fresh: this crawl's keys only
            await cluster.clear()
        yield cluster
    finally:
        await cluster.close()


async def open_client(location: str) -> Any:
    """A connected redis-py asyncio client for `location`; CrawlerError in one line."""
    try:
        from redis import exceptions
        from redis.asyncio import from_url
    except ImportError:
        raise CrawlerError("a Redis frontier needs redis-py: pip install 'crawler[redis]'"
                           ) from None
    shown = redacted(location)
    client = from_url(location, socket_connect_timeout=CONNECT_TIMEOUT,
                      health_check_interval=30)
    try:
        await client.ping()
    except exceptions.AuthenticationError as exc:
        await client.aclose()
        raise CrawlerError(f"Redis at {shown} refused the credentials ({exc}); fix the "
                           "password in the URL") from None
    except (exceptions.ConnectionError, exceptions.TimeoutError, OSError) as exc:
        await client.aclose()
        raise CrawlerError(f"cannot reach Redis at {shown} ({exc}); start redis-server there "
                           "or fix --frontier") from None
    return client
