"""`crawler status redis://...`: what a distributed crawl is doing, read from Redis.

For each crawl (or the one named): the cluster's totals (queued, leased,
done, failed, dropped, pages), its processes with their last report (alive
when it reported within three poll intervals) and the hosts with the most
requests queued.
"""

from __future__ import annotations

import json
import time
from typing import Any

from crawler.cluster.keys import PREFIX, Keys

ALIVE_WITHIN = 10.0  # seconds since a process's last report for it to count as alive
TOP_HOSTS = 10


async def crawl_names(client: Any) -> list[str]:
    """The crawls that have keys in this Redis."""
    names = set()
    async for key in client.scan_iter(match=f"{PREFIX}*:counts", count=1000):
        text = key.decode() if isinstance(key, bytes) else key
        names.add(text[len(PREFIX):-len(":counts")])
    return sorted(names)


async def status(client: Any, name: str) -> dict[str, Any]:
    """The state of crawl `name`, as plain data."""
    keys = Keys.of(name)
    counts = {_text(k): int(v) for k, v in (await client.hgetall(keys.counts)).items()}
    queued = {_text(k): int(v) for k, v in (await client.hgetall(keys.queued)).items()}
    now = time.time()
    nodes = []
    for report in (await client.hgetall(keys.nodes)).values():
        node = json.loads(report)
        node["alive"] = not node.get("finished") and now - node["seen_at"] < ALIVE_WITHIN
        nodes.append(node)
    busiest = sorted(queued.items(), key=lambda item: -item[1])[:TOP_HOSTS]
    return {"crawl": name, "counts": counts, "nodes": sorted(nodes, key=lambda n: n["node"]),
            "busiest_hosts": busiest}


def render(state: dict[str, Any]) -> str:
    """The state as lines of text for a terminal."""
    counts = state["counts"]
    lines = [f"crawl {state['crawl']!r}: " + "  ".join(
        f"{k} {counts.get(k, 0):,}" for k in ("queued", "leased", "done", "failed",
                                              "dropped", "pages"))]
    for node in state["nodes"]:
        mark = "alive" if node["alive"] else ("finished" if node.get("finished") else "gone")
        lines.append(f"  {node['node']:<28} {mark:<8} pages {node['pages']:,}  "
                     f"{node['pages_per_second']:,.1f}/s  in flight {node['in_flight']}  "
                     f"errors {node['errors']:,}")
    if state["busiest_hosts"]:
        lines.append("  busiest hosts: " + ", ".join(
            f"{host} ({count:,})" for host, count in state["busiest_hosts"]))
    return "\n".join(lines)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
