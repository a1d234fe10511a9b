"""The Lua script of the Redis-shared breaker: every decision is one atomic evaluation.

Keys (one set per breaker name, each refreshed to ``key_ttl`` on every decision so an
abandoned breaker leaves nothing behind):

* ``KEYS[1]`` the state hash: ``state``, ``epoch``, ``open_until``, ``level``,
  ``failures`` (consecutive mode), ``successes`` (probe successes), ``transitions``,
  ``reason``;
* ``KEYS[2]`` the sorted set of half-open probe leases (member = lease id, score = expiry);
* ``KEYS[3]`` the sliding window hash: ``ep`` (the epoch its contents belong to),
  running totals ``calls``/``fails``/``slow``, and either a ring of outcomes
  (count window: ``i``, ``used``, ``o<slot>``) or buckets (time window: ``head``,
  ``c<slot>``/``f<slot>``/``s<slot>``). Totals are kept up to date on every record, so a
  decision costs O(1) (a time window also drops the buckets that expired since the last
  call: at most ``window_buckets`` of them).

Time: ``ARGV[1]`` is the caller's wall clock, or empty to read Redis ``TIME`` inside the
script (production default: one clock for every host, so no cross-host skew). Replies
carry numbers as strings: Redis would truncate Lua floats.

ARGV (all decisions): 1 now, 2 key TTL (ms), 3 window type, 4 window size,
5 buckets, 6 minimum calls, 7 failure-rate threshold, 8 slow-call duration (0: none),
9 slow-call-rate threshold, 10 failure threshold, 11 success threshold, 12 reset timeout,
13 backoff factor, 14 max reset timeout, 15 half-open max calls, 16 probe lease,
17 operation (``read``, ``acquire``, ``success``, ``failure``, ``release``, ``trip``,
``reset``), 18 epoch the call was admitted under, 19 lease id or ``''``,
20 duration in seconds or ``''``.

Reply: ``{state, epoch, open_until, granted, failures, now, window calls,
window failures, window slow, level, probes held, transitions, reason}``.
"""

from __future__ import annotations

__all__ = ["SCRIPT"]

