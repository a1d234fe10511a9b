"""Fallback, hedge, adaptive and keyed limiter statistics are typed, frozen snapshots."""

from __future__ import annotations

import dataclasses

import pytest

from rebellion import registry
from rebellion._snapshot import Snapshot
from rebellion.metrics._primitives import primitive_families
from rebellion.policies.adaptive import AdaptiveLimiter
from rebellion.policies.fallback import Fallback
from rebellion.policies.hedge import Hedge
from rebellion.policies.ratelimit import KeyedRateLimiter
from rebellion.policies.snapshots import (
    AdaptiveLimiterSnapshot,
    FallbackSnapshot,
    HedgeSnapshot,
    KeyedRateLimiterSnapshot,
    PartitionSnapshot,
)
from rebellion.testing import ManualClock


def test_fallback_snapshot_counts_with_the_shared_vocabulary() -> None:
    policy = Fallback(lambda *a, **k: "spare", name="fb")
    assert policy.call(lambda: "primary") == "primary"

    def broken() -> str:
        raise ConnectionError("down")

    assert policy.call(broken) == "spare"
    snap = policy.stats()
    assert isinstance(snap, FallbackSnapshot)
    assert (snap.calls, snap.successes, snap.fallbacks, snap.failures) == (2, 1, 1, 0)
    assert snap.by_error == {"ConnectionError": 1}
    assert FallbackSnapshot.measure("fallbacks") == "counter"
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.calls = 0  # type: ignore[misc]


def test_hedge_snapshot_declares_its_delay_in_seconds() -> None:
    hedge = Hedge(delay=3600.0, name="h")
    try:
        assert hedge.call(lambda: 1) == 1
        snap = hedge.stats()
    finally:
        hedge.close()
    assert isinstance(snap, HedgeSnapshot)
    assert (snap.calls, snap.attempts, snap.hedges, snap.wins_by_attempt) == (1, 1, 0, [1, 0])
    assert HedgeSnapshot.measure("current_delay") == "seconds"


def test_adaptive_snapshot_reads_old_names_and_algorithm_estimates() -> None:
    limiter = AdaptiveLimiter(
        algorithm="vegas", initial_limit=4, partitions={"live": 0.5}, name="al"
    )
    assert limiter.call(lambda: "ok") == "ok"
    snap = limiter.stats()
    assert isinstance(snap, AdaptiveLimiterSnapshot)
    assert (snap.successes, snap["succeeded"], snap.in_flight, snap["inflight"]) == (1, 1, 0, 0)
    assert snap.algorithm == "vegas"
    assert "rtt_noload" in snap.estimates
    assert snap["rtt_noload"] == snap.estimates["rtt_noload"]
    with pytest.raises(KeyError):
        snap["no_such_stat"]
    part = limiter.partition("live").stats()
    assert isinstance(part, PartitionSnapshot)
    assert (part.kind, part.name, part["inflight"]) == ("adaptive_limiter", "al/live", 0)


def test_keyed_limiter_snapshot_counts_rejections() -> None:
    limiter = KeyedRateLimiter(rate=1, burst=1, clock=ManualClock(), name="per-user")
    assert limiter.try_acquire("a")
    assert not limiter.try_acquire("a")
    snap = limiter.stats()
    assert isinstance(snap, KeyedRateLimiterSnapshot)
    assert (snap.admitted, snap.rejections, snap["rejected"], snap.key_count) == (1, 1, 1, 1)


def test_exporters_read_the_new_snapshots_by_their_declared_measures() -> None:
    fallback = Fallback(lambda *a, **k: None, name="fb")
    keyed = KeyedRateLimiter(rate=5, clock=ManualClock(), name="keys")
    keyed.try_acquire("x")
    entries = {(e["kind"], e["name"]): e for e in registry.snapshot()}
    for policy in (fallback, keyed):
        entry = entries[policy.kind, policy.name]
        assert isinstance(policy.stats(), Snapshot)
        assert entry["measures"]["name"] == "info"
    families = {f.name: f for f in primitive_families(registry.snapshot())}
    assert families["rebellion_keyed_rate_limiter_admitted"].type == "counter"
    assert families["rebellion_keyed_rate_limiter_key_count"].type == "gauge"
    assert "rebellion_keyed_rate_limiter_rate" not in families  # a setting, not a metric


def test_retry_budget_snapshot_is_typed_and_nested_in_the_retry_snapshot() -> None:
    from rebellion.policies.budget import RetryBudget
    from rebellion.policies.retry import Retry
    from rebellion.policies.snapshots import RetryBudgetSnapshot

    budget = RetryBudget(ratio=0.5, min_retries_per_second=0, ttl=10, clock=ManualClock())
    retry = Retry(max_attempts=2, budget=budget, clock=ManualClock())
    assert retry.call(lambda: "ok") == "ok"
    snap = budget.stats()
    assert isinstance(snap, RetryBudgetSnapshot)
    assert (snap.window_requests, snap.withdrawn) == (1, 0)
    assert RetryBudgetSnapshot.measure("refused") == "counter"
    assert retry.stats().budget == snap
