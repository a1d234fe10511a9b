"""Tiers, TTLs, promotion, invalidation, serialisation and per-tier metrics."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from rebellion.cache import DistributedCache, SerializationError
from rebellion.testing import ManualClock


def make(tmp_path: Path | None = None, **kw: object) -> tuple[DistributedCache, ManualClock]:
    clock = ManualClock()
    cache = DistributedCache(
        kw.pop("memory_cache_size", 100),  # type: ignore[arg-type]
        tmp_path,
        clock=clock,
        **kw,  # type: ignore[arg-type]
    )
    return cache, clock


async def test_put_then_get_from_memory_and_sync_fast_path() -> None:
    cache, _ = make()
    await cache.put("k", {"a": 1}, "ns", ttl_seconds=10)
    assert await cache.get("k", "ns") == {"a": 1}
    assert cache.get_local("k", "ns") == {"a": 1}
    assert cache.get_local("absent", "ns", "dflt") == "dflt"
    assert await cache.get("absent", "ns") is None


async def test_memory_entry_expires_with_virtual_time() -> None:
    cache, clock = make()
    await cache.put("k", 1, ttl_seconds=5)
    clock.advance(4.9)
    assert cache.get_local("k") == 1
    clock.advance(0.2)
    assert cache.get_local("k") is None


async def test_disk_tier_survives_a_new_cache_and_promotes_to_memory(tmp_path: Path) -> None:
    first, clock = make(tmp_path)
    await first.put("k", [1, 2], "ns", ttl_seconds=30)
    first.close_local()
    second = DistributedCache(10, tmp_path, clock=clock)
    assert second.get_local("k", "ns") is None  # memory is empty
    assert await second.get("k", "ns") == [1, 2]  # disk hit...
    assert second.get_local("k", "ns") == [1, 2]  # ...promoted to memory
    tiers = second.stats()["tiers"]
    assert tiers["disk"]["hits"] == 1
    assert tiers["memory"]["hits"] == 1
    assert tiers["memory"]["misses"] == 2
    second.close_local()


async def test_disk_expiry_follows_the_clock(tmp_path: Path) -> None:
    cache, clock = make(tmp_path, memory_cache_size=0)
    await cache.put("k", "v", ttl_seconds=2)
    assert await cache.get("k") == "v"
    clock.advance(3)
    assert await cache.get("k") is None
    cache.close_local()


async def test_lru_evicts_least_recently_used() -> None:
    cache, _ = make(memory_cache_size=2, hot_key_hits=None)
    await cache.put("a", 1, ttl_seconds=60)
    await cache.put("b", 2, ttl_seconds=60)
    assert cache.get_local("a") == 1  # a is now most recent
    await cache.put("c", 3, ttl_seconds=60)
    assert cache.get_local("b") is None
    assert cache.get_local("a") == 1
    assert cache.get_local("c") == 3


async def test_delete_and_invalidate_namespace_reach_every_tier(tmp_path: Path) -> None:
    cache, _ = make(tmp_path)
    for key in ("a", "b"):
        await cache.put(key, key, "ns", ttl_seconds=60)
    await cache.put("a", "other", "keep", ttl_seconds=60)
    assert await cache.delete("a", "ns") is True
    assert await cache.delete("a", "ns") is False
    assert await cache.get("a", "ns") is None
    assert await cache.invalidate_namespace("ns") == 1
    assert await cache.get("b", "ns") is None
    assert await cache.get("a", "keep") == "other"
    cache.close_local()


async def test_unserialisable_value_names_its_type_and_stores_nothing(tmp_path: Path) -> None:
    cache, _ = make(tmp_path)

    class Widget:
        pass

    with pytest.raises(SerializationError, match="Widget") as caught:
        await cache.put("k", Widget())
    assert caught.value.value_type.endswith("Widget")
    assert isinstance(caught.value, TypeError)
    assert cache.get_local("k") is None
    assert await cache.get("k") is None
    cache.close_local()


async def test_msgpack_and_pickle_round_trip(tmp_path: Path) -> None:
    packed = DistributedCache(0, tmp_path / "m", serializer="msgpack")
    await packed.put("k", {"a": [1, b"x"]}, ttl_seconds=10)
    assert await packed.get("k") == {"a": [1, b"x"]}
    pickled = DistributedCache(0, tmp_path / "p", serializer="pickle")
    await pickled.put("k", {1, 2}, ttl_seconds=10)
    assert await pickled.get("k") == {1, 2}
    packed.close_local()
    pickled.close_local()


async def test_json_cache_refuses_pickled_payload_left_by_another_writer(tmp_path: Path) -> None:
    writer = DistributedCache(0, tmp_path, serializer="pickle")
    await writer.put("k", [1], ttl_seconds=10)
    writer.close_local()
    reader = DistributedCache(0, tmp_path)
    with pytest.raises(SerializationError, match="refusing to decode"):
        await reader.get("k")
    reader.close_local()


async def test_invalid_key_namespace_and_ttl_are_named() -> None:
    cache, _ = make()
    with pytest.raises(ValueError, match="key"):
        await cache.get("")
    with pytest.raises(ValueError, match="namespace"):
        await cache.put("k", 1, "")
    with pytest.raises(ValueError, match="ttl_seconds"):
        await cache.put("k", 1, ttl_seconds=0)
    with pytest.raises(ValueError, match="loader"):
        await cache.get_or_load("k", "not callable")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="related"):
        cache.relate("k", [""])


async def test_many_threads_read_and_write_consistently() -> None:
    cache, _ = make(memory_cache_size=50)
    for i in range(50):
        await cache.put(f"k{i}", i, ttl_seconds=60)
    errors: list[BaseException] = []

    def reader(offset: int) -> None:
        try:
            for i in range(2000):
                key = f"k{(i + offset) % 80}"
                value = cache.get_local(key)
                assert value is None or value == int(key[1:])
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=reader, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    stats = cache.stats()["tiers"]["memory"]
    assert stats["hits"] + stats["misses"] == 8 * 2000
    assert stats["misses"] == 8 * 2000 * 30 // 80


async def test_stats_shape_and_registry_census() -> None:
    from rebellion import registry

    cache, _ = make(name="catalog")
    await cache.put("k", 1, ttl_seconds=1)
    stats = cache.stats()
    assert stats["kind"] == "cache"
    assert stats["name"] == "catalog"
    assert set(stats["tiers"]) == {"memory"}
    assert any(entry["name"] == "catalog" for entry in registry.snapshot())
    assert "memory" in repr(cache)
