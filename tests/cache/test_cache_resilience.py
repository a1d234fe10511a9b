"""Single flight under a stampede, serve-stale-on-error, cancellation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rebellion.cache import DistributedCache, StaleValueServed
from rebellion.testing import ManualClock, RecordingListener


async def test_one_loader_runs_for_a_stampede_of_thousands() -> None:
    cache = DistributedCache(100, clock=ManualClock())
    calls = 0
    gate = asyncio.Event()

    async def loader() -> str:
        nonlocal calls
        calls += 1
        await gate.wait()
        return "fresh"

    tasks = [
        asyncio.ensure_future(cache.get_or_load("k", loader, "ns", ttl_seconds=10))
        for _ in range(3000)
    ]
    await asyncio.sleep(0)
    gate.set()
    results = await asyncio.gather(*tasks)
    assert calls == 1
    assert results == ["fresh"] * 3000
    assert cache.counts["coalesced"] == 2999
    # Later callers are served from memory without a loader.
    assert await cache.get_or_load("k", loader, "ns") == "fresh"
    assert calls == 1


async def test_sync_loader_and_loader_error_without_stale_value_propagates() -> None:
    cache = DistributedCache(10)
    assert await cache.get_or_load("k", lambda: 41 + 1, ttl_seconds=5) == 42

    def broken() -> int:
        raise ConnectionError("origin down")

    with pytest.raises(ConnectionError):
        await cache.get_or_load("other", broken)
    assert cache.counts["load_errors"] == 1


async def test_stale_value_within_grace_is_served_and_reported() -> None:
    clock = ManualClock()
    recorder = RecordingListener()
    cache = DistributedCache(10, clock=clock, stale_grace=30, listeners=[recorder])
    assert await cache.get_or_load("k", lambda: "v1", "ns", ttl_seconds=10) == "v1"
    clock.advance(15)  # expired 5 s ago, within the 30 s grace

    def broken() -> str:
        raise TimeoutError("origin slow")

    assert await cache.get_or_load("k", broken, "ns") == "v1"
    (event,) = recorder.of_type(StaleValueServed)
    assert (event.key, event.namespace, event.error) == ("k", "ns", "TimeoutError")
    assert event.age == pytest.approx(5.0)
    assert cache.stats()["stale_served"] == 1
    clock.advance(30)  # now past the grace period
    with pytest.raises(TimeoutError):
        await cache.get_or_load("k", broken, "ns")


async def test_stale_value_comes_from_disk_after_a_restart(tmp_path: Path) -> None:
    clock = ManualClock()
    first = DistributedCache(10, tmp_path, clock=clock, stale_grace=60)
    await first.put("k", "old", ttl_seconds=1)
    first.close_local()
    clock.advance(5)
    second = DistributedCache(10, tmp_path, clock=clock, stale_grace=60)

    async def broken() -> str:
        raise ConnectionError

    assert await second.get_or_load("k", broken) == "old"
    second.close_local()


async def test_cancelled_caller_does_not_cancel_the_shared_load() -> None:
    cache = DistributedCache(10)
    gate = asyncio.Event()

    async def loader() -> int:
        await gate.wait()
        return 7

    first = asyncio.ensure_future(cache.get_or_load("k", loader))
    second = asyncio.ensure_future(cache.get_or_load("k", loader))
    await asyncio.sleep(0)
    first.cancel()
    gate.set()
    assert await second == 7
    assert first.cancelled()
    assert cache.get_local("k") == 7


async def test_failed_load_with_no_waiters_left_logs_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = DistributedCache(10)

    async def broken() -> int:
        await asyncio.sleep(0)
        raise ValueError("bad")

    caller = asyncio.ensure_future(cache.get_or_load("k", broken))
    await asyncio.sleep(0)
    caller.cancel()
    for _ in range(5):
        await asyncio.sleep(0)
    assert "never retrieved" not in caplog.text
    assert cache._flights == {}
