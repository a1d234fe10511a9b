"""Pipeline: order, sync/async reuse, thread safety and anti-pattern warnings."""

from __future__ import annotations

import asyncio
import threading
import warnings
from typing import Any

import pytest

from _drivers import Driver
from rebellion import CircuitOpenError, ConfigError
from rebellion.policies.circuit_breaker import (
    CircuitBreaker,
    CircuitState,
    PredictiveCircuitBreaker,
)
from rebellion.policies.fallback import Fallback
from rebellion.policies.pipeline import Pipeline, PipelineWarning
from rebellion.policies.retry import Retry
from rebellion.policies.timeout import Timeout
from rebellion.testing import FlakyCallable, ManualClock


def recommended(clock: ManualClock, *, threshold: int = 3) -> tuple[Pipeline, CircuitBreaker]:
    breaker = CircuitBreaker(
        name="downstream", failure_threshold=threshold, reset_timeout=30, clock=clock
    )
    pipeline = Pipeline(
        Fallback(lambda *a, **k: "fallback"),
        Retry(max_attempts=2, initial_delay=0.5, jitter="none", clock=clock),
        breaker,
        Timeout(5.0, clock=clock),
    )
    return pipeline, breaker


def test_recommended_order_builds_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        recommended(ManualClock())


def test_success_passes_straight_through(driver: Driver) -> None:
    pipeline, breaker = recommended(ManualClock())
    assert driver.run(pipeline, lambda x, *, y: x + y, 1, y=2) == 3
    assert breaker.stats()["successful_calls"] == 1


def test_outermost_first_retry_counts_each_attempt_then_fallback(driver: Driver) -> None:
    clock = ManualClock()
    pipeline, breaker = recommended(clock, threshold=4)
    flaky = FlakyCallable([ConnectionError("1"), ConnectionError("2")], then="fresh")
    # Two attempts fail: the breaker (inside the retry) counts both, the fallback answers.
    assert driver.run(pipeline, flaky) == "fallback"
    assert breaker.stats()["failed_calls"] == 2
    assert clock.sleeps == [0.5]
    assert driver.run(pipeline, flaky) == "fresh"


def test_open_breaker_inside_pipeline_falls_back_without_calling(driver: Driver) -> None:
    clock = ManualClock()
    pipeline, breaker = recommended(clock, threshold=1)
    breaker.force_open("maintenance")
    calls = FlakyCallable([], then="never")
    assert driver.run(pipeline, calls) == "fallback"
    assert calls.calls == 0
    assert breaker.state == CircuitState.FORCED_OPEN


async def test_timeout_inside_pipeline_cancels_and_counts_as_failure() -> None:
    clock = ManualClock()
    pipeline, breaker = recommended(clock, threshold=2)
    cancelled = 0

    async def hangs() -> str:
        nonlocal cancelled
        try:
            await clock.sleep_async(60)
        except asyncio.CancelledError:
            cancelled += 1
            raise
        return "late"

    assert await pipeline.execute(hangs) == "fallback"
    assert cancelled == 2
    assert breaker.state == CircuitState.OPEN


def test_one_pipeline_serves_sync_and_async_callables() -> None:
    pipeline, _ = recommended(ManualClock())

    @pipeline
    def sync_add(a: int, b: int) -> int:
        return a + b

    @pipeline
    async def async_add(a: int, b: int) -> int:
        return a + b

    assert sync_add(1, 2) == 3
    assert asyncio.run(async_add(2, 3)) == 5
    assert sync_add.__name__ == "sync_add"
    assert async_add.__name__ == "async_add"


def test_pipeline_is_thread_safe_and_reusable() -> None:
    pipeline, breaker = recommended(ManualClock(), threshold=10**6)
    results: list[int] = []
    lock = threading.Lock()

    def work(n: int) -> int:
        return n * 2

    def worker() -> None:
        local = [pipeline.call(work, n) for n in range(2_000)]
        with lock:
            results.extend(local)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 16_000
    assert sum(results) == 8 * sum(2 * n for n in range(2_000))
    assert breaker.stats()["successful_calls"] == 16_000


async def test_many_tasks_share_one_pipeline() -> None:
    pipeline, breaker = recommended(ManualClock(), threshold=10**6)

    async def work(n: int) -> int:
        await asyncio.sleep(0)
        return n

    results = await asyncio.gather(*(pipeline.execute(work, n) for n in range(1_000)))
    assert results == list(range(1_000))
    assert breaker.stats()["successful_calls"] == 1_000


def test_nested_pipelines_compose() -> None:
    clock = ManualClock()
    inner = Pipeline(CircuitBreaker(name="inner", failure_threshold=1, clock=clock))
    outer = Pipeline(Fallback(lambda: "fb"), inner)
    with pytest.raises(ConnectionError):
        inner.call(lambda: (_ for _ in ()).throw(ConnectionError()))
    with pytest.raises(CircuitOpenError):
        inner.call(lambda: "x")
    assert outer.call(lambda: "x") == "fb"
    assert outer.stats()["policies"][1]["kind"] == "pipeline"


@pytest.mark.parametrize(
    ("build", "fragment"),
    [
        (
            lambda c: Pipeline(
                CircuitBreaker(name="b", clock=c), Retry(max_attempts=2, initial_delay=0, clock=c)
            ),
            "inside the circuit breaker",
        ),
        (
            lambda c: Pipeline(Retry(max_attempts=2, clock=c), Fallback(lambda: 1)),
            "fallback at position 1 is inside retry",
        ),
        (
            lambda c: Pipeline(
                PredictiveCircuitBreaker("p", clock=c),
                Retry(max_attempts=2, initial_delay=0, clock=c),
            ),
            "inside the circuit breaker",
        ),
        (
            lambda c: Pipeline(Retry(max_attempts=2, deadline=10, clock=c), Timeout(10, clock=c)),
            "limits each attempt, not the total",
        ),
    ],
)
def test_warns_about_anti_patterns(build: Any, fragment: str) -> None:
    with pytest.warns(PipelineWarning, match=fragment):
        build(ManualClock())


def test_warning_can_be_silenced_for_a_deliberate_design() -> None:
    clock = ManualClock()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Pipeline(
            CircuitBreaker(name="b", clock=clock),
            Retry(max_attempts=2, clock=clock),
            warn=False,
        )


@pytest.mark.parametrize(
    ("args", "kwargs", "parameter"),
    [
        ((), {}, "policies"),
        ((object(),), {}, "policies[0]"),
        ((Timeout(1.0),), {"name": ""}, "name"),
    ],
)
def test_bad_input(args: tuple[Any, ...], kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Pipeline(*args, **kwargs)
    assert caught.value.parameter == parameter


def test_same_policy_twice_is_refused() -> None:
    timeout = Timeout(1.0)
    with pytest.raises(ConfigError, match="distinct"):
        Pipeline(timeout, timeout)


@pytest.mark.e2e
async def test_timeout_in_pipeline_interrupts_a_blocking_sync_callee() -> None:
    import threading

    release = threading.Event()
    pipeline = Pipeline(Fallback(lambda *a: "fallback"), Timeout(0.05))
    try:
        # The callee blocks until released: the answer can only come from the timeout.
        assert await pipeline.execute(release.wait, 60) == "fallback"
        assert not release.is_set()
    finally:
        release.set()
