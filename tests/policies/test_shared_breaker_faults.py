"""SharedCircuitBreaker under faults: bad settings, Redis lost, scripts flushed."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from _redis import RedisServer
from rebellion.errors import CircuitOpenError, ConfigError
from rebellion.policies.circuit_breaker.shared import (
    SharedCircuitBreaker,
    SharedStateRestored,
    SharedStateUnavailable,
)
from rebellion.testing import ManualClock, RecordingListener

URL = "redis://127.0.0.1:6379/13"

BAD: list[tuple[str, Any]] = [
    ("window_type", "sliding"),
    ("window_size", 0),
    ("window_buckets", 0),
    ("minimum_calls", 0),
    ("failure_rate_threshold", 0),
    ("failure_rate_threshold", 1.5),
    ("slow_call_duration", -1),
    ("slow_call_rate_threshold", 2),
    ("on_redis_down", "maybe"),
    ("server_time", "yes"),
    ("key_ttl", 1),
    ("probe_lease", timedelta(0)),
    ("refresh_interval", -0.5),
]


@pytest.mark.parametrize(("parameter", "value"), BAD)
def test_bad_window_or_fault_setting_is_rejected_by_name(parameter: str, value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        SharedCircuitBreaker("x", URL, **{parameter: value})
    message = str(caught.value)
    assert message.startswith(parameter)
    assert "got" in message  # the rule and the value given


def test_minimum_calls_above_a_count_window_is_rejected() -> None:
    with pytest.raises(ConfigError, match=r"minimum_calls must be at most window_size \(10\)"):
        SharedCircuitBreaker("x", URL, window_type="count", window_size=10, minimum_calls=20)


@pytest.mark.parametrize(
    "window_setting",
    [
        {"failure_rate_threshold": 0.2},
        {"window_size": 50},
        {"minimum_calls": 5},
        {"slow_call_rate_threshold": 0.5},
    ],
)
def test_consecutive_threshold_mixed_with_window_settings_needs_a_window_type(
    window_setting: dict[str, Any],
) -> None:
    with pytest.raises(ConfigError, match="window_type"):
        SharedCircuitBreaker("x", URL, failure_threshold=3, **window_setting)


def test_window_type_defaults_follow_the_settings_given() -> None:
    made = [
        SharedCircuitBreaker("a", URL),
        SharedCircuitBreaker("b", URL, failure_threshold=3),
        SharedCircuitBreaker("c", URL, failure_rate_threshold=0.2),
    ]
    try:
        assert [b.config.window_type for b in made] == ["count", "consecutive", "count"]
        assert made[0].config.minimum_calls == 10
        assert made[0].config.window_size == 100
    finally:
        for breaker in made:
            breaker.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(wall_start=1_900_000_000)


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as redis_server:
        yield redis_server


def _make(server: RedisServer, clock: ManualClock, **extra: Any) -> SharedCircuitBreaker:
    settings: dict[str, Any] = {
        "window_type": "count",
        "window_size": 10,
        "minimum_calls": 4,
        "failure_rate_threshold": 0.5,
        "reset_timeout": 30,
        "refresh_interval": 0.0,
        "resync_interval": 1.0,
        "redis_timeout": 0.5,
        "clock": clock,
    }
    return SharedCircuitBreaker("orders", server.url, **{**settings, **extra})


def fail() -> None:
    raise ConnectionError("down")


def test_fail_open_runs_calls_unjudged_and_counts_them(
    server: RedisServer, clock: ManualClock
) -> None:
    recorder = RecordingListener()
    a = _make(server, clock, on_redis_down="fail_open", listeners=[recorder])
    assert a.call(lambda: 1) == 1
    server.stop()
    for _ in range(10):
        with pytest.raises(ConnectionError):
            a.call(fail)  # never tripped: nothing judges while Redis is away
    assert a.call(lambda: 2) == 2
    snap = a.stats()
    assert (snap.state, snap.degraded, snap.degraded_calls) == ("DISABLED", True, 11)
    assert (snap.calls, snap.failures, snap.rejections) == (12, 10, 0)
    assert snap.redis_errors >= 1
    assert snap.last_redis_error == "ConnectionError"
    assert len(recorder.of_type(SharedStateUnavailable)) == 1
    a.close()


def test_fail_closed_rejects_until_redis_returns(server: RedisServer, clock: ManualClock) -> None:
    recorder = RecordingListener()
    a = _make(server, clock, on_redis_down="fail_closed", listeners=[recorder])
    assert a.call(lambda: 1) == 1
    server.stop()
    for _ in range(3):
        with pytest.raises(CircuitOpenError) as caught:
            a.call(lambda: "never")
        assert caught.value.state == "UNAVAILABLE"
        assert 0 <= caught.value.remaining <= 1.0
    snap = a.stats()
    assert (snap.state, snap.rejections, snap.degraded_calls) == ("FORCED_OPEN", 3, 0)
    server.start()
    clock.advance(1.0)
    assert a.call(lambda: "back") == "back"
    assert not a.degraded
    (restored,) = recorder.of_type(SharedStateRestored)
    assert restored.state == "CLOSED"
    a.close()


def test_an_open_state_seen_before_the_outage_is_honoured(
    server: RedisServer, clock: ManualClock
) -> None:
    a = _make(server, clock, on_redis_down="fail_open")
    for _ in range(4):
        with pytest.raises(ConnectionError):
            a.call(fail)
    server.stop()
    clock.advance(10)
    with pytest.raises(CircuitOpenError) as caught:
        a.call(lambda: "never")  # the shared OPEN state is still in force for 20 s
    assert caught.value.remaining == pytest.approx(20.0)
    a.close()


def test_redis_disappearing_mid_run_loses_no_call(server: RedisServer, clock: ManualClock) -> None:
    a = _make(server, clock, window_size=100, minimum_calls=100)
    threads, per_thread = 4, 60
    done = [0] * threads
    answered = [0] * threads
    unexpected: list[BaseException] = []
    half = threading.Event()

    def worker(index: int) -> None:
        for n in range(per_thread):
            if n == per_thread // 2:
                half.set()
            try:
                if n % 4 == 0:
                    a.call(fail)
                else:
                    a.call(lambda: None)
            except (ConnectionError, CircuitOpenError):
                pass
            except BaseException as error:  # a Redis error leaking out would land here
                unexpected.append(error)
            answered[index] += 1
        done[index] = 1

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    assert half.wait(60)
    server.stop()
    for t in pool:
        t.join(60)
    assert unexpected == []
    assert sum(done) == threads
    snap = a.stats()
    assert snap.calls + snap.rejections == threads * per_thread == sum(answered)
    assert snap.degraded
    assert snap.degraded_calls > 0
    server.start()
    clock.advance(1.0)
    assert a.call(lambda: "shared again") == "shared again"
    assert a.stats().shared
    a.close()


def test_flushed_scripts_are_reloaded(server: RedisServer, clock: ManualClock) -> None:
    import redis

    a = _make(server, clock)
    assert a.call(lambda: 1) == 1
    admin = redis.Redis.from_url(server.url)
    try:
        admin.script_flush()
        assert a.call(lambda: 2) == 2  # EVALSHA answers NOSCRIPT; the script is loaded again
        assert not a.degraded
        assert a.stats().window_calls == 2
    finally:
        admin.close()
        a.close()


async def test_async_callers_get_the_same_redis_down_modes(
    server: RedisServer, clock: ManualClock
) -> None:
    opened = _make(server, clock, on_redis_down="fail_open")
    closed = _make(server, clock, on_redis_down="fail_closed")

    async def work() -> str:
        return "done"

    assert await opened.execute(work) == "done"
    assert await closed.execute(work) == "done"
    server.stop()
    assert await opened.execute(work) == "done"
    with pytest.raises(CircuitOpenError) as caught:
        await closed.execute(work)
    assert caught.value.state == "UNAVAILABLE"
    assert (opened.stats().degraded_calls, closed.stats().rejections) == (1, 1)
    opened.close()
    closed.close()


def test_the_registry_lists_one_entry_whose_counts_include_the_local_fallback() -> None:
    from rebellion import registry

    breaker = SharedCircuitBreaker("census-check", "redis://127.0.0.1:1/0", redis_timeout=0.05)
    try:
        assert breaker.call(lambda: "local") == "local"
        (entry,) = [e for e in registry.snapshot() if e["name"].startswith("census-check")]
        assert entry["kind"] == "shared_circuit_breaker"
        assert entry["stats"]["calls"] == entry["stats"]["degraded_calls"] == 1
        assert entry["measures"]["degraded_calls"] == "counter"
    finally:
        breaker.close()
