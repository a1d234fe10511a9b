"""A rejection by an inner policy fails fast through Retry and Pipeline, unchanged."""

from __future__ import annotations

import asyncio

import pytest

from rebellion import CircuitOpenError, RetryExhaustedError
from rebellion.errors import BulkheadFullError, RateLimitedError, RejectedError
from rebellion.policies.bulkhead import Bulkhead
from rebellion.policies.circuit_breaker import CircuitBreaker, CircuitState
from rebellion.policies.pipeline import Pipeline, PipelineWarning
from rebellion.policies.ratelimit import RateLimiter
from rebellion.policies.retry import Retry
from rebellion.testing import ManualClock


def fail() -> None:
    raise ConnectionError("down")


async def afail() -> None:
    raise ConnectionError("down")


def build(clock: ManualClock, **retry: object) -> tuple[Pipeline, CircuitBreaker]:
    breaker = CircuitBreaker("dep", failure_threshold=1, reset_timeout=10, clock=clock)
    policy = Retry(3, initial_delay=1.0, jitter="none", clock=clock, **retry)  # type: ignore[arg-type]
    return Pipeline(policy, breaker), breaker


def test_an_open_breaker_fails_fast_through_retry_without_sleeping() -> None:
    clock = ManualClock()
    pipeline, breaker = build(clock)
    breaker.force_open()
    with pytest.raises(CircuitOpenError):
        pipeline.call(lambda: "never runs")
    assert clock.sleeps == []


async def test_an_open_breaker_fails_fast_through_retry_async() -> None:
    clock = ManualClock()
    pipeline, breaker = build(clock)
    breaker.force_open()

    async def never() -> str:
        raise AssertionError("ran")

    with pytest.raises(CircuitOpenError):
        await pipeline.call(never)
    with pytest.raises(CircuitOpenError):
        await pipeline.execute(lambda: "never runs")
    assert clock.sleeps == []


def test_a_breaker_opening_between_attempts_gives_the_bare_rejection() -> None:
    clock = ManualClock()
    pipeline, breaker = build(clock)
    with pytest.raises(CircuitOpenError) as caught:
        pipeline.call(fail)  # attempt 1 fails and opens the breaker; attempt 2 is refused
    assert not isinstance(caught.value, RetryExhaustedError)
    assert caught.value.retry_after == pytest.approx(9.0)
    assert clock.sleeps == [1.0]  # one backoff, never a sleep until retry_after
    assert breaker.state is CircuitState.OPEN


async def test_a_breaker_opening_between_attempts_async() -> None:
    clock = ManualClock()
    pipeline, _ = build(clock)
    with pytest.raises(CircuitOpenError):
        await pipeline.call(afail)
    assert clock.sleeps == [1.0]


@pytest.mark.parametrize(
    "inner",
    [
        lambda clock: Bulkhead(max_concurrent=1, name="bh"),
        lambda clock: RateLimiter(1, burst=1, clock=clock),
    ],
)
def test_every_rejection_propagates_unchanged(inner: object) -> None:
    clock = ManualClock()
    policy = inner(clock)  # type: ignore[operator]
    pipeline = Pipeline(Retry(5, initial_delay=1.0, clock=clock), policy)
    if isinstance(policy, RateLimiter):
        assert policy.try_acquire()
        expected: type[RejectedError] = RateLimitedError
    else:
        expected = BulkheadFullError
        held = policy.__enter__()
    with pytest.raises(expected):
        pipeline.call(lambda: "x")
    assert clock.sleeps == []
    if not isinstance(policy, RateLimiter):
        held.__exit__(None, None, None)


def test_retry_rejected_opts_into_waiting_out_a_rejection() -> None:
    clock = ManualClock()
    pipeline, breaker = build(clock, retry_rejected=True)
    breaker.force_open()
    with pytest.raises(RetryExhaustedError) as caught:
        pipeline.call(lambda: "x")
    assert isinstance(caught.value.__cause__, CircuitOpenError)
    assert caught.value.attempts == 3


def test_retry_rejected_is_validated() -> None:
    with pytest.raises(ValueError, match="retry_rejected"):
        Retry(retry_rejected="yes")  # type: ignore[arg-type]


def test_the_pipeline_still_warns_about_retry_inside_a_breaker() -> None:
    with pytest.warns(PipelineWarning):
        Pipeline(CircuitBreaker("w"), Retry(2))


def test_many_tasks_fail_fast_at_once() -> None:
    clock = ManualClock()
    pipeline, breaker = build(clock)
    breaker.force_open()

    async def main() -> list[BaseException | str]:
        async def call() -> str:
            return await pipeline.execute(lambda: "x")

        return await asyncio.gather(*(call() for _ in range(200)), return_exceptions=True)

    outcomes = asyncio.run(main())
    assert all(isinstance(o, CircuitOpenError) for o in outcomes)
    assert clock.sleeps == []


def test_an_inner_rejection_is_neither_success_nor_failure_for_a_breaker() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker("outer", failure_threshold=1, clock=clock)
    inner = Bulkhead(max_concurrent=1, name="inner")
    pipeline = Pipeline(breaker, inner)
    with inner:
        for _ in range(3):
            with pytest.raises(BulkheadFullError):
                pipeline.call(lambda: "x")
    assert breaker.state is CircuitState.CLOSED
    stats = breaker.stats()
    assert (stats["failed_calls"], stats["ignored_calls"]) == (0, 3)


def test_the_public_seam_composes_policies_without_private_calls() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker("seam", failure_threshold=1, clock=clock)
    guarded = breaker.guard_sync(lambda x: x * 2)
    assert guarded(21) == 42
    assert breaker.run_sync(lambda: "now", (), {}) == "now"
    assert asyncio.run(breaker.run_async(lambda: "async", (), {})) == "async"

    async def double(x: int) -> int:
        return x * 2

    assert asyncio.run(breaker.guard_async(double)(4)) == 8
    assert breaker.offload_sync(lambda: None) is None  # only a timeout moves callees


def test_every_policy_event_declares_the_kind_of_its_policy() -> None:
    from rebellion.policies import _retry_core, bulkhead, timeout
    from rebellion.policies.circuit_breaker import _events as breaker_events
    from rebellion.policies.ratelimit import _events as limiter_events

    expected = {
        breaker_events: CircuitBreaker.kind,
        _retry_core: Retry.kind,
        timeout: "timeout",
        bulkhead: Bulkhead.kind,
        limiter_events: RateLimiter.kind,
    }
    from rebellion._events import Event

    for module, kind in expected.items():
        events = [
            value
            for value in vars(module).values()
            if isinstance(value, type) and issubclass(value, Event) and value is not Event
        ]
        assert events
        for event in events:
            assert event.policy_kind == kind, event
