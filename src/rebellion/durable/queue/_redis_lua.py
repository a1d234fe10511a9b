"""Lua scripts of the Redis Streams backend: every step is one atomic script.

Keys live under one prefix ``P`` (passed as ``ARGV[1]``):

* ``P:req:<id>`` -- hash: op, payload, prio, retries, key, at, deliveries, lease, entry, error
* ``P:s:<priority>`` -- a stream per priority (consumer group ``workers``), entries ``id=<id>``
* ``P:prios`` -- sorted set of the priorities that have a stream (highest served first)
* ``P:delayed`` -- sorted set of ids by the wall time they become visible (delays, retries)
* ``P:live`` / ``P:done`` -- counters: requests in the queue (for ``max_size``) / completed
* ``P:idem:<key>`` -- idempotency key -> id, ``SET NX`` with the key's time to live
* ``P:rid:<id>`` -- a completed request's id, kept for the retry window: an enqueue
  retried with the same id (its first attempt timed out but was stored, and has run
  since) is recognised instead of stored twice
* ``P:dead:<id>`` + ``P:deadidx`` -- dead letters (the request hash, renamed) by failure time

Leases are the stream's pending entries: ``XREADGROUP`` delivers, ``XAUTOCLAIM`` takes
back an entry idle for longer than the lease (measured on the Redis server's clock, the
one clock every host agrees on), and the ``lease`` token in the hash refuses acks from
a worker whose lease moved on.

>>> "XAUTOCLAIM" in CLAIM and "XREADGROUP" in CLAIM
True
"""

from __future__ import annotations

__all__ = ["ACK", "CLAIM", "DEAD", "ENQUEUE", "EXTEND", "FAIL", "RELEASE", "REPLAY"]

_PUSH = """
local function push(p, rid, prio)
  local stream = p .. ':s:' .. prio
  if redis.call('ZADD', p .. ':prios', prio, prio) == 1 then
    redis.pcall('XGROUP', 'CREATE', stream, 'workers', '0', 'MKSTREAM')
  end
  local eid = redis.call('XADD', stream, '*', 'id', rid)
  redis.call('HSET', p .. ':req:' .. rid, 'entry', eid)
end
local function bury(p, rid, now, reason)
  local req = p .. ':req:' .. rid
  redis.call('HSET', req, 'error', reason, 'failed', now, 'lease', '', 'entry', '')
  redis.call('RENAME', req, p .. ':dead:' .. rid)
  redis.call('ZADD', p .. ':deadidx', now, rid)
  redis.call('DECR', p .. ':live')
end
local function drop_entry(p, prio, eid)
  local stream = p .. ':s:' .. prio
  redis.call('XACK', stream, 'workers', eid)
  redis.call('XDEL', stream, eid)
end
"""

ENQUEUE = (
    _PUSH
    + """
local p, rid, prio, key = ARGV[1], ARGV[2], ARGV[3], ARGV[7]
local now, visible = tonumber(ARGV[8]), tonumber(ARGV[9])
local max_size, ttl_ms = tonumber(ARGV[10]), tonumber(ARGV[11])
-- The same id again: a retry of an enqueue whose reply was lost. Stored once only.
if redis.call('EXISTS', p .. ':req:' .. rid, p .. ':dead:' .. rid, p .. ':rid:' .. rid) > 0 then
  return {rid, 0}
end
if key ~= '' then
  local existing = redis.call('GET', p .. ':idem:' .. key)
  if existing then return {existing, 0} end
end
if tonumber(redis.call('GET', p .. ':live') or '0') >= max_size then return {'', -1} end
redis.call('HSET', p .. ':req:' .. rid, 'op', ARGV[4], 'payload', ARGV[5], 'prio', prio,
  'retries', ARGV[6], 'key', key, 'at', ARGV[8], 'deliveries', 0, 'lease', '', 'entry', '',
  'error', '')
redis.call('INCR', p .. ':live')
if key ~= '' then
  if ttl_ms > 0 then
    redis.call('SET', p .. ':idem:' .. key, rid, 'NX', 'PX', ttl_ms)
  elseif ttl_ms < 0 then
    redis.call('SET', p .. ':idem:' .. key, rid, 'NX')
  end
end
if visible > now then
  redis.call('ZADD', p .. ':delayed', visible, rid)
else
  push(p, rid, prio)
end
return {rid, 1}
"""
)

