"""A distributed crawl: several processes sharing one frontier, host slots and robots.txt in Redis.

Every key of a crawl starts with `crawler:{name}:` (`keys.py`); every change
that several processes could race on is one Lua script (`lua.py`), so Redis
decides it atomically. The parts: `frontier.RedisFrontier` (the `Frontier`
seam: seen-set of fingerprints, per-host queues, leases with a heartbeat),
`gate.ClusterGate` (each host's concurrency, delay, Retry-After and budgets
across the cluster), `robots.SharedRobots` (robots.txt fetched once per host
for the cluster), `watch.ClusterWatch` (new hosts, expired leases, global
counts and the end of the crawl) and `connect` (one line when Redis is not
there, passwords never shown).
"""
