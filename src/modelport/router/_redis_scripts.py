"""The Lua scripts of ``RedisRouterState``: each check-and-reserve, settlement and lease renewal is one script, run
atomically by Redis and timed by its own clock (``TIME``), so hosts' clocks never matter."""

from __future__ import annotations

__all__ = ["SOURCES"]

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local BUCKETS = 64
"""

# KEYS: entries (zset ticket -> counted-from), tokens (hash ticket -> tokens), open (zset ticket -> lease end),
#       cool (string: cooled until), abandoned (zset ticket -> until when: reservations their process gave up on
#       before Redis ran them), then per limit its token buckets (hash: bucket -> tokens counted from then; a bucket
#       is 1/64 of the limit's period, so a tokens check reads at most 65 of them however many calls the window
#       holds, and may count up to one bucket more than the exact window: never less)
# ARGV: tokens, max_concurrency (-1: none), lease, keep (seconds the keys outlive their last use), ticket (chosen by
#       the process, at random), then per limit: kind (0 requests, 1 tokens), amount, per
# Reply: {1, ticket} granted; {0, wait ("" when an in-flight call must end, "inf" never), which (0 cooling,
#        -1 concurrency, -2 abandoned, i the i-th limit)}
_RESERVE = (
    _NOW
    + """
local tokens, maxc, lease, keep = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local ticket = ARGV[5]
if redis.call('ZSCORE', KEYS[5], ticket) then return {0, '', -2} end  -- given back before it ran: never counts
local cooled = tonumber(redis.call('GET', KEYS[4]) or '0')
if cooled > now then return {0, tostring(cooled - now), 0} end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if maxc >= 0 and redis.call('ZCARD', KEYS[3]) >= maxc then return {0, '', -1} end
local horizon = 0
local i = 6
local n = 0
while i + 2 <= #ARGV do
  n = n + 1
  local kind, amount, per = tonumber(ARGV[i]), tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  if per > horizon then horizon = per end
  local since = '(' .. tostring(now - per)
  if kind == 0 then
    local count = redis.call('ZCOUNT', KEYS[1], since, '+inf')
    if count >= amount then
      local at = redis.call('ZRANGEBYSCORE', KEYS[1], since, '+inf', 'WITHSCORES', 'LIMIT', count - amount, 1)
      return {0, tostring(tonumber(at[2]) + per - now), n}
    end
  else
    if tokens > amount then return {0, 'inf', n} end
    local width = per / BUCKETS
    local first, last = math.floor((now - per) / width), math.floor(now / width)
    local fields = {}
    for b = first, last do fields[#fields + 1] = b end
    local spent = redis.call('HMGET', KEYS[5 + n], unpack(fields))
    local sum = 0
    for j = 1, #fields do sum = sum + (tonumber(spent[j]) or 0) end
    local excess = sum + tokens - amount
    if excess > 0 then
      local wait = 'inf'
      for j = 1, #fields do
        excess = excess - (tonumber(spent[j]) or 0)
        if excess <= 0 then  -- capacity frees once this bucket has left the window
          wait = tostring((fields[j] + 1) * width + per - now)
          break
        end
      end
      return {0, wait, n}
    end
  end
  i = i + 3
end
redis.call('ZADD', KEYS[1], now, ticket)
redis.call('HSET', KEYS[2], ticket, tokens)
redis.call('ZADD', KEYS[3], now + lease, ticket)
i, n = 6, 0
local counted = {}
while i + 2 <= #ARGV do
  n = n + 1
  if tonumber(ARGV[i]) == 1 and tokens > 0 and not counted[KEYS[5 + n]] then
    counted[KEYS[5 + n]] = true  -- two limits of one period share their buckets: counted once
    local per = tonumber(ARGV[i + 2])
    local width = per / BUCKETS
    redis.call('HINCRBY', KEYS[5 + n], math.floor(now / width), tokens)
    if redis.call('HLEN', KEYS[5 + n]) > 2 * BUCKETS then  -- forget buckets no window can see
      local first = math.floor((now - per) / width)
      for _, field in ipairs(redis.call('HKEYS', KEYS[5 + n])) do
        if tonumber(field) < first then redis.call('HDEL', KEYS[5 + n], field) end
      end
    end
  end
  i = i + 3
end
local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - horizon)
for _, old in ipairs(stale) do
  if not redis.call('ZSCORE', KEYS[3], old) then
    redis.call('ZREM', KEYS[1], old)
    redis.call('HDEL', KEYS[2], old)
  end
