"""The Lua scripts that make every cluster decision atomic in Redis.

Each takes the crawl's key prefix as ARGV[1] and builds the per-host keys
itself (so this needs one Redis server, not Redis Cluster: the keys of a
crawl are not declared up front). Times are Redis's own clock (TIME, in
milliseconds), so processes on machines whose clocks disagree still agree.

A request travels as a JSON array `[url, host, priority, depth, referrer,
extra]` (extra: the codec's JSON of what a plain link lacks, or null).
Queues are Redis lists, one per host and priority, with a sorted set of the
priorities a host has queued (highest first); leases are a hash id →
request and a sorted set id → deadline; `counts` holds the cluster's totals.
"""

from __future__ import annotations

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

# ARGV: prefix, then (fingerprint, host, priority, payload, unique) per request.
# Returns how many were new. A request whose fingerprint is already in the
# seen-set is dropped, unless `unique` is "0" (dont_filter).
ADD = """
local p = ARGV[1]
local new = 0
for i = 2, #ARGV, 5 do
  local host, prio = ARGV[i + 1], ARGV[i + 2]
  if ARGV[i + 4] == '0' or redis.call('SADD', p .. 'seen', ARGV[i]) == 1 then
    redis.call('RPUSH', p .. 'q:' .. host .. ':' .. prio, ARGV[i + 3])
    redis.call('ZADD', p .. 'prios:' .. host, -tonumber(prio), prio)
    redis.call('HINCRBY', p .. 'queued', host, 1)
    new = new + 1
  end
end
if new > 0 then redis.call('HINCRBY', p .. 'counts', 'queued', new) end
return new
"""

# ARGV: prefix, host, limit, lease ttl (ms), ask token. Returns [id, payload, id,
# payload, ...]: the host's next requests, highest priority first, each now leased
# until now + ttl (extended by the holder's heartbeat). A call is idempotent by its
# token for a lease time: a process whose call failed (the answer lost with the
# connection) asks again with the same token and gets the leases it was given, if
# they are still leased, rather than leaving them to expire unused.
LEASE = _NOW + """
local p, host, limit, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local asked = p .. 'ask:' .. ARGV[5]
local out = {}
local before = redis.call('LRANGE', asked, 0, -1)
if #before > 0 then
  for _, id in ipairs(before) do
    local item = redis.call('HGET', p .. 'leased', id)
    if item then
      redis.call('ZADD', p .. 'deadlines', 'XX', now + ttl, id)
      out[#out + 1] = id
      out[#out + 1] = item
    end
  end
  redis.call('DEL', asked)
  return out
end
local ids = {}
local taken = 0
while taken < limit do
  local top = redis.call('ZRANGE', p .. 'prios:' .. host, 0, 0)
  if #top == 0 then break end
  local q = p .. 'q:' .. host .. ':' .. top[1]
  local items = redis.call('LPOP', q, limit - taken)
  if not items or redis.call('LLEN', q) == 0 then
    redis.call('ZREM', p .. 'prios:' .. host, top[1])
  end
  if items then
    for _, item in ipairs(items) do
      local id = redis.call('INCR', p .. 'seq')
      redis.call('HSET', p .. 'leased', id, item)
      redis.call('ZADD', p .. 'deadlines', now + ttl, id)
      out[#out + 1] = id
      out[#out + 1] = item
      ids[#ids + 1] = id
      taken = taken + 1
    end
  end
end
if taken > 0 then
  redis.call('RPUSH', asked, unpack(ids))
  redis.call('PEXPIRE', asked, ttl)
  if redis.call('HINCRBY', p .. 'queued', host, -taken) <= 0 then
    redis.call('HDEL', p .. 'queued', host)
  end
  redis.call('HINCRBY', p .. 'counts', 'queued', -taken)
  redis.call('HINCRBY', p .. 'counts', 'leased', taken)
end
return out
"""

# ARGV: prefix, then (lease id, state) pairs; state is done, failed or dropped.
# A lease that expired meanwhile (given to another process) is left alone.
SETTLE = """
local p = ARGV[1]
local ended = 0
for i = 2, #ARGV, 2 do
  if redis.call('HDEL', p .. 'leased', ARGV[i]) == 1 then
    redis.call('ZREM', p .. 'deadlines', ARGV[i])
    redis.call('HINCRBY', p .. 'counts', ARGV[i + 1], 1)
    ended = ended + 1
  end
end
if ended > 0 then redis.call('HINCRBY', p .. 'counts', 'leased', -ended) end
return ended
"""

# The body shared by RECOVER and UNLEASE: put the leases in `ids` back at the
# front of their queues.
_REQUEUE = """
local back = 0
for _, id in ipairs(ids) do
  local item = redis.call('HGET', p .. 'leased', id)
  if item then
    local r = cjson.decode(item)
    local host, prio = r[2], tostring(r[3])
    redis.call('LPUSH', p .. 'q:' .. host .. ':' .. prio, item)
    redis.call('ZADD', p .. 'prios:' .. host, -tonumber(prio), prio)
    redis.call('HINCRBY', p .. 'queued', host, 1)
    redis.call('HDEL', p .. 'leased', id)
    back = back + 1
  end
  redis.call('ZREM', p .. 'deadlines', id)
end
if back > 0 then
  redis.call('HINCRBY', p .. 'counts', 'queued', back)
  redis.call('HINCRBY', p .. 'counts', 'leased', -back)
end
return back
"""

