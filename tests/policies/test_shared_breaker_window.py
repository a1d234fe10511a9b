"""SharedCircuitBreaker's sliding windows: several instances stand in for processes."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from rebellion.errors import CircuitOpenError
from rebellion.policies.circuit_breaker import CircuitFailureRecorded, CircuitStateChanged
from rebellion.policies.circuit_breaker.shared import SharedBreakerSnapshot, SharedCircuitBreaker
from rebellion.testing import ManualClock, RecordingListener

Factory = Callable[..., SharedCircuitBreaker]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(wall_start=1_900_000_000)


@pytest.fixture
def make(redis_url: str, redis_namespace: str, clock: ManualClock) -> Iterator[Factory]:
    made: list[SharedCircuitBreaker] = []

    def factory(**settings: Any) -> SharedCircuitBreaker:
        defaults: dict[str, Any] = {
            "window_type": "count",
            "window_size": 10,
            "minimum_calls": 4,
            "failure_rate_threshold": 0.5,
            "reset_timeout": 30,
            "refresh_interval": 0.0,
            "key_prefix": redis_namespace,
            "clock": clock,
        }
        breaker = SharedCircuitBreaker("search", redis_url, **{**defaults, **settings})
        made.append(breaker)
        return breaker

    yield factory
    for breaker in made:
        breaker.close()


def fail() -> None:
    raise ConnectionError("down")


def failing(breaker: SharedCircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(ConnectionError):
            breaker.call(fail)


def ok(breaker: SharedCircuitBreaker, times: int = 1) -> None:
    for _ in range(times):
        assert breaker.call(lambda: "ok") == "ok"


def test_opens_for_every_instance_once_the_fleet_failure_rate_reaches_the_threshold(
    make: Factory,
) -> None:
    a, b = make(failure_rate_threshold=0.25), make(failure_rate_threshold=0.25)
    ok(b, 2)
    failing(a)
    assert a.state == "CLOSED"  # 1 of 3 calls: under minimum_calls
    ok(b)  # 4 calls, 1 failed: 25%
    assert b.state == "OPEN"
    with pytest.raises(CircuitOpenError) as caught:
        a.call(lambda: "never")
    assert caught.value.state == "OPEN"
    assert caught.value.remaining == pytest.approx(30.0)


def test_a_success_elsewhere_does_not_reset_the_window(make: Factory) -> None:
    a, b = make(window_size=20, minimum_calls=20), make(window_size=20, minimum_calls=20)
    failing(a, 3)
    ok(b, 10)
    snap = a.stats()
    assert (snap.window_calls, snap.window_failures) == (13, 3)
    assert snap.failure_rate == pytest.approx(3 / 13)
    assert snap.failure_count == 3


def test_below_minimum_calls_even_all_failures_keep_it_closed(make: Factory) -> None:
    a = make(minimum_calls=5, failure_rate_threshold=0.5)
    failing(a, 4)
    assert a.state == "CLOSED"
    failing(a)
    assert a.state == "OPEN"


def test_count_window_forgets_the_oldest_outcome(make: Factory) -> None:
    a = make(window_size=4, minimum_calls=4, failure_rate_threshold=0.5)
    failing(a)
    ok(a, 3)
    assert a.stats().window_failures == 1
    ok(a)  # the failure leaves the ring
    snap = a.stats()
    assert (snap.window_calls, snap.window_failures) == (4, 0)
    failing(a, 2)  # S S F F: 50%
    assert a.state == "OPEN"


def test_time_window_drops_expired_buckets(make: Factory, clock: ManualClock) -> None:
    a = make(window_type="time", window_size=10, window_buckets=10, minimum_calls=4)
    failing(a)
    clock.advance(1)
    failing(a)
    clock.advance(9.5)  # the first failure's bucket has expired, the second's not
    ok(a, 2)
    snap = a.stats()
    assert (snap.window_calls, snap.window_failures) == (3, 1)
    ok(a)
    assert a.state == "CLOSED"  # 1 of 4 failed: 25%
    clock.advance(10)
    snap = a.stats()
    assert (snap.window_calls, snap.window_failures) == (0, 0)


def test_time_window_accepts_timedelta_and_trips_on_rate(make: Factory) -> None:
    a = make(window_type="time", window_size=timedelta(minutes=1), reset_timeout=timedelta(0, 5))
    assert a.config.window_size == 60.0
    assert a.config.reset_timeout == 5.0
    failing(a, 2)
    ok(a, 2)
    assert a.state == "OPEN"
    assert a.stats().time_until_half_open == pytest.approx(5.0)


def test_slow_calls_open_it_decided_in_the_same_script(make: Factory, clock: ManualClock) -> None:
    recorder = RecordingListener()
    a = make(
        slow_call_duration=1.0,
        slow_call_rate_threshold=0.5,
        failure_rate_threshold=1.0,
        listeners=[recorder],
    )

    def slow() -> str:
        clock.advance(2)
        return "late"

    assert a.call(slow) == "late"
    ok(a, 2)
    assert a.state == "CLOSED"
    assert a.call(slow) == "late"  # 2 of 4 slow: 50%
    assert a.state == "OPEN"
    snap = a.stats()
    assert (snap.slow, snap.successes, snap.failures) == (2, 4, 0)
    (opened,) = [e for e in recorder.of_type(CircuitStateChanged) if e.new_state == "OPEN"]
    assert opened.reason == "slow call rate 50.0% over 4 calls"


def test_a_slow_probe_reopens_it(make: Factory, clock: ManualClock) -> None:
    a = make(slow_call_duration=1.0, exponential_backoff_factor=2)
    failing(a, 4)
    clock.advance(30)

    def slow() -> None:
        clock.advance(1.5)

    a.call(slow)
    assert a.state == "OPEN"
    assert a.stats().time_until_half_open == pytest.approx(60.0)
    assert a.stats().open_level == 1


def test_transition_events_carry_the_scripts_reason(make: Factory, clock: ManualClock) -> None:
    recorder = RecordingListener()
    a = make(listeners=[recorder], success_threshold=1)
    failing(a, 4)
    clock.advance(30)
    ok(a)
    moves = [(e.old_state, e.new_state, e.reason) for e in recorder.of_type(CircuitStateChanged)]
    assert moves == [
        ("CLOSED", "OPEN", "failure rate 100.0% over 4 calls"),
        ("OPEN", "HALF_OPEN", "reset timeout elapsed"),
        ("HALF_OPEN", "CLOSED", "1 probe(s) succeeded"),
    ]
    assert len(recorder.of_type(CircuitFailureRecorded)) == 4
    assert a.stats().transitions == 3  # CLOSED -> OPEN -> HALF_OPEN -> CLOSED


def test_closing_starts_a_fresh_window(make: Factory, clock: ManualClock) -> None:
    a = make(success_threshold=1)
    failing(a, 4)
    clock.advance(30)
    ok(a)
    snap = a.stats()
    assert (snap.state, snap.window_calls, snap.window_failures) == ("CLOSED", 0, 0)


def test_an_outcome_admitted_before_a_trip_does_not_count_after_it(make: Factory) -> None:
    a, b = make(), make()
    started = threading.Event()
    finish = threading.Event()

    def long_call() -> None:
        started.set()
        assert finish.wait(30)
        raise ConnectionError("late")

    errors: list[BaseException] = []

    def run() -> None:
        try:
            a.call(long_call)
        except BaseException as error:
            errors.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    assert started.wait(30)
    failing(b, 4)  # opens, then an operator closes it
    b.reset()
    finish.set()
    thread.join(30)
    assert [type(e) for e in errors] == [ConnectionError]
    snap = b.stats()
    assert (snap.state, snap.window_calls) == ("CLOSED", 0)
    assert a.stats().failures == 1  # still this process's statistics


def test_concurrent_half_open_acquires_admit_exactly_the_permitted_calls(
    make: Factory, clock: ManualClock
) -> None:
    instances = [make(half_open_max_calls=3, probe_lease=60) for _ in range(4)]
    failing(instances[0], 4)
    clock.advance(30)
    threads_per_instance = 6
    barrier = threading.Barrier(len(instances) * threads_per_instance)
    release = threading.Event()
    entered: list[int] = []
    rejected: list[str] = []
    lock = threading.Lock()

    def probe() -> None:
        with lock:
            entered.append(1)
        assert release.wait(30)

    def racer(breaker: SharedCircuitBreaker) -> None:
        barrier.wait(30)
        try:
            breaker.call(probe)
        except CircuitOpenError as error:
            with lock:
                rejected.append(error.state)

    threads = [
        threading.Thread(target=racer, args=(b,))
        for b in instances
        for _ in range(threads_per_instance)
    ]
    for t in threads:
        t.start()
    # Rejections return at once; admitted probes wait: poll until every racer decided.
    deadline = threading.Event()
    for _ in range(3000):
        with lock:
            decided = len(entered) + len(rejected)
        if decided == len(threads):
            break
        deadline.wait(0.01)
    assert len(entered) == 3
    assert rejected == ["HALF_OPEN"] * (len(threads) - 3)
    assert instances[1].stats().in_flight == 3
    release.set()
    for t in threads:
        t.join(30)
    assert instances[2].state == "CLOSED"  # success_threshold defaults to the probes' count


def test_snapshot_is_typed_frozen_and_reads_legacy_keys(make: Factory) -> None:
    a = make()
    failing(a)
    ok(a, 2)
    snap = a.stats()
    assert isinstance(snap, SharedBreakerSnapshot)
    with pytest.raises(dataclasses.FrozenInstanceError):
        snap.calls = 0  # type: ignore[misc]
    assert (snap.calls, snap.successes, snap.failures, snap.rejections) == (3, 2, 1, 0)
    assert snap["successful_calls"] == 2
    assert snap["failed_calls"] == 1
    assert snap["rejected_calls"] == 0
    assert snap["failure_count"] == 1
    assert 0.0 <= snap.failure_rate <= 1.0
    assert snap.failure_rate == pytest.approx(1 / 3)
    assert (snap.kind, snap.window_type, snap.clock) == ("shared_circuit_breaker", "count", "local")
    assert SharedBreakerSnapshot.measure("failure_rate") == "ratio"
    assert SharedBreakerSnapshot.measure("redis_errors") == "counter"


async def test_async_driver_records_into_the_shared_window(make: Factory) -> None:
    a, b = make(), make()

    async def afail() -> None:
        raise ConnectionError

    async def aok() -> str:
        return "ok"

    assert await a.execute(aok) == "ok"
    for _ in range(3):
        with pytest.raises(ConnectionError):
            await b.execute(afail)
    with pytest.raises(CircuitOpenError):
        await a.execute(aok)
    assert a.stats().rejections == 1


def test_keys_expire_after_key_ttl(make: Factory, redis_url: str, redis_namespace: str) -> None:
    import redis

    a = make(key_ttl=timedelta(hours=2), window_type="count")
    failing(a)
    client = redis.Redis.from_url(redis_url)
    try:
        ttl = client.pttl(f"{redis_namespace}:search:window")
        assert 0 < ttl <= 2 * 3600 * 1000
    finally:
        client.close()


def test_redis_server_time_is_the_default_clock(redis_url: str, redis_namespace: str) -> None:
    a = SharedCircuitBreaker(
        "server-time",
        redis_url,
        key_prefix=redis_namespace,
        minimum_calls=2,
        window_size=10,
        reset_timeout=600,
        refresh_interval=0.0,
    )
    try:
        failing(a, 2)
        snap = a.stats()
        assert (snap.state, snap.clock) == ("OPEN", "redis")
        assert snap.time_until_half_open is not None
        assert 0 < snap.time_until_half_open <= 600
    finally:
        a.close()


def test_a_long_idle_time_window_with_many_buckets_rolls_in_one_decision(
    make: Factory, clock: ManualClock
) -> None:
    a = make(window_type="time", window_size=3600, window_buckets=3600, minimum_calls=10)
    failing(a)
    clock.advance(1)
    failing(a)
    clock.advance(3599.5)  # 3599 buckets roll at once: only the second failure is left
    ok(a)
    snap = a.stats()
    assert (snap.window_calls, snap.window_failures, snap.redis_errors) == (2, 1, 0)
