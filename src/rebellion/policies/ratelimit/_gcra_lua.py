"""GCRA in Redis: the Lua scripts of the shared rate limiter and their arguments.

The script is the same algorithm as :class:`~rebellion.policies.ratelimit._gcra.GcraCore`
(``new = max(tat, now) + n * interval``; admitted iff ``new - now - tolerance`` is within
the caller's wait), run atomically in Redis on integer microseconds since the epoch (exact
in a double until year 2255). Its parameters come from the one Python helper,
:func:`~rebellion.policies.ratelimit._gcra.emission`, through :func:`script_args`.

>>> script_args(rate=4.0, per=1.0, burst=2.0, n=1, max_wait=0.0, floor=0.0)
[250000.0, 500000.0, 1.0, 0.0, 0.0]
"""

from __future__ import annotations

from ._gcra import EPSILON, emission

__all__ = ["GCRA_SCRIPT", "GIVE_BACK_SCRIPT", "US", "give_back_args", "script_args"]

US = 1_000_000.0
"""Microseconds per second: the scripts' unit of time."""

# ARGV: interval, tolerance, n, max_wait, floor (debt added to now) and optionally now
# (tests replay arrival times; otherwise the server's TIME is the one clock). The slack is
# GcraCore's EPSILON in the script's unit.
GCRA_SCRIPT = """
local now = tonumber(ARGV[6])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local interval, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local n, max_wait = tonumber(ARGV[3]), tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
local floor = now + tonumber(ARGV[5])
if tat < floor then tat = floor end
local new = tat + n * interval
local wait = new - now - limit
if wait > max_wait + SLACK then
  return {0, math.ceil(wait), ''}
end
local token = string.format('%.3f', new)
redis.call('SET', KEYS[1], token, 'PX', math.ceil((new - now) / 1000) + 1)
if wait < 0 then wait = 0 end
return {1, math.ceil(wait), token}
""".replace("SLACK", repr(EPSILON * US))

GIVE_BACK_SCRIPT = """
local current = redis.call('GET', KEYS[1])
if current == ARGV[1] then
  redis.call('SET', KEYS[1], string.format('%.3f', tonumber(current) - tonumber(ARGV[2])),
             'KEEPTTL')
  return 1
end
return 0
"""


def script_args(
    rate: float,
    per: float,
    burst: float,
    n: int,
    max_wait: float,
    floor: float,
    *,
    unit: float = US,
) -> list[float]:
    """Return ``GCRA_SCRIPT``'s arguments (times in seconds, scaled by ``unit``).

    Args:
        rate, per, burst: the bucket, as given to :class:`GcraCore`.
        n: tokens to take.
        max_wait: the longest acceptable wait in seconds (capped at 10**9).
        floor: seconds of debt the bucket has at least (this process's local debt).
        unit: script time units per second (microseconds).
    """
    interval, tolerance = emission(rate, per * unit, burst)
    return [interval, tolerance, float(n), min(max_wait, 1e9) * unit, floor * unit]


def give_back_args(
    token: str, rate: float, per: float, n: int, *, unit: float = US
) -> list[object]:
    """Return ``GIVE_BACK_SCRIPT``'s arguments: the reservation and the time it took."""
    interval, _ = emission(rate, per * unit, 1.0)
    return [token, n * interval]
