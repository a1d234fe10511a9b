"""The harness has teeth: break a component on purpose and the schedules notice."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from _redis import require_redis
from rebellion.simulation import run_many


def _broken(scenario: str, seeds: int) -> Counter[str]:
    summary = run_many(range(seeds), scenarios=[scenario])
    return Counter(v.invariant for r in summary.failed for v in r.violations)


def test_a_bulkhead_that_never_frees_a_slot_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    from rebellion.policies._bulkhead_core import BulkheadCore

    real = BulkheadCore.release
    calls = {"n": 0}

    def leaky(self: BulkheadCore) -> None:
        calls["n"] += 1
        if calls["n"] % 7:
            real(self)

    monkeypatch.setattr(BulkheadCore, "release", leaky)
    assert _broken("pipeline", 60)["leaks"] > 0


def test_a_rate_limiter_that_admits_twice_its_burst_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rebellion.policies.ratelimit._gcra import GcraCore

    real = GcraCore._configure

    def generous(self: GcraCore, rate: float, per: float, burst: float) -> None:
        real(self, rate, per, burst)
        self.bound = 2 * self.limit + self.interval

    monkeypatch.setattr(GcraCore, "_configure", generous)
    assert _broken("limiter", 40)["limit"] > 0


def test_a_queue_that_drops_an_acknowledged_request_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rebellion.durable.queue import _sqlite_store as sql

    real = sql.ack

    def lossy(conn: Any, scratch: Any, rid: str, token: str) -> Any:
        done = real(conn, scratch, rid, token)
        conn.execute("DELETE FROM requests WHERE seq = (SELECT max(seq) FROM requests)")
        return done

    monkeypatch.setattr(sql, "ack", lossy)
    found = _broken("queue", 30)
    assert found["no-loss"] > 0
    assert found["counts"] > 0


def test_a_shared_breaker_that_over_admits_probes_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    require_redis()
    from rebellion.policies.circuit_breaker._shared_core import SharedCore

    monkeypatch.setattr(
        SharedCore,
        "max_probes",
        property(lambda self: int(self.settings["half_open_max_calls"]) + 1),
    )
    assert _broken("shared-breaker", 40)["half-open-probes"] > 0


def test_a_breaker_that_admits_one_probe_too_many_is_caught(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from rebellion.policies.circuit_breaker._config import BreakerConfig

    real = BreakerConfig.create

    def lax(**settings: Any) -> BreakerConfig:
        config = real(**settings)
        object.__setattr__(config, "half_open_max_calls", config.half_open_max_calls + 1)
        return config

    monkeypatch.setattr(BreakerConfig, "create", staticmethod(lax))
    assert _broken("pipeline", 200)["half-open-probes"] > 0
