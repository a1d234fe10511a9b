"""The standalone CacheOptimizer: any cache reports reads, the optimiser advises."""

from __future__ import annotations

import threading

import pytest

from rebellion import ConfigError
from rebellion.cache import CacheOptimizer, CacheOptimizerConfig
from rebellion.testing import ManualClock


def learn(optimizer: CacheOptimizer, clock: ManualClock, reads: int, gap: float = 1.0) -> None:
    for _ in range(reads):
        optimizer.record("a", True)
        optimizer.record("b", True)
        clock.advance(gap)


def test_hot_keys_get_longer_ttls_and_cold_keys_shorter() -> None:
    clock = ManualClock()
    optimizer = CacheOptimizer(clock=clock)
    learn(optimizer, clock, 20)
    assert optimizer.ttl("a", 300) == 1200.0
    for _ in range(3):
        optimizer.record("cold", False)
        clock.advance(1000.0)
    assert optimizer.ttl("cold", 300) == 150.0
    assert optimizer.ttl("unknown", 300) == 300.0


def test_related_keys_are_learnt_and_queued_for_preloading() -> None:
    clock = ManualClock()
    optimizer = CacheOptimizer(CacheOptimizerConfig(max_preload_queue_size=1), clock=clock)
    learn(optimizer, clock, 5)
    assert optimizer.related("a") == ["b"]
    assert list(optimizer.preload_queue) in (["a"], ["b"])  # bounded at one entry


def test_switches_turn_each_kind_of_advice_off() -> None:
    clock = ManualClock()
    config = CacheOptimizerConfig(
        ttl_adaptation_enabled=False, preloading_enabled=False, warming_enabled=False
    )
    optimizer = CacheOptimizer(config, clock=clock)
    learn(optimizer, clock, 20)
    assert optimizer.ttl("a", 300) == 300.0
    assert optimizer.related("a") == []
    assert optimizer.warm_keys() == []


def test_warm_keys_and_access_patterns() -> None:
    clock = ManualClock()
    optimizer = CacheOptimizer(CacheOptimizerConfig(hot_key_threshold=10), clock=clock)
    learn(optimizer, clock, 12)
    for gap in (0.01, 0.01, 50.0, 0.01, 0.01, 80.0):
        optimizer.record("burst", True)
        clock.advance(gap)
    assert optimizer.warm_keys() == ["a", "b"]
    assert optimizer.pattern("a") == "periodic"
    assert optimizer.pattern("burst") == "bursty"
    assert optimizer.pattern("never") == "unknown"
    report = optimizer.report()
    assert [row["key"] for row in report["hot_keys"]] == ["a", "b"]
    assert report["hot_keys"][0]["pattern"] == "periodic"


def test_wrap_reports_hits_and_misses_of_any_getter() -> None:
    optimizer = CacheOptimizer(clock=ManualClock())
    store = {"x": 1}
    get = optimizer.wrap(store.get)
    assert (get("x"), get("y")) == (1, None)
    assert optimizer.report()["hit_ratio"] == 0.5


@pytest.mark.parametrize(
    ("settings", "parameter"),
    [
        ({"pattern_window_size": 1}, "pattern_window_size"),
        ({"hot_key_threshold": 0}, "hot_key_threshold"),
        ({"spatial_locality_threshold": 0.0}, "spatial_locality_threshold"),
        ({"spatial_locality_threshold": 1.5}, "spatial_locality_threshold"),
        ({"max_preload_queue_size": -1}, "max_preload_queue_size"),
        ({"preloading_enabled": "yes"}, "preloading_enabled"),
    ],
)
def test_bad_config_names_the_parameter(settings: dict[str, object], parameter: str) -> None:
    with pytest.raises(ConfigError, match=parameter):
        CacheOptimizerConfig(**settings)  # type: ignore[arg-type]


def test_bad_calls_name_the_parameter() -> None:
    optimizer = CacheOptimizer(clock=ManualClock())
    with pytest.raises(ConfigError, match="current_ttl"):
        optimizer.ttl("a", 0)
    with pytest.raises(ConfigError, match="size_bytes"):
        optimizer.record("a", True, size_bytes=-1)
    with pytest.raises(ConfigError, match="key"):
        optimizer.record("", True)
    with pytest.raises(ConfigError, match="config"):
        CacheOptimizer({"hot_key_threshold": 3})  # type: ignore[arg-type]


def test_many_threads_report_reads_at_once() -> None:
    optimizer = CacheOptimizer(clock=ManualClock())

    def work(n: int) -> None:
        for i in range(300):
            optimizer.record(f"k{i % 20}", i % 2 == 0, size_bytes=n)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = optimizer.report()
    assert report["keys_tracked"] == 20
    assert report["reads"] >= 2300  # the learner's counts are lock-free heuristics
