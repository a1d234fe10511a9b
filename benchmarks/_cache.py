"""Tiered-cache groups: memory get-hit (sync, async) and Redis-tier get.

Every contender reads one key that is present, so each operation is a hit that must
return the stored value. The memory groups compare rebellion's sync fast path with
cachetools' ``TTLCache[key]`` and its async ``get`` with aiocache's
``SimpleMemoryCache.get``. The Redis group compares a cache whose only tier is Redis
(memory size 0, no disk, so every read goes to Redis through the breaker) with a raw
``redis.asyncio`` ``GET`` on the same server; both need Redis and raise ``Unavailable``
without it, while the "breaker open" row (Redis unreachable, reads skip it) always runs.

>>> [g.name for g in groups()]
['cache_get_hit_sync', 'cache_get_hit_async', 'cache_redis_get']
"""

from __future__ import annotations

import os
import uuid
from typing import Any

from _common import Contender, Group
from _harness import Op, Runner, Unavailable
from _targets import at_most_times, faster_by

__all__ = ["TARGETS", "groups"]

KEY, NS, VALUE = "user:42", "bench", {"id": 42, "name": "Ada"}
SAMPLED_KEY = "user:2"
"""A key inside the shadow-LRU sample (1 key in 8 pays for the optimiser's measurement)."""
REDIS_URL = os.environ.get("REBELLION_BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def _cache(**settings: Any) -> Any:
    from rebellion.cache import DistributedCache

    return DistributedCache(name=f"bench-{uuid.uuid4().hex[:8]}", **settings)


def _rebellion_sync(key: str) -> Any:
    def build(runner: Runner) -> Op:
        from rebellion.cache._memory import sampled

        cache = _cache(memory_cache_size=1000)
        runner.run(cache.put(key, VALUE, NS, ttl_seconds=3600))
        in_sample = sampled((NS, key), int(0.125 * 65536))
        if in_sample != (key == SAMPLED_KEY):
            raise Unavailable(f"key {key!r} sampling is not what this row claims")
        return Op(fn=cache.get_local, args=(key, NS), returns=VALUE)

    return build


def _cachetools(runner: Runner) -> Op:
    from cachetools import TTLCache

    cache: TTLCache[str, Any] = TTLCache(maxsize=1000, ttl=3600)
    cache[KEY] = VALUE
    return Op(fn=cache.__getitem__, args=(KEY,), returns=VALUE)


def _rebellion_async(runner: Runner) -> Op:
    cache = _cache(memory_cache_size=1000)
    runner.run(cache.put(KEY, VALUE, NS, ttl_seconds=3600))
    return Op(fn=cache.get, args=(KEY, NS), is_async=True, returns=VALUE)


def _aiocache(runner: Runner) -> Op:
    from aiocache import SimpleMemoryCache  # type: ignore[import-untyped]

    cache = SimpleMemoryCache()
    runner.run(cache.set(KEY, VALUE, ttl=3600))
    return Op(fn=cache.get, args=(KEY,), is_async=True, returns=VALUE)


def _redis_client(runner: Runner) -> Any:
    try:
        import redis.asyncio
    except ImportError as error:  # pragma: no cover - redis is in the dev extra
        raise Unavailable(f"redis-py missing: {error}") from error
    client = redis.asyncio.Redis.from_url(REDIS_URL, socket_timeout=1, socket_connect_timeout=1)

    async def ping() -> object:
        return await client.ping()

    try:
        runner.run(ping())
    except Exception as error:
        raise Unavailable(f"no Redis at {REDIS_URL}: {type(error).__name__}") from error
    return client


def _rebellion_redis(runner: Runner) -> Op:
    _redis_client(runner)  # Unavailable without a server
    prefix = f"rbbench:{uuid.uuid4().hex[:8]}"
    cache = _cache(memory_cache_size=0, redis_url=REDIS_URL, redis_prefix=prefix)
    runner.run(cache.put(KEY, VALUE, NS, ttl_seconds=600))
    return Op(fn=cache.get, args=(KEY, NS), is_async=True, returns=VALUE)


def _raw_redis(runner: Runner) -> Op:
    client = _redis_client(runner)
    key = f"rbbench:{uuid.uuid4().hex[:8]}:raw"
    payload = b'{"id":42,"name":"Ada"}'
    runner.run(client.set(key, payload, ex=600))
    return Op(fn=client.get, args=(key,), is_async=True, returns=payload)


def _rebellion_redis_down(runner: Runner) -> Op:
    cache = _cache(
        memory_cache_size=1000,
        redis_url="redis://127.0.0.1:1/0",
        redis_failure_threshold=1,
        redis_reset_timeout=3600,
    )
    runner.run(cache.get("absent", NS))  # refused: the breaker opens
    if cache.redis_breaker.state != "OPEN":
        raise Unavailable("something listens on 127.0.0.1:1")
    return Op(fn=cache.get, args=("absent", NS), is_async=True, returns=None)


def groups() -> list[Group]:
    """Return the cache groups."""
    sync = Group(
        "cache_get_hit_sync",
        "Memory tier get-hit, sync: rebellion get_local vs cachetools TTLCache",
        [
            Contender("rebellion cache.get_local", "rebellion", _rebellion_sync(KEY)),
            Contender(
                "rebellion cache.get_local (shadow-sampled key)",
                "rebellion",
                _rebellion_sync(SAMPLED_KEY),
            ),
            Contender("cachetools TTLCache[key]", "cachetools", _cachetools),
        ],
        notes=[
            "rebellion keeps an exact LRU (move_to_end on every hit) plus TTL and hit counts.",
            "1 key in 8 is replayed in a shadow plain LRU to measure the optimiser's gain; "
            "reads of those keys cost more (second row).",
        ],
    )
    async_ = Group(
        "cache_get_hit_async",
        "Memory tier get-hit, async: await cache.get",
        [
            Contender("rebellion await cache.get (async)", "rebellion", _rebellion_async),
            Contender("aiocache SimpleMemoryCache.get (async)", "aiocache", _aiocache),
        ],
        notes=["rebellion's async get also learns access patterns (adaptive TTL, preloading)."],
    )
    redis = Group(
        "cache_redis_get",
        "Redis-tier get (memory and disk tiers off) vs a raw redis-py GET",
        [
            Contender(
                "rebellion await cache.get (Redis tier)", "rebellion", _rebellion_redis, True
            ),
            Contender("redis-py await GET (raw)", "redis", _raw_redis, True),
            Contender(
                "rebellion await cache.get miss (Redis breaker open)",
                "rebellion",
                _rebellion_redis_down,
            ),
        ],
        notes=[
            "Both Redis rows use the same server (REBELLION_BENCH_REDIS_URL, default db 13); "
            "rebellion's adds the breaker, the key scheme, the expiry header and JSON decoding.",
            "The breaker-open row is a miss while Redis is unreachable: no connection attempt.",
        ],
    )
    return [sync, async_, redis]


TARGETS = [
    at_most_times(
        "cache_get_hit_sync", "rebellion cache.get_local", "cachetools TTLCache[key]", 1.0
    ),
    faster_by(
        "cache_get_hit_async",
        "rebellion await cache.get (async)",
        "aiocache SimpleMemoryCache.get (async)",
        10.0,
    ),
    at_most_times(
        "cache_redis_get",
        "rebellion await cache.get (Redis tier)",
        "redis-py await GET (raw)",
        1.5,
    ),
]
"""The tiered cache's targets."""
