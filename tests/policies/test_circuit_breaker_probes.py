"""Half-open probes are bounded: a hung probe cannot wedge the breaker."""

from __future__ import annotations

import threading

import pytest

from rebellion import CircuitOpenError, ConfigError
from rebellion.policies.circuit_breaker import CircuitBreaker, CircuitState
from rebellion.testing import ManualClock


def fail() -> None:
    raise ConnectionError("down")


def opened(clock: ManualClock, **settings: object) -> CircuitBreaker:
    cb = CircuitBreaker(
        name="probes", failure_threshold=1, reset_timeout=10, clock=clock, **settings
    )
    with pytest.raises(ConnectionError):
        cb.call(fail)
    assert cb.state is CircuitState.OPEN
    return cb


def test_a_hung_probe_expires_and_the_breaker_reopens_with_backoff() -> None:
    clock = ManualClock()
    cb = opened(clock, probe_timeout=5, exponential_backoff_factor=2)
    clock.advance(10)
    hung = cb.__enter__()  # a probe that never reports (its thread hangs)
    clock.advance(1)
    with pytest.raises(CircuitOpenError) as caught:
        cb.call(lambda: "second probe")
    assert caught.value.state == "HALF_OPEN"
    assert caught.value.remaining == pytest.approx(4.0)  # not "for another 0.000s"
    clock.advance(4)
    assert cb.state is CircuitState.OPEN
    assert cb.stats()["time_until_half_open"] == pytest.approx(20.0)  # 10 * 2**1
    assert "silent" in cb.get_health_status()["transitions_history"][-1]["reason"]
    clock.advance(20)
    assert cb.call(lambda: "fresh probe") == "fresh probe"
    assert cb.state is CircuitState.CLOSED
    # The expired probe finally answers: counted, but it moves nothing.
    hung.__exit__(None, None, None)
    assert cb.state is CircuitState.CLOSED
    assert cb.stats()["successful_calls"] == 2


def test_a_late_failure_of_an_expired_probe_does_not_reopen() -> None:
    clock = ManualClock()
    cb = opened(clock, probe_timeout=5, half_open_max_calls=1)
    clock.advance(10)
    cb.__enter__()
    clock.advance(5)
    assert cb.state is CircuitState.OPEN
    clock.advance(cb.stats()["time_until_half_open"])
    fresh = cb._core.acquire()  # the new epoch's probe holds the only permit
    cb.__exit__(ConnectionError, ConnectionError("late"), None)  # the old probe fails late
    assert cb.state is CircuitState.HALF_OPEN
    assert cb._core.in_flight == 1
    cb._core.on_success(fresh, None)
    assert cb.state is CircuitState.CLOSED


def test_a_silent_half_open_state_without_traffic_is_not_expired() -> None:
    clock = ManualClock()
    cb = opened(clock, probe_timeout=5)
    clock.advance(100)  # half-open, nobody called for a long time
    assert cb.state is CircuitState.HALF_OPEN
    cb.__enter__()
    assert cb.state is CircuitState.HALF_OPEN  # a fresh probe gets its full time
    clock.advance(4.9)
    assert cb.state is CircuitState.HALF_OPEN
    cb.__exit__(None, None, None)
    assert cb.state is CircuitState.CLOSED


def test_never_more_probe_permits_than_allowed_under_threads() -> None:
    clock = ManualClock()
    cb = opened(clock, probe_timeout=5, half_open_max_calls=3)
    clock.advance(10)
    granted: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def probe() -> None:
        barrier.wait()
        for _ in range(200):
            try:
                permit = cb._core.acquire()
            except CircuitOpenError:
                continue
            with lock:
                granted.append(permit)

    threads = [threading.Thread(target=probe) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 3
    assert cb._core.in_flight == 3


def test_probe_timeout_is_validated() -> None:
    with pytest.raises(ConfigError, match="probe_timeout"):
        CircuitBreaker(name="bad", probe_timeout=0)
    assert CircuitBreaker(name="default", reset_timeout=7).config.probe_timeout == 7


def test_lock_free_failure_counting_is_exact_under_threads() -> None:
    clock = ManualClock()
    cb = CircuitBreaker(name="threads", failure_threshold=1000, clock=clock)
    guarded = cb(fail)
    barrier = threading.Barrier(8)

    def hammer(times: int) -> None:
        barrier.wait()
        for _ in range(times):
            try:
                guarded()
            except ConnectionError:
                pass

    def run(times: int) -> None:
        threads = [threading.Thread(target=hammer, args=(times,)) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    run(100)
    assert (cb.state, cb.failure_count) == (CircuitState.CLOSED, 800)
    run(25)
    assert cb.state is CircuitState.OPEN
    stats = cb.stats()
    assert (stats["failed_calls"], stats["transitions"]) == (1000, 1)


def test_a_success_after_failures_resets_the_run_on_every_driver() -> None:
    cb = CircuitBreaker(name="reset", failure_threshold=3, clock=ManualClock())
    guarded_ok, guarded_fail = cb(lambda: "ok"), cb(fail)
    for succeed in (lambda: cb.call(lambda: "ok"), guarded_ok):
        for _ in range(2):
            with pytest.raises(ConnectionError):
                guarded_fail()
        assert cb.failure_count == 2
        assert succeed() == "ok"
        assert cb.failure_count == 0
    assert cb.state is CircuitState.CLOSED
