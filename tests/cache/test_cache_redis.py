"""The Redis tier: sharing between caches, promotion, and the breaker under faults."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from _redis import RedisServer
from rebellion.cache import CacheTierFailed, CacheTierRecovered, DistributedCache
from rebellion.testing import ManualClock, RecordingListener


@pytest.fixture
async def pair(redis_url: str, redis_namespace: str) -> AsyncIterator[list[DistributedCache]]:
    caches = [
        DistributedCache(10, redis_url=redis_url, redis_prefix=redis_namespace) for _ in range(2)
    ]
    yield caches
    for cache in caches:
        await cache.close()


async def test_value_put_by_one_cache_is_read_and_promoted_by_another(
    pair: list[DistributedCache],
) -> None:
    writer, reader = pair
    await writer.put("k", {"n": 1}, "ns", ttl_seconds=30)
    assert reader.get_local("k", "ns") is None
    assert await reader.get("k", "ns") == {"n": 1}
    assert reader.get_local("k", "ns") == {"n": 1}
    redis_stats = reader.stats()["tiers"]["redis"]
    assert redis_stats["hits"] == 1
    assert redis_stats["breaker_state"] == "CLOSED"
    assert redis_stats["latency_p50_us"] is not None


async def test_invalidate_and_delete_reach_redis(pair: list[DistributedCache]) -> None:
    writer, reader = pair
    for key in ("a", "b"):
        await writer.put(key, key, "n*s", ttl_seconds=30)
    await writer.put("a", "kept", "n", ttl_seconds=30)
    await writer.invalidate_namespace("n*s")  # glob characters are matched literally
    assert await reader.get("a", "n*s") is None
    assert await reader.get("b", "n*s") is None
    assert await reader.get("a", "n") == "kept"
    await writer.delete("a", "n")
    reader._memory.delete(("n", "a"))
    assert await reader.get("a", "n") is None


async def test_expired_redis_value_is_stale_not_fresh(redis_url: str, redis_namespace: str) -> None:
    clock = ManualClock(wall_start=1_900_000_000)
    cache = DistributedCache(0, redis_url=redis_url, redis_prefix=redis_namespace, clock=clock)
    await cache.put("k", "v", ttl_seconds=5)
    clock.advance(6)  # the header says expired; Redis keeps it for the grace period
    assert await cache.get("k") is None

    async def broken() -> str:
        raise ConnectionError

    assert await cache.get_or_load("k", broken) == "v"
    await cache.close()


async def test_redis_killed_then_restarted_degrades_and_recovers(
    redis_server: RedisServer, tmp_path: Path
) -> None:
    clock = ManualClock()
    recorder = RecordingListener()
    cache = DistributedCache(
        10,
        tmp_path,
        redis_server.url,
        clock=clock,
        redis_failure_threshold=2,
        redis_reset_timeout=5,
        redis_timeout=0.5,
        listeners=[recorder],
    )
    await cache.put("k", "v", ttl_seconds=60)
    redis_server.stop()
    # No exception reaches the caller; local tiers keep working.
    await cache.put("k2", "v2", ttl_seconds=60)
    await cache.put("k3", "v3", ttl_seconds=60)
    assert cache.redis_breaker is not None
    assert cache.redis_breaker.state == "OPEN"
    await cache.put("k4", "v4", ttl_seconds=60)  # skipped: no connection attempt
    assert await cache.get("k2") == "v2"
    assert await cache.get("missing") is None
    stats = cache.stats()["tiers"]["redis"]
    assert stats["errors"] == 2
    assert stats["skipped"] >= 2
    assert [e.operation for e in recorder.of_type(CacheTierFailed)] == ["set", "set"]
    redis_server.start()
    clock.advance(5)
    await cache.put("k5", "v5", ttl_seconds=60)  # the half-open probe succeeds
    assert cache.redis_breaker.state == "CLOSED"
    assert len(recorder.of_type(CacheTierRecovered)) == 1
    cache._memory.delete(("default", "k5"))
    cache._disk.delete("default", "k5")  # type: ignore[union-attr]
    assert await cache.get("k5") == "v5"  # served by Redis again
    await cache.close()


@pytest.mark.e2e
def test_import_rebellion_does_not_import_redis_or_msgpack() -> None:
    import subprocess
    import sys

    code = (
        "import sys, rebellion, rebellion.cache; "
        "print(sorted(m for m in ('redis', 'msgpack') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
