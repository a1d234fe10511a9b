"""Circuit breaker behaviour, one body per calling convention (contract tests)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import pytest

from _drivers import Driver
from rebellion import CircuitOpenError, CircuitOpenException, ConfigError, registry
from rebellion.policies.circuit_breaker import (
    CallRejected,
    CircuitBreaker,
    CircuitFailureRecorded,
    CircuitState,
    CircuitStateChanged,
    get_circuit_breaker,
)
from rebellion.policies.classify import FailureClassifier, FailureKind
from rebellion.testing import ManualClock, RecordingListener


def fail(error: BaseException | None = None) -> Any:
    raise error or ConnectionError("downstream down")


def ok(value: Any = "ok") -> Any:
    return value


def trip(driver: Driver, cb: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(ConnectionError):
            driver.run(cb, fail)


def test_opens_after_consecutive_failures_and_rejects(driver: Driver) -> None:
    clock = ManualClock()
    cb = CircuitBreaker(name="openai", failure_threshold=3, reset_timeout=60, clock=clock)
    trip(driver, cb, 2)
    assert cb.state == CircuitBreaker.CLOSED
    assert cb.failure_count == 2
    trip(driver, cb, 1)
    assert cb.state == CircuitBreaker.OPEN
    clock.advance(15)
    with pytest.raises(CircuitOpenError) as caught:
        driver.run(cb, ok)
    assert caught.value.name == "openai"
    assert caught.value.remaining == pytest.approx(45)
    assert caught.value.retry_after == pytest.approx(45)
    assert "openai" in str(caught.value)
    assert "OPEN" in str(caught.value)
    assert CircuitOpenException is CircuitOpenError


def test_success_resets_the_consecutive_count(driver: Driver) -> None:
    cb = CircuitBreaker(name="b", failure_threshold=3, clock=ManualClock())
    trip(driver, cb, 2)
    assert driver.run(cb, ok, 5) == 5
    assert cb.failure_count == 0
    trip(driver, cb, 2)
    assert cb.state == CircuitState.CLOSED


def test_half_open_after_timeout_then_closes_on_success(driver: Driver) -> None:
    clock = ManualClock()
    cb = CircuitBreaker(name="b", failure_threshold=1, reset_timeout=10, clock=clock)
    trip(driver, cb, 1)
    clock.advance(9.999)
    assert cb.state == CircuitState.OPEN
    clock.advance(0.001)
    assert cb.state == CircuitState.HALF_OPEN
    assert driver.run(cb, ok) == "ok"
    assert cb.state == CircuitState.CLOSED


def test_failed_probe_reopens_with_exponential_backoff_and_cap(driver: Driver) -> None:
    clock = ManualClock()
    cb = CircuitBreaker(
        name="b",
        failure_threshold=1,
        reset_timeout=10,
        exponential_backoff_factor=2,
        max_reset_timeout=35,
        clock=clock,
    )
    trip(driver, cb, 1)
    waits = []
    for _ in range(4):
        waits.append(cb.stats()["time_until_half_open"])
        clock.advance(waits[-1])
        trip(driver, cb, 1)  # the probe fails
    assert waits == [10, 20, 35, 35]
    clock.advance(35)
    driver.run(cb, ok)
    assert cb.state == CircuitState.CLOSED
    trip(driver, cb, 1)
    assert cb.stats()["time_until_half_open"] == 10  # backoff level reset on close


def test_seed_breaker_registration_example() -> None:
    breaker = get_circuit_breaker(
        name="metrics_websocket", max_failures=3, reset_timeout=30, exponential_backoff_factor=1.5
    )
    assert get_circuit_breaker("metrics_websocket") is breaker
    assert breaker.failure_threshold == 3
    with pytest.raises(ConfigError, match="reset_timeout must be 30"):
        get_circuit_breaker("metrics_websocket", reset_timeout=60)
    listed = {(e["kind"], e["name"]) for e in registry.snapshot()}
    assert ("circuit_breaker", "metrics_websocket") in listed


async def test_seed_async_usage() -> None:
    breaker = get_circuit_breaker(name="metrics_websocket", max_failures=3, reset_timeout=30)

    async def my_function(a: int, *, b: int) -> int:
        return a + b

    def sync_function(a: int) -> int:
        return a * 2

    assert await breaker.execute(my_function, 1, b=2) == 3
    assert await breaker.execute(sync_function, 4) == 8
    assert breaker.call(sync_function, 5) == 10
    assert await breaker.call(my_function, 1, b=1) == 2

    cb = CircuitBreaker(name="openai", failure_threshold=5, reset_timeout=60)

    @cb
    async def call_api(prompt: str, model: str) -> str:
        return f"{model}:{prompt}"

    assert await call_api("hi", "gpt") == "gpt:hi"
    assert call_api.__name__ == "call_api"
    assert cb.state == CircuitBreaker.CLOSED
    assert cb.failure_count == 0


def test_half_open_admits_limited_probes_and_needs_success_threshold() -> None:
    clock = ManualClock()
    cb = CircuitBreaker(
        name="b",
        failure_threshold=1,
        reset_timeout=5,
        half_open_max_calls=2,
        success_threshold=3,
        clock=clock,
    )
    with pytest.raises(ConnectionError):
        cb.call(fail)
    clock.advance(5)
    cb.__enter__()
    cb.__enter__()
    with pytest.raises(CircuitOpenError) as caught:
        cb.call(ok)
    assert caught.value.state == "HALF_OPEN"
    cb.__exit__(None, None, None)
    cb.__exit__(None, None, None)
    assert cb.state == CircuitState.HALF_OPEN
    cb.call(ok)
    assert cb.state == CircuitState.CLOSED


async def test_500_tasks_against_half_open_run_exactly_the_probe_limit() -> None:
    clock = ManualClock()
    cb = CircuitBreaker(
        name="b", failure_threshold=1, reset_timeout=1, half_open_max_calls=3, clock=clock
    )
    with pytest.raises(ConnectionError):
        cb.call(fail)
    clock.advance(1)
    gate = asyncio.Event()
    started = 0

    async def probe() -> str:
        nonlocal started
        started += 1
        await gate.wait()
        return "ok"

    tasks = [asyncio.create_task(cb.execute(probe)) for _ in range(500)]
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert started == 3
    gate.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert sum(r == "ok" for r in results) == 3
    assert sum(isinstance(r, CircuitOpenError) for r in results) == 497
    assert cb.state == CircuitState.CLOSED
    assert cb.stats()["rejected_calls"] == 497


async def test_cancelled_probe_frees_its_half_open_slot() -> None:
    clock = ManualClock()
    cb = CircuitBreaker(name="b", failure_threshold=1, reset_timeout=1, clock=clock)
    with pytest.raises(ConnectionError):
        cb.call(fail)
    clock.advance(1)
    task = asyncio.create_task(cb.execute(asyncio.sleep, 3600))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await cb.execute(ok) == "ok"
    assert cb.state == CircuitState.CLOSED
    assert cb.stats()["ignored_calls"] == 1


def test_stale_outcome_from_before_opening_does_not_move_new_state() -> None:
    clock = ManualClock()
    cb = CircuitBreaker(name="b", failure_threshold=1, reset_timeout=5, clock=clock)

    def slow_then_fail() -> None:
        # While this call runs, another caller opens the breaker and time passes.
        with pytest.raises(ConnectionError):
            cb.call(fail)
        clock.advance(5)
        assert cb.state == CircuitState.HALF_OPEN
        raise ConnectionError("late failure")

    with pytest.raises(ConnectionError):
        cb.call(slow_then_fail)
    assert cb.state == CircuitState.HALF_OPEN  # the late failure was not a probe
    assert cb.stats()["failed_calls"] == 2


def test_count_window_opens_on_failure_rate_after_minimum_calls(driver: Driver) -> None:
    cb = CircuitBreaker(
        name="b",
        window_type="count",
        window_size=10,
        minimum_calls=5,
        failure_rate_threshold=0.5,
        clock=ManualClock(),
    )
    trip(driver, cb, 4)
    assert cb.state == CircuitState.CLOSED  # 4 calls < minimum
    driver.run(cb, ok)  # the fifth call reaches minimum_calls with 80% failures
    assert cb.state == CircuitState.OPEN


def test_count_window_rate_below_threshold_stays_closed() -> None:
    cb = CircuitBreaker(
        name="b", window_type="count", window_size=10, minimum_calls=10, failure_rate_threshold=0.5
    )
    for i in range(100):
        if i % 3 == 0:
            with pytest.raises(ConnectionError):
                cb.call(fail)
        else:
            cb.call(ok)
    assert cb.state == CircuitState.CLOSED
    assert cb.stats()["window_calls"] == 10
    assert cb.stats()["failure_rate"] < 0.5


def test_time_window_forgets_old_failures() -> None:
    clock = ManualClock()
    cb = CircuitBreaker(
        name="b",
        window_type="time",
        window_size=10,
        minimum_calls=4,
        failure_rate_threshold=0.5,
        clock=clock,
    )
    for _ in range(3):
        with pytest.raises(ConnectionError):
            cb.call(fail)
    clock.advance(11)  # those failures leave the window
    assert cb.failure_count == 0
    for _ in range(3):
        cb.call(ok)
    with pytest.raises(ConnectionError):
        cb.call(fail)
    assert cb.state == CircuitState.CLOSED  # 1 failure in 4 calls
    with pytest.raises(ConnectionError):
        cb.call(fail)
    assert cb.state == CircuitState.CLOSED  # 2 in 5: 40%
    with pytest.raises(ConnectionError):
        cb.call(fail)
    assert cb.state == CircuitState.OPEN  # 3 in 6: 50%


def test_slow_calls_open_the_breaker_by_slow_call_rate(driver: Driver) -> None:
    clock = ManualClock()
    cb = CircuitBreaker(
        name="b",
        window_type="count",
        window_size=4,
        minimum_calls=4,
        slow_call_duration=1.0,
        slow_call_rate_threshold=0.5,
        clock=clock,
    )

    def slow() -> str:
        clock.advance(2.0)
        return "late"

    driver.run(cb, ok)
    driver.run(cb, ok)
    driver.run(cb, slow)
    assert cb.state == CircuitState.CLOSED
    driver.run(cb, slow)
    assert cb.state == CircuitState.OPEN
    assert cb.stats()["slow_calls"] == 2
    assert cb.stats()["successful_calls"] == 4


def test_exception_classification(driver: Driver) -> None:
    cb = CircuitBreaker(
        name="b",
        failure_threshold=1,
        failure_on=[ConnectionError],
        ignore_on=[KeyError],
        clock=ManualClock(),
    )
    with pytest.raises(ValueError):
        driver.run(cb, fail, ValueError("not counted"))
    with pytest.raises(KeyError):
        driver.run(cb, fail, KeyError("ignored"))
    assert cb.state == CircuitState.CLOSED
    stats = cb.stats()
    assert (stats["successful_calls"], stats["ignored_calls"], stats["failed_calls"]) == (1, 1, 0)
    trip(driver, cb, 1)
    assert cb.state == CircuitState.OPEN


def test_failure_predicates_on_exceptions_and_results(driver: Driver) -> None:
    cb = CircuitBreaker(
        name="b",
        failure_threshold=2,
        is_failure=lambda e: "fatal" in str(e),
        failure_if_result=lambda r: r == "bad",
        clock=ManualClock(),
    )
    with pytest.raises(RuntimeError):
        driver.run(cb, fail, RuntimeError("harmless"))
    assert cb.failure_count == 0
    with pytest.raises(RuntimeError):
        driver.run(cb, fail, RuntimeError("fatal"))
    assert driver.run(cb, ok, "bad") == "bad"
    assert cb.state == CircuitState.OPEN


def test_classifier_decides_what_counts(driver: Driver) -> None:
    class Http(Exception):
        def __init__(self, status_code: int) -> None:
            self.status_code = status_code

    classifier = FailureClassifier().with_result_rule(
        lambda r: FailureKind.SERVER_ERROR if r == 503 else None
    )
    cb = CircuitBreaker(name="b", failure_threshold=2, classifier=classifier, clock=ManualClock())
    with pytest.raises(Http):
        driver.run(cb, fail, Http(404))  # the client's fault: downstream is fine
    with pytest.raises(Http):
        driver.run(cb, fail, Http(500))
    assert cb.failure_count == 1
    driver.run(cb, ok, 503)
    assert cb.state == CircuitState.OPEN


def test_operator_controls(driver: Driver) -> None:
    clock = ManualClock()
    recorder = RecordingListener()
    cb = CircuitBreaker(name="b", failure_threshold=1, clock=clock, listeners=[recorder])
    cb.force_open("Manual maintenance")
    assert cb.state == CircuitState.FORCED_OPEN
    clock.advance(10_000)
    with pytest.raises(CircuitOpenError) as caught:
        driver.run(cb, ok)
    assert caught.value.remaining == float("inf")
    assert caught.value.retry_after is None
    cb.isolate("Security incident")
    assert cb.state == CircuitState.ISOLATED
    cb.force_close("Issue resolved")
    assert cb.state == CircuitState.CLOSED
    cb.disable()
    trip(driver, cb, 3)
    assert cb.state == CircuitState.DISABLED
    cb.reset()
    assert cb.state == CircuitState.CLOSED
    reasons = [t["reason"] for t in cb.get_health_status()["transitions_history"]]
    assert reasons[:3] == ["Manual maintenance", "Security incident", "Issue resolved"]
    changes = recorder.of_type(CircuitStateChanged)
    assert [(c.old_state, c.new_state) for c in changes][:3] == [
        ("CLOSED", "FORCED_OPEN"),
        ("FORCED_OPEN", "ISOLATED"),
        ("ISOLATED", "CLOSED"),
    ]


def test_metrics_only_lets_calls_through_and_reports_shadow_transitions(driver: Driver) -> None:
    clock = ManualClock()
    recorder = RecordingListener()
    cb = CircuitBreaker(name="b", failure_threshold=2, clock=clock, listeners=[recorder])
    cb.metrics_only()
    trip(driver, cb, 2)
    assert cb.state == CircuitState.METRICS_ONLY
    assert cb.stats()["shadow_state"] == "OPEN"
    assert driver.run(cb, ok) == "ok"  # would have been rejected
    shadow = [e for e in recorder.of_type(CircuitStateChanged) if e.shadow]
    assert [(e.old_state, e.new_state) for e in shadow] == [("CLOSED", "OPEN")]
    assert recorder.of_type(CallRejected)[-1].shadow
    assert cb.stats()["rejected_calls"] == 0
    assert cb.stats()["shadow_rejected_calls"] == 1


def test_degraded_throttles_a_growing_fraction_and_recovers() -> None:
    clock = ManualClock()
    cb = CircuitBreaker(
        name="b",
        window_type="count",
        window_size=100,
        minimum_calls=20,
        failure_rate_threshold=0.9,
        throttle_failure_rate=0.3,
        throttle_k=1.5,
        seed=7,
        clock=clock,
    )
    for i in range(40):
        with contextlib.suppress(CircuitOpenError):
            if i % 5 < 2:  # 40% failures
                with pytest.raises(ConnectionError):
                    cb.call(fail)
            else:
                cb.call(ok)
    assert cb.state == CircuitState.DEGRADED
    assert 0 < cb.stats()["rejected_calls"] < 40
    rejected = 0
    for _ in range(200):
        try:
            cb.call(ok)
        except CircuitOpenError as error:
            assert error.state == "DEGRADED"
            rejected += 1
    assert 0 < rejected < 200
    assert cb.state == CircuitState.CLOSED  # the successes pulled the rate under 30%


def test_events_and_a_broken_listener_never_break_the_call(
    driver: Driver, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = RecordingListener()

    def broken(event: object) -> None:
        raise RuntimeError("listener bug")

    clock = ManualClock()
    cb = CircuitBreaker(name="b", failure_threshold=1, clock=clock, listeners=[broken, recorder])
    with caplog.at_level(logging.ERROR, logger="rebellion.events"):
        trip(driver, cb, 1)
        with pytest.raises(CircuitOpenError):
            driver.run(cb, ok)
    assert recorder.names() == ["CircuitFailureRecorded", "CircuitStateChanged", "CallRejected"]
    failure = recorder.of_type(CircuitFailureRecorded)[0]
    assert failure.error == "ConnectionError"
    assert failure.source == "b"
    assert sum("listener" in r.message for r in caplog.records) <= 1


def test_guarded_block_context_manager() -> None:
    cb = CircuitBreaker(name="b", failure_threshold=1, clock=ManualClock())
    with cb:
        pass
    with pytest.raises(ConnectionError), cb:
        raise ConnectionError
    assert cb.state == CircuitState.OPEN
    with pytest.raises(CircuitOpenError), cb:
        pass


async def test_async_guarded_block() -> None:
    cb = CircuitBreaker(name="b", failure_threshold=1, clock=ManualClock())
    async with cb:
        await asyncio.sleep(0)
    assert cb.stats()["successful_calls"] == 1


def test_health_status_reports_counts_rates_and_audit_trail() -> None:
    clock = ManualClock()
    cb = CircuitBreaker(name="tws_api", failure_threshold=1, reset_timeout=30, clock=clock)
    with pytest.raises(ConnectionError):
        cb.call(fail)
    clock.advance(10)
    health = cb.get_health_status()
    assert health["state"] == "OPEN"
    assert not health["healthy"]
    assert health["time_until_half_open"] == pytest.approx(20)
    assert health["failures"] == 1
    assert health["last_failure_time"] == pytest.approx(clock.wall() - 10)
    assert health["transitions_history"][-1]["to"] == "OPEN"
    assert health["config"]["reset_timeout"] == 30


def test_reset_timeout_jitter_stays_within_bounds() -> None:
    clock = ManualClock()
    cb = CircuitBreaker(
        name="b",
        failure_threshold=1,
        reset_timeout=100,
        reset_timeout_jitter=0.2,
        seed=1,
        clock=clock,
    )
    waits = set()
    for _ in range(20):
        with pytest.raises(ConnectionError):
            cb.call(fail)
        wait = cb.stats()["time_until_half_open"]
        waits.add(round(wait, 6))
        assert 80 <= wait <= 120
        cb.reset()
    assert len(waits) > 10


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"failure_threshold": 2.5}, "failure_threshold"),
        ({"max_failures": -1}, "max_failures"),
        ({"failure_threshold": 3, "max_failures": 4}, "max_failures"),
        ({"reset_timeout": 0}, "reset_timeout"),
        ({"reset_timeout": float("nan")}, "reset_timeout"),
        ({"reset_timeout": "60"}, "reset_timeout"),
        ({"reset_timeout": 60, "max_reset_timeout": 30}, "max_reset_timeout"),
        ({"exponential_backoff_factor": 0.5}, "exponential_backoff_factor"),
        ({"reset_timeout_jitter": 1.5}, "reset_timeout_jitter"),
        ({"window_type": "sliding"}, "window_type"),
        ({"window_type": "count", "window_size": 0}, "window_size"),
        ({"window_type": "count", "window_size": 1.5}, "window_size"),
        ({"window_type": "time", "window_size": -1}, "window_size"),
        ({"window_buckets": 0}, "window_buckets"),
        ({"minimum_calls": 0}, "minimum_calls"),
        ({"failure_rate_threshold": 0}, "failure_rate_threshold"),
        ({"failure_rate_threshold": 50}, "failure_rate_threshold"),  # a fraction, not percent
        ({"slow_call_duration": 0}, "slow_call_duration"),
        ({"slow_call_rate_threshold": 1.5}, "slow_call_rate_threshold"),
        ({"half_open_max_calls": 0}, "half_open_max_calls"),
        ({"success_threshold": 0}, "success_threshold"),
        ({"throttle_failure_rate": 0.2}, "throttle_failure_rate"),
        ({"window_type": "count", "throttle_failure_rate": 0.6}, "throttle_failure_rate"),
        ({"throttle_k": 0.5}, "throttle_k"),
        ({"failure_on": "ValueError"}, "failure_on"),
        ({"ignore_on": [ValueError, 3]}, "ignore_on"),
        ({"is_failure": 3}, "is_failure"),
        ({"failure_if_result": "bad"}, "failure_if_result"),
        ({"classifier": object()}, "classifier"),
        ({"history_size": 0}, "history_size"),
        ({"name": ""}, "name"),
        ({"name": 5}, "name"),
        ({"clock": object()}, "clock"),
        ({"listeners": [3]}, "listeners"),
    ],
)
def test_bad_input_names_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    kwargs.setdefault("name", "b")
    with pytest.raises(ConfigError) as caught:
        CircuitBreaker(**kwargs)
    assert caught.value.parameter == parameter
    assert str(caught.value).startswith(parameter)
    assert isinstance(caught.value, ValueError)


def test_environment_defaults_are_used_and_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REBELLION_CIRCUIT_BREAKER_FAILURE_THRESHOLD", "7")
    monkeypatch.setenv("REBELLION_CIRCUIT_BREAKER_RESET_TIMEOUT", "12.5")
    cb = CircuitBreaker(name="b")
    assert (cb.failure_threshold, cb.reset_timeout) == (7, 12.5)
    monkeypatch.setenv("REBELLION_CIRCUIT_BREAKER_FAILURE_THRESHOLD", "zero")
    with pytest.raises(ConfigError, match="REBELLION_CIRCUIT_BREAKER_FAILURE_THRESHOLD"):
        CircuitBreaker(name="b")
