"""SharedCircuitBreaker in one process: several instances stand in for processes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from _redis import RedisServer
from rebellion.errors import CircuitOpenError, ConfigError
from rebellion.policies.circuit_breaker import CircuitStateChanged
from rebellion.policies.circuit_breaker.shared import (
    SharedCircuitBreaker,
    SharedStateRestored,
    SharedStateUnavailable,
)
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
            "failure_threshold": 3,
            "reset_timeout": 10,
            "refresh_interval": 0.0,
            "key_prefix": redis_namespace,
            "clock": clock,
        }
        breaker = SharedCircuitBreaker("payments", redis_url, **{**defaults, **settings})
        made.append(breaker)
        return breaker

    yield factory
    for breaker in made:
        breaker.close()


def fail() -> None:
    raise ConnectionError("down")


def trip(breaker: SharedCircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(ConnectionError):
            breaker.call(fail)


def test_failures_in_one_instance_open_the_breaker_for_another(make: Factory) -> None:
    a, b = make(), make()
    assert b.call(lambda: "ok") == "ok"
    trip(a, 3)
    assert a.state == "OPEN"
    with pytest.raises(CircuitOpenError) as caught:
        b.call(lambda: "never")
    assert caught.value.name == "payments"
    assert caught.value.remaining == pytest.approx(10.0)


def test_a_joining_instance_keeps_the_shared_count(make: Factory) -> None:
    a = make()
    trip(a, 2)
    b = make()  # joins: must not reset the two failures
    assert b.stats()["failure_count"] == 2
    trip(b, 1)
    assert a.state == "OPEN"


def test_a_success_resets_the_shared_consecutive_count(make: Factory) -> None:
    a, b = make(), make()
    trip(a, 2)
    assert b.call(lambda: 1) == 1  # b has not seen the failures yet: no reset sent
    assert a.call(lambda: 1) == 1  # a has: it resets the shared count
    trip(b, 2)
    assert a.state == "CLOSED"


def test_exactly_half_open_max_calls_probes_across_instances(
    make: Factory, clock: ManualClock
) -> None:
    instances = [make(half_open_max_calls=2, probe_lease=5) for _ in range(4)]
    trip(instances[0], 3)
    clock.advance(10)
    admitted: list[SharedCircuitBreaker] = []
    held = []
    for breaker in instances * 3:
        try:
            held.append(breaker._admit())
            admitted.append(breaker)
        except CircuitOpenError as error:
            assert error.state == "HALF_OPEN"
    assert len(admitted) == 2
    assert all(permit is not None and permit[1] for permit in held)
    # The probers die: their leases expire and two new probes may run.
    clock.advance(5.01)
    again = sum(1 for b in instances if _tries(b))
    assert again == 2


def _tries(breaker: SharedCircuitBreaker) -> bool:
    try:
        breaker._admit()
    except CircuitOpenError:
        return False
    return True


def test_probe_success_closes_and_probe_failure_reopens_longer(
    make: Factory, clock: ManualClock
) -> None:
    recorder = RecordingListener()
    a = make(exponential_backoff_factor=2, listeners=[recorder])
    b = make(exponential_backoff_factor=2)
    trip(a, 3)
    clock.advance(10)
    trip(b, 1)  # the probe fails: open again for 10 * 2
    assert a.state == "OPEN"
    clock.advance(19)
    with pytest.raises(CircuitOpenError):
        a.call(lambda: 1)
    clock.advance(1)
    assert b.call(lambda: "probe") == "probe"
    assert a.state == "CLOSED"
    states = [(e.old_state, e.new_state) for e in recorder.of_type(CircuitStateChanged)]
    assert states[0] == ("CLOSED", "OPEN")
    assert states[-1][1] == "CLOSED"


def test_ignored_error_releases_the_probe_lease(make: Factory, clock: ManualClock) -> None:
    a = make(ignore_on=KeyError)
    trip(a, 3)
    clock.advance(10)

    def lookup() -> None:
        raise KeyError("x")

    with pytest.raises(KeyError):
        a.call(lookup)
    assert a.call(lambda: "second probe admitted") == "second probe admitted"
    assert a.state == "CLOSED"


async def test_async_driver_shares_state(make: Factory) -> None:
    a, b = make(), make()

    async def afail() -> None:
        raise ConnectionError

    for _ in range(3):
        with pytest.raises(ConnectionError):
            await a.execute(afail)
    with pytest.raises(CircuitOpenError):
        await b.execute(lambda: 1)
    b.reset()

    @b
    async def ok() -> int:
        return 5

    assert await ok() == 5
    stats = b.stats()
    assert stats["state"] == "CLOSED"
    assert stats["shared"] is True
    assert stats["rejected_calls"] == 1


def test_cached_closed_state_is_trusted_for_the_refresh_interval(
    make: Factory, clock: ManualClock
) -> None:
    a, b = make(), make(refresh_interval=0.5)
    assert b.call(lambda: 1) == 1  # b caches CLOSED
    trip(a, 3)
    assert b.call(lambda: 2) == 2  # within the staleness bound
    clock.advance(0.5)
    with pytest.raises(CircuitOpenError):
        b.call(lambda: 3)


BAD: list[tuple[str, Any]] = [
    ("failure_threshold", 0),
    ("reset_timeout", 0),
    ("exponential_backoff_factor", 0.5),
    ("max_reset_timeout", -1),
    ("half_open_max_calls", 0),
    ("success_threshold", 0),
    ("probe_lease", 0),
    ("refresh_interval", -1),
    ("resync_interval", 0),
    ("redis_timeout", 0),
    ("key_prefix", ""),
    ("failure_on", "ValueError"),
    ("ignore_on", [1]),
    ("clock", object()),
    ("listeners", [3]),
]


@pytest.mark.parametrize(("parameter", "value"), BAD)
def test_bad_parameter_is_rejected_by_name(parameter: str, value: Any) -> None:
    with pytest.raises(ConfigError) as caught:
        SharedCircuitBreaker("x", "redis://127.0.0.1:6379/13", **{parameter: value})
    assert parameter in str(caught.value)


@pytest.mark.parametrize(("parameter", "value"), [("name", ""), ("redis_url", "http://x")])
def test_bad_name_or_url_is_rejected_by_name(parameter: str, value: str) -> None:
    settings = {"name": "x", "redis_url": "redis://127.0.0.1:6379/13", parameter: value}
    with pytest.raises(ConfigError, match=parameter):
        SharedCircuitBreaker(**settings)


def test_redis_killed_falls_back_locally_then_resyncs(
    redis_server: RedisServer, clock: ManualClock
) -> None:
    recorder = RecordingListener()

    def make_one(**extra: Any) -> SharedCircuitBreaker:
        return SharedCircuitBreaker(
            "orders",
            redis_server.url,
            failure_threshold=2,
            reset_timeout=30,
            refresh_interval=0.0,
            resync_interval=1.0,
            redis_timeout=0.5,
            clock=clock,
            **extra,
        )

    a, other = make_one(listeners=[recorder]), make_one()
    assert a.call(lambda: "shared") == "shared"
    redis_server.stop()
    # The breaker itself never raises: the call runs on the local fallback.
    assert a.call(lambda: "local") == "local"
    assert a.degraded
    assert a.stats()["shared"] is False
    assert len(recorder.of_type(SharedStateUnavailable)) == 1
    trip(a, 2)  # the local breaker trips during the outage
    with pytest.raises(CircuitOpenError):
        a.call(lambda: 1)
    redis_server.start()
    clock.advance(1.0)
    with pytest.raises(CircuitOpenError):
        a.call(lambda: 1)  # re-synced: the outage trip was pushed to Redis
    assert not a.degraded
    (restored,) = recorder.of_type(SharedStateRestored)
    assert restored.state == "OPEN"
    with pytest.raises(CircuitOpenError):
        other.call(lambda: 1)  # and every process sees it
    a.close()
    other.close()
