"""A distributed crawl's commands: `crawler status REDIS_URL`, `crawler merge OUT SHARD...`."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from crawler.cluster.connect import open_client
from crawler.cluster.status import crawl_names, render, status
from crawler.store.merge import merge


def register(subparsers: Any) -> None:
    """Add `status` and `merge` to an argparse subparsers object."""
    p = subparsers.add_parser(
        "status", help="what a distributed crawl is doing (its Redis)",
        description="Show the totals, processes and busiest hosts of the crawls in a Redis "
                    "frontier.")
    p.add_argument("redis", metavar="REDIS_URL", help="redis://host:6379/0")
    p.add_argument("--name", help="only this crawl (default: every crawl found)")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=cmd_status)
    m = subparsers.add_parser(
        "merge", help="join the files of a distributed crawl's processes into one",
        description="Merge the shards a distributed crawl's processes wrote into one new "
                    "file: one row per URL, links, items and errors carried over.")
    m.add_argument("out", metavar="OUT", help="the new file to write")
    m.add_argument("shards", metavar="SHARD", nargs="+", help="the processes' files")
    m.add_argument("--name", help="the crawl to merge (default: the first shard's latest)")
    m.set_defaults(func=cmd_merge)


def cmd_status(args: Any) -> int:
    states = asyncio.run(_states(args.redis, args.name))
    if args.json:
        print(json.dumps(states, indent=2))
    elif not states:
        print("no crawls in this Redis")
    else:
        print("\n".join(render(state) for state in states))
    return 0


async def _states(location: str, name: str | None) -> list[dict[str, Any]]:
    client = await open_client(location)
    try:
        names = [name] if name else await crawl_names(client)
        return [await status(client, each) for each in names]
    finally:
        await client.aclose()


def cmd_merge(args: Any) -> int:
    merged = merge(args.out, args.shards, name=args.name)
    print(f"{args.out}: {merged.pages:,} pages from {len(merged.runs)} runs in "
          f"{len(args.shards)} files ({merged.duplicates:,} pages fetched twice kept once, "
          f"{merged.errors:,} errors)")
    for path in merged.empty:
        print(f"{path}: holds no crawl (its process stopped before writing); skipped")
    return 0