SCRIPT = """
local h, leases, w = KEYS[1], KEYS[2], KEYS[3]
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
else
  now = tonumber(ARGV[1])
end
local ttl = tonumber(ARGV[2])
local wtype, wsize, buckets = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local op, seen, lease = ARGV[17], tonumber(ARGV[18]), ARGV[19]
local st = redis.call('HGET', h, 'state') or 'CLOSED'
local epoch = tonumber(redis.call('HGET', h, 'epoch') or '0')
local level = tonumber(redis.call('HGET', h, 'level') or '0')
local reason = ''
local wrote = false

local function num(v) return tonumber(v or '0') or 0 end
local function fmt(x) return string.format('%.6f', x) end
-- HINCRBY refuses '-0' (a negated Lua zero): add only what changes.
local function add(field, n) if n ~= 0 then redis.call('HINCRBY', w, field, n) end end

-- The window belongs to one epoch: contents of an earlier state are dropped.
local function wcurrent()
  local ep = redis.call('HGET', w, 'ep')
  if ep ~= tostring(epoch) then
    if ep then redis.call('DEL', w) end
    return false
  end
  return true
end

-- Time window: drop the buckets that expired; return the current bucket number.
local function roll()
  local width = wsize / buckets
  local bucket = math.floor(now / width)
  local head = redis.call('HGET', w, 'head')
  if not head then
    redis.call('HSET', w, 'head', string.format('%d', bucket))
    return bucket
  end
  head = tonumber(head)
  if bucket <= head then return head end  -- a clock behind the newest bucket joins it
  local stale = math.min(bucket - head, buckets)
  local dc, df, ds = 0, 0, 0
  for step = 0, stale - 1 do
    local slot = (bucket - step) % buckets
    local v = redis.call('HMGET', w, 'c' .. slot, 'f' .. slot, 's' .. slot)
    dc, df, ds = dc + num(v[1]), df + num(v[2]), ds + num(v[3])
    redis.call('HDEL', w, 'c' .. slot, 'f' .. slot, 's' .. slot)
  end
  add('calls', 0 - dc)
  add('fails', 0 - df)
  add('slow', 0 - ds)
  redis.call('HSET', w, 'head', string.format('%d', bucket))
  return bucket
end

local function totals()
  if wtype == 'consecutive' or not wcurrent() then return 0, 0, 0 end
  if wtype == 'time' then roll() end
  local v = redis.call('HMGET', w, 'calls', 'fails', 'slow')
  return num(v[1]), num(v[2]), num(v[3])
end

local function wrecord(failed, slow)
  if not wcurrent() then redis.call('HSET', w, 'ep', tostring(epoch)) end
  if wtype == 'count' then
    local i, used = num(redis.call('HGET', w, 'i')), num(redis.call('HGET', w, 'used'))
    if used == wsize then
      local old = num(redis.call('HGET', w, 'o' .. i))
      redis.call('HINCRBY', w, 'calls', -1)
      if old % 2 == 1 then redis.call('HINCRBY', w, 'fails', -1) end
      if old >= 2 then redis.call('HINCRBY', w, 'slow', -1) end
    else
      redis.call('HSET', w, 'used', used + 1)
    end
    redis.call('HSET', w, 'o' .. i, failed + 2 * slow, 'i', (i + 1) % wsize)
  else
    local slot = roll() % buckets
    redis.call('HINCRBY', w, 'c' .. slot, 1)
    if failed == 1 then redis.call('HINCRBY', w, 'f' .. slot, 1) end
    if slow == 1 then redis.call('HINCRBY', w, 's' .. slot, 1) end
  end
  redis.call('HINCRBY', w, 'calls', 1)
  if failed == 1 then redis.call('HINCRBY', w, 'fails', 1) end
  if slow == 1 then redis.call('HINCRBY', w, 'slow', 1) end
end

-- Every transition: new epoch, empty window, no probe leases.
local function move(to, why)
  st = to
  epoch = epoch + 1
  reason = why
  redis.call('HSET', h, 'state', st, 'epoch', epoch, 'successes', 0, 'failures', 0,
             'level', level, 'reason', why)
  redis.call('HINCRBY', h, 'transitions', 1)
  redis.call('DEL', leases, w)
  wrote = true
end

local function open(new_level, why)
  level = new_level
  local wait = math.min(tonumber(ARGV[12]) * tonumber(ARGV[13]) ^ level, tonumber(ARGV[14]))
  move('OPEN', why)
  redis.call('HSET', h, 'open_until', fmt(now + wait))
end

local granted = 0

if op == 'reset' then
  level = 0
  move('CLOSED', 'reset')
elseif op == 'trip' then
  if st == 'CLOSED' then open(level, 'tripped while Redis was unreachable') end
elseif op == 'acquire' then
  if st == 'OPEN' and now >= num(redis.call('HGET', h, 'open_until')) then
    move('HALF_OPEN', 'reset timeout elapsed')
  end
  if st == 'HALF_OPEN' then
    redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
    if redis.call('ZCARD', leases) < tonumber(ARGV[15]) then
      redis.call('ZADD', leases, now + tonumber(ARGV[16]), lease)
      granted = 1
      wrote = true
    end
  end
elseif op ~= 'read' then
  local failed = op == 'failure' and 1 or 0
  local slow_after = tonumber(ARGV[8])
  local slow = 0
  if ARGV[20] ~= '' and slow_after > 0 and tonumber(ARGV[20]) >= slow_after then slow = 1 end
  if lease ~= '' then
    if redis.call('ZREM', leases, lease) == 1 then wrote = true end
    if st == 'HALF_OPEN' and epoch == seen and op ~= 'release' then
      if failed == 1 then
        open(level + 1, 'probe failed')
      elseif slow == 1 then
        open(level + 1, 'probe was slow')
      elseif redis.call('HINCRBY', h, 'successes', 1) >= tonumber(ARGV[11]) then
        level = 0
        move('CLOSED', ARGV[11] .. ' probe(s) succeeded')
      end
      wrote = true
    end
  elseif st == 'CLOSED' and epoch == seen and op ~= 'release' then
    wrote = true
    if wtype == 'consecutive' then
      if failed == 1 or slow == 1 then
        local n = redis.call('HINCRBY', h, 'failures', 1)
        if n >= tonumber(ARGV[10]) then open(level, n .. ' consecutive failures') end
      else
        redis.call('HSET', h, 'failures', 0)
      end
    else
      wrecord(failed, slow)
      local calls, fails, slows = totals()
      if calls >= tonumber(ARGV[6]) then
        local fr, sr = fails / calls, slows / calls
        if fr >= tonumber(ARGV[7]) then
          open(level, string.format('failure rate %.1f%% over %d calls', fr * 100, calls))
        elseif slow_after > 0 and sr >= tonumber(ARGV[9]) then
          open(level, string.format('slow call rate %.1f%% over %d calls', sr * 100, calls))
        end
      end
    end
  end
end

if wrote and ttl > 0 then
  redis.call('PEXPIRE', h, ttl)
  redis.call('PEXPIRE', leases, ttl)
  redis.call('PEXPIRE', w, ttl)
end
local calls, fails, slows = totals()
return {st, tostring(epoch), redis.call('HGET', h, 'open_until') or '0', granted,
        redis.call('HGET', h, 'failures') or '0', fmt(now), tostring(calls), tostring(fails),
        tostring(slows), tostring(level), tostring(redis.call('ZCARD', leases)),
        redis.call('HGET', h, 'transitions') or '0', reason}
"""
