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

ARGV: 1 now, 2 the settings (one space-separated string, built once per breaker: key
TTL in ms, window type, window size, buckets, minimum calls, failure-rate threshold,
slow-call duration (0: none), slow-call-rate threshold, failure threshold, success
threshold, reset timeout, backoff factor, max reset timeout, half-open max calls, probe
lease), 3 operation (``read``, ``acquire``, ``success``, ``failure``, ``release``,
``trip``, ``reset``), 4 epoch the call was admitted under, 5 lease id or ``''``,
6 duration in seconds or ``''``. Few arguments and a one-string reply keep the client's
encoding and parsing cost near that of a bare round trip.

Reply: one string, ``|``-separated: ``state|epoch|open_until|granted|failures|now|
window calls|window failures|window slow|level|probes held|transitions|reason``.
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
local c = {}
for v in string.gmatch(ARGV[2], '%S+') do c[#c + 1] = v end
local ttl = tonumber(c[1])
local wtype, wsize, buckets = c[2], tonumber(c[3]), tonumber(c[4])
local op, seen, lease, duration = ARGV[3], tonumber(ARGV[4]), ARGV[5], ARGV[6]

local function num(v) return tonumber(v or '0') or 0 end
local function fmt(x) return string.format('%.6f', x) end

local s = redis.call('HMGET', h, 'state', 'epoch', 'level', 'open_until', 'failures',
                     'transitions')
local st, epoch, level = s[1] or 'CLOSED', num(s[2]), num(s[3])
local open_until, failures, transitions = s[4] or '0', num(s[5]), num(s[6])
local reason, granted = '', 0
local hdirty, ldirty = false, false

-- The window (totals and header held here, written back once at the end). It belongs
-- to one epoch: contents left by an earlier state are dropped.
local wc, wf, ws, wi, wused, whead = 0, 0, 0, 0, 0, nil
local wloaded, wdirty = wtype == 'consecutive', false
local function wload()
  if wloaded then return end
  wloaded = true
  local v = redis.call('HMGET', w, 'ep', 'calls', 'fails', 'slow', 'i', 'used', 'head')
  if v[1] == tostring(epoch) then
    wc, wf, ws, wi, wused = num(v[2]), num(v[3]), num(v[4]), num(v[5]), num(v[6])
    if v[7] then whead = tonumber(v[7]) end
  elseif v[1] then
    redis.call('DEL', w)
  end
end

-- Time window: drop the buckets that expired; return the current bucket number.
local function roll()
  local bucket = math.floor(now / (wsize / buckets))
  if whead and bucket <= whead then return whead end  -- a clock behind joins the newest
  wdirty = true
  if whead and wc > 0 then
    local stale = bucket - whead
    if stale >= buckets then
      redis.call('DEL', w)
      wc, wf, ws = 0, 0, 0
    else
      -- In chunks: Lua's unpack() is limited to a few thousand values.
      for first = 0, stale - 1, 500 do
        local fields = {}
        for step = first, math.min(first + 499, stale - 1) do
          local slot = (bucket - step) % buckets
          fields[#fields + 1] = 'c' .. slot
          fields[#fields + 1] = 'f' .. slot
          fields[#fields + 1] = 's' .. slot
        end
        local v = redis.call('HMGET', w, unpack(fields))
        for k = 1, #fields, 3 do
          wc, wf, ws = wc - num(v[k]), wf - num(v[k + 1]), ws - num(v[k + 2])
        end
        redis.call('HDEL', w, unpack(fields))
      end
    end
  end
  whead = bucket
  return bucket
end

local function totals()
  wload()
  if wtype == 'time' and wc > 0 then roll() end
  return wc, wf, ws
end

local function wrecord(failed, slow)
  wload()
  wdirty = true
  if wtype == 'count' then
    if wused == wsize then
      local old = num(redis.call('HGET', w, 'o' .. wi))
      wc = wc - 1
      if old % 2 == 1 then wf = wf - 1 end
      if old >= 2 then ws = ws - 1 end
    else
      wused = wused + 1
    end
    redis.call('HSET', w, 'o' .. wi, failed + 2 * slow)
    wi = (wi + 1) % wsize
  else
    local slot = roll() % buckets
    redis.call('HINCRBY', w, 'c' .. slot, 1)
    if failed == 1 then redis.call('HINCRBY', w, 'f' .. slot, 1) end
    if slow == 1 then redis.call('HINCRBY', w, 's' .. slot, 1) end
  end
  wc, wf, ws = wc + 1, wf + failed, ws + slow
end

-- Every transition: new epoch, empty window, no probe leases.
local function move(to, why)
  st, epoch, reason = to, epoch + 1, why
  transitions, failures = transitions + 1, 0
  redis.call('HSET', h, 'state', st, 'epoch', epoch, 'successes', 0, 'failures', 0,
             'level', level, 'reason', why, 'transitions', transitions)
  redis.call('DEL', leases, w)
  wloaded, wdirty, wc, wf, ws = true, false, 0, 0, 0
  hdirty = true
end

local function open(new_level, why)
  level = new_level
  local wait = math.min(tonumber(c[11]) * tonumber(c[12]) ^ level, tonumber(c[13]))
  move('OPEN', why)
  open_until = fmt(now + wait)
  redis.call('HSET', h, 'open_until', open_until)
end

if op == 'reset' then
  level = 0
  move('CLOSED', 'reset')
elseif op == 'trip' then
  if st == 'CLOSED' then open(level, 'tripped while Redis was unreachable') end
elseif op == 'acquire' then
  if st == 'OPEN' and now >= tonumber(open_until) then
    move('HALF_OPEN', 'reset timeout elapsed')
  end
  if st == 'HALF_OPEN' then
    redis.call('ZREMRANGEBYSCORE', leases, '-inf', now)
    if redis.call('ZCARD', leases) < tonumber(c[14]) then
      redis.call('ZADD', leases, now + tonumber(c[15]), lease)
      granted, ldirty = 1, true
    end
  end
elseif op ~= 'read' then
  local failed = op == 'failure' and 1 or 0
  local slow_after = tonumber(c[7])
  local slow = 0
  if duration ~= '' and slow_after > 0 and tonumber(duration) >= slow_after then slow = 1 end
  if lease ~= '' then
    redis.call('ZREM', leases, lease)
    if st == 'HALF_OPEN' and epoch == seen and op ~= 'release' then
      if failed == 1 then
        open(level + 1, 'probe failed')
      elseif slow == 1 then
        open(level + 1, 'probe was slow')
      elseif redis.call('HINCRBY', h, 'successes', 1) >= tonumber(c[10]) then
        level = 0
        move('CLOSED', c[10] .. ' probe(s) succeeded')
      end
      hdirty = true
    end
  elseif st == 'CLOSED' and epoch == seen and op ~= 'release' then
    if wtype == 'consecutive' then
      if failed == 1 or slow == 1 then
        failures = failures + 1
        redis.call('HSET', h, 'failures', failures)
        hdirty = true
        if failures >= tonumber(c[9]) then
          open(level, failures .. ' consecutive failures')
        end
      elseif failures > 0 then
        failures = 0
        redis.call('HSET', h, 'failures', 0)
        hdirty = true
      end
    else
      wrecord(failed, slow)
      if wc >= tonumber(c[5]) then
        local fr, sr = wf / wc, ws / wc
        if fr >= tonumber(c[6]) then
          open(level, string.format('failure rate %.1f%% over %d calls', fr * 100, wc))
        elseif slow_after > 0 and sr >= tonumber(c[8]) then
          open(level, string.format('slow call rate %.1f%% over %d calls', sr * 100, wc))
        end
      end
    end
  end
end

local calls, fails, slows = 0, 0, 0
if st == 'CLOSED' then calls, fails, slows = totals() end
if wdirty then
  redis.call('HSET', w, 'ep', tostring(epoch), 'calls', wc, 'fails', wf, 'slow', ws,
             'i', wi, 'used', wused, 'head', whead and string.format('%d', whead) or '')
end
if ttl > 0 then
  if hdirty then redis.call('PEXPIRE', h, ttl) end
  if wdirty then redis.call('PEXPIRE', w, ttl) end
  if ldirty then redis.call('PEXPIRE', leases, ttl) end
end
local probes = 0
if st == 'HALF_OPEN' then probes = redis.call('ZCARD', leases) end
return table.concat({st, tostring(epoch), open_until, tostring(granted), tostring(failures),
                     fmt(now), tostring(calls), tostring(fails), tostring(slows),
                     tostring(level), tostring(probes), tostring(transitions), reason}, '|')
"""