CLAIM = (
    _PUSH
    + """
local p, now, consumer, token, lease_ms = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4], ARGV[5]
for _, rid in ipairs(redis.call('ZRANGEBYSCORE', p .. ':delayed', '-inf', now, 'LIMIT', 0, 256)) do
  redis.call('ZREM', p .. ':delayed', rid)
  local prio = redis.call('HGET', p .. ':req:' .. rid, 'prio')
  if prio then push(p, rid, prio) end
end
local dead = {}
for _, prio in ipairs(redis.call('ZREVRANGE', p .. ':prios', 0, -1)) do
  local stream = p .. ':s:' .. prio
  while true do
    local entry = nil
    local expired = redis.call('XAUTOCLAIM', stream, 'workers', consumer, lease_ms, '0-0',
      'COUNT', 1)
    if expired[2][1] then
      entry = expired[2][1]
    else
      local fresh = redis.call('XREADGROUP', 'GROUP', 'workers', consumer, 'COUNT', 1,
        'STREAMS', stream, '>')
      if fresh and fresh[1] and fresh[1][2][1] then entry = fresh[1][2][1] end
    end
    if not entry then break end
    local eid, rid = entry[1], entry[2][2]
    local req = p .. ':req:' .. rid
    local h = redis.call('HMGET', req, 'op', 'payload', 'retries', 'deliveries', 'lease')
    if not h[1] then
      drop_entry(p, prio, eid)
    else
      local deliveries, retries = tonumber(h[4]), tonumber(h[3])
      if deliveries > retries then
        local reason = 'no attempts left'
        if h[5] ~= '' then
          reason = 'lease expired ' .. deliveries ..
            ' time(s) without an ack (worker died or hung)'
        end
        drop_entry(p, prio, eid)
        bury(p, rid, now, reason)
        table.insert(dead, rid)
        table.insert(dead, tostring(deliveries))
        table.insert(dead, reason)
      else
        redis.call('HSET', req, 'deliveries', deliveries + 1, 'lease', token, 'entry', eid)
        return {1, rid, h[1], h[2], prio, tostring(deliveries + 1), h[3], dead}
      end
    end
  end
  if redis.call('XLEN', stream) == 0 then
    redis.call('ZREM', p .. ':prios', prio)
    redis.call('DEL', stream)
  end
end
local nxt = redis.call('ZRANGE', p .. ':delayed', 0, 0, 'WITHSCORES')
return {0, nxt[2] or '', dead}
"""
)

_CHECK = """
local p, rid, token = ARGV[1], ARGV[2], ARGV[3]
local req = p .. ':req:' .. rid
local h = redis.call('HMGET', req, 'lease', 'entry', 'prio')
if h[1] ~= token or token == '' then return 0 end
"""

ACK = (
    _PUSH
    + _CHECK
    + """
drop_entry(p, h[3], h[2])
redis.call('DEL', req)
redis.call('DECR', p .. ':live')
redis.call('INCR', p .. ':done')
if tonumber(ARGV[4]) > 0 then redis.call('SET', p .. ':rid:' .. rid, 1, 'PX', ARGV[4]) end
return 1
"""
)

FAIL = (
    _PUSH
    + _CHECK
    + """
local now, delay, err = tonumber(ARGV[4]), tonumber(ARGV[5]), ARGV[6]
drop_entry(p, h[3], h[2])
if delay < 0 then
  bury(p, rid, now, err)
  return 2
end
redis.call('HSET', req, 'lease', '', 'entry', '', 'error', err)
redis.call('ZADD', p .. ':delayed', now + delay, rid)
return 1
"""
)

RELEASE = (
    _PUSH
    + _CHECK
    + """
-- Back at once, ahead of new work at its priority: mark the entry idle since 1970 so
-- the next XAUTOCLAIM takes it; the unused delivery does not count.
redis.call('XCLAIM', p .. ':s:' .. h[3], 'workers', ARGV[4], 0, h[2], 'TIME', 1, 'JUSTID')
redis.call('HINCRBY', req, 'deliveries', -1)
redis.call('HSET', req, 'lease', '')
return 1
"""
)

EXTEND = (
    _PUSH
    + _CHECK
    + """
-- XCLAIM to ourselves resets the entry's idle time: the lease restarts now.
redis.call('XCLAIM', p .. ':s:' .. h[3], 'workers', ARGV[4], 0, h[2], 'JUSTID')
return 1
"""
)

REPLAY = (
    _PUSH
    + """
local p, max_size = ARGV[1], tonumber(ARGV[2])
local ids = {}
if ARGV[3] == '' then
  ids = redis.call('ZRANGE', p .. ':deadidx', 0, -1)
else
  ids = {ARGV[3]}
end
local moved = 0
for _, rid in ipairs(ids) do
  local dead = p .. ':dead:' .. rid
  if redis.call('EXISTS', dead) == 1 then
    if tonumber(redis.call('GET', p .. ':live') or '0') >= max_size then
      if moved == 0 and ARGV[3] ~= '' then return -1 end
      break
    end
    redis.call('RENAME', dead, p .. ':req:' .. rid)
    redis.call('HSET', p .. ':req:' .. rid, 'deliveries', 0, 'lease', '')
    redis.call('HDEL', p .. ':req:' .. rid, 'failed')
    redis.call('ZREM', p .. ':deadidx', rid)
    redis.call('INCR', p .. ':live')
    push(p, rid, redis.call('HGET', p .. ':req:' .. rid, 'prio'))
    moved = moved + 1
  end
end
return moved
"""
)

DEAD = """
local p = ARGV[1]
local ids = redis.call('ZRANGE', p .. ':deadidx', 0, -1)
for _, rid in ipairs(ids) do redis.call('DEL', p .. ':dead:' .. rid) end
redis.call('DEL', p .. ':deadidx')
return #ids
"""
