"""Redis memory of a distributed crawl's frontier: bytes per URL seen and per URL queued.

Starts its own redis-server on a free loopback port, then through the real
`RedisFrontier`:

1. adds N URLs (realistic ones, ~70 characters, a referrer each) in batches,
   as a crawl does: each is then both *seen* and *queued*;
2. leases and settles them all, as fetching would: each is then only *seen*.

Redis's own `used_memory` after each step, minus the empty server's, divided
by N gives bytes per URL queued (seen-set + queue) and per URL seen. Beside
it, in the same server, the seen-set scrapy-redis keeps (a SET of 40-character
SHA-1 hex fingerprints, its RFPDupeFilter) for the same N URLs::

    .venv/bin/python benchmarks/cluster_memory.py                # 1,000,000 URLs
    .venv/bin/python benchmarks/cluster_memory.py --urls 100000 --json out.json

Needs redis-server (apt-get install redis-server) and the redis extra.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from crawler.cluster.frontier import RedisFrontier  # noqa: E402
from crawler.cluster.keys import Keys  # noqa: E402
from crawler.frontier.codec import RequestCodec  # noqa: E402
from crawler.models import Request  # noqa: E402

BATCH = 5000
HOSTS = 20


def url_of(i: int) -> str:
    return f"https://shop{i % HOSTS}.example.test/catalogue/item-{i:08d}/reviews?page={i % 7}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def used(client: Redis) -> int:
    return int((await client.info("memory"))["used_memory"])


async def measure(client: Redis, urls: int) -> dict[str, Any]:
    frontier = RedisFrontier(client, Keys.of("bench"), RequestCodec(), lease_ttl=600)
    empty = await used(client)
    started = time.perf_counter()
    for start in range(0, urls, BATCH):
        entries = [(f"https://shop{i % HOSTS}.example.test:443",
                    Request(url_of(i), depth=3, referrer=url_of(i - 1)))
                   for i in range(start, min(urls, start + BATCH))]
        await frontier.add(entries)
    added = time.perf_counter() - started
    queued = await used(client)
    for host in range(HOSTS):
        while leased := await frontier.lease(f"https://shop{host}.example.test:443", BATCH):
            await frontier.settle([(request, "done") for request in leased])
    await frontier.close()
    seen = await used(client)
    return {"urls": urls, "add_seconds": round(added, 2),
            "bytes_per_url_queued": round((queued - empty) / urls, 1),
            "bytes_per_url_seen": round((seen - empty) / urls, 1)}


async def scrapy_redis_seen(client: Redis, urls: int) -> float:
    """Bytes per URL of scrapy-redis's dupefilter: SHA-1 hex fingerprints in a SET."""
    before = await used(client)
    for start in range(0, urls, BATCH):
        members = [hashlib.sha1(url_of(i).encode()).hexdigest()
                   for i in range(start, min(urls, start + BATCH))]
        await client.sadd("scrapy-redis:dupefilter", *members)
    return round((await used(client) - before) / urls, 1)


async def main_async(urls: int) -> dict[str, Any]:
    port = free_port()
    with tempfile.TemporaryDirectory() as directory:
        server = subprocess.Popen(
            [shutil.which("redis-server") or "redis-server", "--port", str(port), "--bind",
             "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", directory],
            stdout=subprocess.DEVNULL)
        try:
            client = Redis(host="127.0.0.1", port=port)
            for _ in range(100):
                try:
                    await client.ping()
                    break
                except Exception:
                    await asyncio.sleep(0.05)
            ours = await measure(client, urls)
            ours["scrapy_redis_bytes_per_url_seen"] = await scrapy_redis_seen(client, urls)
            await client.aclose()
            return ours
        finally:
            server.terminate()
            server.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--urls", type=int, default=1_000_000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    result = asyncio.run(main_async(args.urls))
    for key, value in result.items():
        print(f"{key:>34}  {value}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["bytes_per_url_seen"] < 100 else 2


if __name__ == "__main__":
    sys.exit(main())