end
local ms = math.ceil((horizon + lease + keep) * 1000)
for k = 1, #KEYS do
  if k ~= 4 and k ~= 5 then redis.call('PEXPIRE', KEYS[k], ms) end  -- not cool nor abandoned (their own)
end
return {1, ticket}
"""
)

# KEYS: entries, tokens, open, failures, abandoned, then the token buckets of each tokens limit's period
# ARGV: ticket, tokens ("" keeps the estimate), keep ms, succeeded (0/1), then each of those periods
# A ticket Redis has not reserved (yet) is noted as abandoned: a process gives back a reservation whose answer it
# never had, and that reservation may still be waiting to run (in a paused Redis, on a connection since closed).
_SETTLE = (
    _NOW
    + """
redis.call('ZREM', KEYS[3], ARGV[1])
local at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if at then
  local reserved = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
  local used = reserved
  if ARGV[2] ~= '' then used = tonumber(ARGV[2]) end
  for k = 6, #KEYS do  -- the call counts again from now, with what it used
    local per = tonumber(ARGV[k - 1])
    local width = per / BUCKETS
    local was = math.floor(tonumber(at) / width)
    if was >= math.floor((now - per) / width) and reserved > 0 then
      redis.call('HINCRBY', KEYS[k], was, -reserved)
    end
    if used > 0 then redis.call('HINCRBY', KEYS[k], math.floor(now / width), used) end
    redis.call('PEXPIRE', KEYS[k], ARGV[3])
  end
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  if ARGV[2] ~= '' then redis.call('HSET', KEYS[2], ARGV[1], ARGV[2]) end
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
else
  redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', now)
  redis.call('ZADD', KEYS[5], now + tonumber(ARGV[3]) / 1000, ARGV[1])
  redis.call('PEXPIRE', KEYS[5], ARGV[3])
end
if ARGV[4] == '1' then redis.call('DEL', KEYS[4]) end
return 1
"""
)

# KEYS: open; ARGV: lease, tickets...
_RENEW = (
    _NOW
    + """
for i = 2, #ARGV do redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[i]) end
local ms = math.ceil(tonumber(ARGV[1]) * 2000)  -- the slots outlive the leases being renewed
if redis.call('PTTL', KEYS[1]) < ms then redis.call('PEXPIRE', KEYS[1], ms) end
return 1
"""
)

_IN_FLIGHT = (
    _NOW
    + """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return redis.call('ZCARD', KEYS[1])
"""
)

_COOL = (
    _NOW
    + """
local cooled = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now + tonumber(ARGV[1]))
if cooled > now then redis.call('SET', KEYS[1], tostring(cooled), 'PX', math.ceil((cooled - now) * 1000)) end
return 1
"""
)

_COOLING = (
    _NOW
    + """
local cooled = tonumber(redis.call('GET', KEYS[1]) or '0')
return tostring(math.max(0, cooled - now))
"""
)

# KEYS: failures; ARGV: keep ms
_FAILED = """
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return n
"""

# KEYS: failures
_SUCCEEDED = """
redis.call('DEL', KEYS[1])
return 1
"""


SOURCES = {
    "reserve": _RESERVE,
    "settle": _SETTLE,
    "renew": _RENEW,
    "in_flight": _IN_FLIGHT,
    "cool": _COOL,
    "cooling": _COOLING,
    "failed": _FAILED,
    "succeeded": _SUCCEEDED,
}
"""Each script's source by the name ``RedisRouterState`` runs it under."""
