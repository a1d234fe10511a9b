"""A tiered cache: memory (LRU + TTL) -> disk (SQLite) -> Redis behind a breaker.

>>> import asyncio
>>> cache = DistributedCache(memory_cache_size=10)
>>> async def main():
...     await cache.put("k", [1, 2], "demo", ttl_seconds=30)
...     return await cache.get("k", "demo")
>>> asyncio.run(main())
[1, 2]
"""

from ._events import CacheTierFailed, CacheTierRecovered, StaleValueServed
from ._serial import SerializationError
from .cache import DEFAULT_NAMESPACE, DistributedCache
from .optimizer import CacheOptimizer, CacheOptimizerConfig

__all__ = [
    "DEFAULT_NAMESPACE",
    "CacheOptimizer",
    "CacheOptimizerConfig",
    "CacheTierFailed",
    "CacheTierRecovered",
    "DistributedCache",
    "SerializationError",
    "StaleValueServed",
]