# ARGV: prefix, most. Leases past their deadline (their holder stopped renewing
# them: it died) go back to the queue, at most `most` per call.
RECOVER = _NOW + """
local p = ARGV[1]
local ids = redis.call('ZRANGEBYSCORE', p .. 'deadlines', '-inf', now, 'LIMIT', 0,
                       tonumber(ARGV[2]))
""" + _REQUEUE

# ARGV: prefix, then lease ids: a process giving back what it holds (a stop).
UNLEASE = """
local p = ARGV[1]
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
""" + _REQUEUE

# ARGV: prefix, ttl (ms), then lease ids: the holder is alive; push their deadlines.
RENEW = _NOW + """
local p = ARGV[1]
local renewed = 0
for i = 3, #ARGV do
  renewed = renewed + redis.call('ZADD', p .. 'deadlines', 'XX', 'CH',
                                 now + tonumber(ARGV[2]), ARGV[i])
end
return renewed
"""

# ARGV: prefix, host, concurrency, delay (ms), hold (ms), max pages (-1: none), n,
# then n requests that finished, as (token, start, delay, stored): their places are
# freed first, and each moves the host's next start to at least start + delay (its
# start in Redis ms as its process measured it, -1: it never started) and, if it
# stored a page, counts it in `pages`; a token no longer in flight (already left,
# or expired) changes nothing, so a leave sent twice counts once. Then per request
# asking: token, host budget (-1: none), pattern ('': none), pattern budget (-1:
# none). May each request to `host` start now, anywhere in the cluster? Decided in
# order. Returns {now, pages counted by this call, then per request asking: 0, 0:
# yes (its place taken, counted in the budgets and, with max pages, among the
# pages in flight, until a later call names its token); 1, ms: not before ms from
# now; 2, reason: never (a budget is spent)}. One call serves every request of a
# host that asked (or finished) in the same turn of the event loop.
ENTER = _NOW + """
local p, host = ARGV[1], ARGV[2]
local concurrency, delay, hold = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local max_pages = tonumber(ARGV[6])
local slot, inflight = p .. 'slot:' .. host, p .. 'inflight:' .. host
local fetching = p .. 'pages-inflight'
local s = redis.call('HMGET', slot, 'next_at', 'cool_until')
local next_at, cool = tonumber(s[1]) or 0, tonumber(s[2]) or 0
local first = 8 + 4 * tonumber(ARGV[7])
local counted, moved = 0, false
for i = 8, first - 1, 4 do
  if redis.call('ZREM', inflight, ARGV[i]) == 1 then
    redis.call('ZREM', fetching, ARGV[i])
    local start = tonumber(ARGV[i + 1])
    if start >= 0 and ARGV[i + 2] ~= '0' and start + tonumber(ARGV[i + 2]) > next_at then
      next_at = start + tonumber(ARGV[i + 2])
      moved = true
    end
    if ARGV[i + 3] == '1' then counted = counted + 1 end
  end
end
if moved then redis.call('HSET', slot, 'next_at', next_at) end
if counted > 0 then redis.call('HINCRBY', p .. 'counts', 'pages', counted) end
redis.call('ZREMRANGEBYSCORE', inflight, '-inf', now)
local busy = redis.call('ZCARD', inflight)
local pages, fetched = 0, 0
if max_pages >= 0 then
  redis.call('ZREMRANGEBYSCORE', fetching, '-inf', now)
  pages = tonumber(redis.call('HGET', p .. 'counts', 'pages') or '0')
  fetched = redis.call('ZCARD', fetching)
end
local out = {now, counted}
local function verdict(token, host_budget, pattern, pattern_budget)
  local ready = math.max(next_at, cool)
  if now < ready then return 1, ready - now end
  if busy >= concurrency then return 1, math.max(50, math.min(delay, 1000)) end
  if max_pages >= 0 and pages + fetched >= max_pages then
    -- the cluster's pages, stored and in flight, are at max_pages: a request in
    -- flight may still fail and free its place; once they are all stored, every
    -- process stops at its next poll
    return 1, math.max(50, math.min(delay, 1000))
  end
  if host_budget >= 0 and
     tonumber(redis.call('HGET', p .. 'budget', host) or '0') >= host_budget then
    return 2, 'host_budget'
  end
  if pattern ~= '' and pattern_budget >= 0 and
     tonumber(redis.call('HGET', p .. 'patterns', pattern) or '0') >= pattern_budget then
    return 2, 'pattern_budget'
  end
  redis.call('ZADD', inflight, now + hold, token)
  busy = busy + 1
  if max_pages >= 0 then
    redis.call('ZADD', fetching, now + hold, token)
    fetched = fetched + 1
  end
  next_at = now + delay
  redis.call('HSET', slot, 'next_at', next_at)
  if host_budget >= 0 then redis.call('HINCRBY', p .. 'budget', host, 1) end
  if pattern ~= '' and pattern_budget >= 0 then
    redis.call('HINCRBY', p .. 'patterns', pattern, 1)
  end
  return 0, 0
end
for i = first, #ARGV, 4 do
  local code, detail = verdict(ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2],
                               tonumber(ARGV[i + 3]))
  out[#out + 1] = code
  out[#out + 1] = detail
end
return out
"""

# ARGV: prefix, host, ms: keep every request to `host` from starting for ms
# (a Retry-After), cluster-wide; never shortens a longer cool-down.
COOL = _NOW + """
local slot = ARGV[1] .. 'slot:' .. ARGV[2]
local until_ms = now + tonumber(ARGV[3])
if until_ms > tonumber(redis.call('HGET', slot, 'cool_until') or '0') then
  redis.call('HSET', slot, 'cool_until', until_ms)
end
return until_ms
"""
