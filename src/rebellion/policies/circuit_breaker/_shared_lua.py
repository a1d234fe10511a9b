"""Lua scripts of the Redis-shared breaker: every decision is one atomic script.

Keys: ``KEYS[1]`` is the state hash (``state``, ``epoch``, ``failures``, ``level``,
``open_until``, ``successes``); ``KEYS[2]`` is the sorted set of half-open probe
leases (member = lease id, score = expiry). Times are the caller's wall clock
(``ARGV[1]``), so all processes must keep their clocks in step (NTP) to well within
``reset_timeout``. Replies carry numbers as strings: Redis would truncate Lua floats.

Every reply is ``{state, epoch, open_until, granted, failures}``.
"""

from __future__ import annotations

__all__ = ["ACQUIRE", "READ", "RECORD"]

_COMMON = """
local h, leases = KEYS[1], KEYS[2]
local now = tonumber(ARGV[1])
local st = redis.call('HGET', h, 'state') or 'CLOSED'
local epoch = tonumber(redis.call('HGET', h, 'epoch') or '0')
local function reply(granted)
  return {st, tostring(epoch), redis.call('HGET', h, 'open_until') or '0', granted,
          redis.call('HGET', h, 'failures') or '0'}
end
"""

READ = (
    _COMMON
    + """
return reply(0)
"""
)

# ARGV: now, lease_id, lease_ttl, max_probes
ACQUIRE = (
    _COMMON
    + """
if st == 'OPEN' then
  if now < tonumber(redis.call('HGET', h, 'open_until') or '0') then return reply(0) end
  st = 'HALF_OPEN'
  epoch = epoch + 1
  redis.call('HSET', h, 'state', st, 'epoch', epoch, 'successes', 0)
  redis.call('DEL', leases)
end
if st == 'HALF_OPEN' then
  redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
  if redis.call('ZCARD', leases) < tonumber(ARGV[4]) then
    redis.call('ZADD', leases, now + tonumber(ARGV[3]), ARGV[2])
    return reply(1)
  end
end
return reply(0)
"""
)

# ARGV: now, outcome (success|failure|release|trip|reset), epoch, lease_id or '',
#       failure_threshold, success_threshold, reset_timeout, factor, max_reset_timeout
RECORD = (
    _COMMON
    + """
local outcome, seen, lease = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local function open(level)
  local wait = math.min(tonumber(ARGV[7]) * tonumber(ARGV[8]) ^ level, tonumber(ARGV[9]))
  st = 'OPEN'
  epoch = epoch + 1
  redis.call('HSET', h, 'state', st, 'epoch', epoch, 'open_until', tostring(now + wait),
             'failures', 0, 'level', level, 'successes', 0)
  redis.call('DEL', leases)
end
local function close()
  st = 'CLOSED'
  epoch = epoch + 1
  redis.call('HSET', h, 'state', st, 'epoch', epoch, 'failures', 0, 'level', 0, 'successes', 0)
  redis.call('DEL', leases)
end
local level = tonumber(redis.call('HGET', h, 'level') or '0')
if outcome == 'reset' then
  close()
  return reply(0)
end
if outcome == 'trip' then
  if st == 'CLOSED' then open(level) end
  return reply(0)
end
if lease ~= '' then
  redis.call('ZREM', leases, lease)
  if st ~= 'HALF_OPEN' or epoch ~= seen or outcome == 'release' then return reply(0) end
  if outcome == 'failure' then
    open(level + 1)
  elseif redis.call('HINCRBY', h, 'successes', 1) >= tonumber(ARGV[6]) then
    close()
  end
  return reply(0)
end
if st == 'CLOSED' and epoch == seen then
  if outcome == 'failure' then
    if redis.call('HINCRBY', h, 'failures', 1) >= tonumber(ARGV[5]) then open(level) end
  elseif outcome == 'success' then
    redis.call('HSET', h, 'failures', 0)
  end
end
return reply(0)
"""
)
