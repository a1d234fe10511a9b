"""The optimiser's features and the report's figures, checked against real counters."""

from __future__ import annotations

import random
from collections import OrderedDict
from pathlib import Path

from rebellion.cache import DistributedCache
from rebellion.testing import ManualClock


def plain_lru_hits(capacity: int, trace: list[tuple[str, str]]) -> tuple[int, int]:
    """Reference model: a plain LRU (no TTL expiry in this trace) -> (hits, reads)."""
    lru: OrderedDict[str, None] = OrderedDict()
    hits = reads = 0
    for op, key in trace:
        if op == "get":
            reads += 1
            if key in lru:
                hits += 1
                lru.move_to_end(key)
        else:
            lru[key] = None
            lru.move_to_end(key)
            if len(lru) > capacity:
                lru.popitem(last=False)
    return hits, reads


async def test_hot_key_survives_a_scan_that_plain_lru_would_evict_it_in() -> None:
    cache = DistributedCache(3, hot_key_hits=2, baseline_sample_rate=1.0, clock=ManualClock())
    await cache.put("hot", 1, ttl_seconds=60)
    for _ in range(3):
        assert cache.get_local("hot") == 1
    for key in ("a", "b", "c"):  # a scan of one-off keys
        await cache.put(key, key, ttl_seconds=60)
    assert cache.get_local("hot") == 1
    report = cache.get_optimization_report()
    protection = report["hot_key_protection"]
    assert protection["hot_evictions_avoided"] == cache._memory.hot_rescues == 1
    assert protection["hits_on_protected_keys"] == 1  # the read after the scan
    assert report["hit_ratio"]["with_optimizer"] == 1.0  # 4 reads, 4 hits
    assert report["hit_ratio"]["without_optimizer"] == 0.75  # plain LRU lost "hot"


async def test_report_hit_ratios_match_an_independent_replay() -> None:
    rng = random.Random(7)
    cache = DistributedCache(20, hot_key_hits=3, baseline_sample_rate=1.0, clock=ManualClock())
    trace: list[tuple[str, str]] = []
    for _ in range(3000):
        # A few hot keys and a long tail of one-offs.
        key = f"h{rng.randrange(5)}" if rng.random() < 0.5 else f"t{rng.randrange(200)}"
        trace.append(("get", key))
        if cache.get_local(key) is None:
            trace.append(("put", key))
            await cache.put(key, key, ttl_seconds=1e6)
    report = cache.get_optimization_report()
    memory = cache.stats()["tiers"]["memory"]
    reads = sum(1 for op, _ in trace if op == "get")
    base_hits, base_reads = plain_lru_hits(20, trace)
    ratio = report["hit_ratio"]
    assert ratio["sampled_reads"] == reads == base_reads
    assert ratio["with_optimizer"] == memory["hits"] / reads
    assert ratio["without_optimizer"] == base_hits / reads
    assert ratio["gain"] > 0  # protection pays off on this skewed trace
    assert report["access_patterns"]["memory_hits"] == memory["hits"]


async def test_adaptive_ttl_extends_hot_keys_and_keeps_explicit_ttls() -> None:
    clock = ManualClock()
    cache = DistributedCache(10, default_ttl=10, max_ttl=40, clock=clock)
    await cache.put("hot", "v")  # first store: nothing learned yet
    for _ in range(30):
        await cache.get("hot")
        clock.advance(0.2)
    await cache.put("hot", "v2")  # now adapted: 30 reads over 6 s, all hits
    await cache.put("pinned", "p", ttl_seconds=10)
    clock.advance(15)  # past the default (and the explicit) TTL
    assert cache.get_local("pinned") is None
    assert cache.get_local("hot") == "v2"
    adaptive = cache.get_optimization_report()["adaptive_ttl"]
    assert adaptive["ttl_extended"] == 1
    assert adaptive["ttl_unchanged"] == 1
    assert adaptive["hits_beyond_requested_ttl"] == 1 == cache._memory.beyond_base.value
    clock.advance(30)
    assert cache.get_local("hot") is None  # max_ttl still bounds it


async def test_rarely_read_key_gets_a_shorter_ttl() -> None:
    clock = ManualClock()
    cache = DistributedCache(10, default_ttl=10, clock=clock)
    for _ in range(3):
        await cache.get("cold")
        clock.advance(20)  # one read per two TTLs
    await cache.put("cold", "v")
    clock.advance(6)
    assert cache.get_local("cold") is None
    assert cache.get_optimization_report()["adaptive_ttl"]["ttl_shortened"] == 1


async def test_learned_successor_is_preloaded_from_disk(tmp_path: Path) -> None:
    clock = ManualClock()
    cache = DistributedCache(2, tmp_path, clock=clock, hot_key_hits=None)
    await cache.put("profile", "P", ttl_seconds=600)
    await cache.put("settings", "S", ttl_seconds=600)
    for _ in range(3):  # profile is always followed by settings
        await cache.get("profile")
        await cache.get("settings")
    await cache.put("x", 1, ttl_seconds=600)  # push both out of memory
    await cache.put("y", 2, ttl_seconds=600)
    assert cache.get_local("settings") is None
    assert await cache.get("profile") == "P"  # read from disk, preloads settings
    await cache.settle()
    assert cache.get_local("settings") == "S"
    preload = cache.get_optimization_report()["preloading"]
    assert preload["started"] >= 1
    assert preload["found"] >= 1
    assert preload["used"] == 1
    assert preload["estimated_seconds_saved"] >= 0
    cache.close_local()


async def test_declared_relation_preloads_and_unused_preload_is_counted(tmp_path: Path) -> None:
    cache = DistributedCache(10, tmp_path, clock=ManualClock())
    await cache.put("order", "O", ttl_seconds=600)
    await cache.put("invoice", "I", ttl_seconds=600)
    await cache.invalidate_namespace("none")
    cache._memory.clear_namespace("default")  # keep disk, drop memory
    cache.relate("order", ["invoice"])
    await cache.get("order")
    await cache.settle()
    assert cache._memory.peek(("default", "invoice")) is not None
    report = cache.get_optimization_report()["preloading"]
    assert report["unused_pending"] == 1
    assert report["used"] == 0
    cache.close_local()


async def test_preloading_is_off_without_a_lower_tier() -> None:
    cache = DistributedCache(10)
    cache.relate("a", ["b"])
    await cache.get("a")
    assert cache.get_optimization_report()["preloading"]["enabled"] is False
    assert cache.get_optimization_report()["preloading"]["started"] == 0
