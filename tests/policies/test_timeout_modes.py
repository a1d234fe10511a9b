"""Timeout modes: a cooperative deadline for inner policies; isolated thread capacity."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from rebellion import ConfigError, RetryExhaustedError, Timeout, TimeoutExceededError
from rebellion.errors import (
    BulkheadFullError,
    RateLimitedError,
    RejectedError,
    TimeoutCapacityError,
)
from rebellion.policies.bulkhead import Bulkhead
from rebellion.policies.deadline import current, remaining
from rebellion.policies.pipeline import Pipeline
from rebellion.policies.ratelimit import RateLimiter
from rebellion.policies.retry import Retry
from rebellion.testing import ManualClock


def wait_until(condition: Any, what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.005)


# -- cooperative (the default for sync callees) -------------------------------------


def test_cooperative_runs_inline_and_fails_a_late_call_when_it_returns() -> None:
    clock = ManualClock()
    limit = Timeout(5, name="db", clock=clock)
    assert limit.mode == "cooperative"
    caller = threading.get_ident()
    assert limit.call(threading.get_ident) == caller  # no thread hop
    assert limit.call(clock.sleep, 4.9) is None
    with pytest.raises(TimeoutExceededError) as caught:
        limit.call(clock.sleep, 5)
    assert caught.value.policy == "db"

    def late_failure() -> None:
        clock.advance(6)
        raise ConnectionError("late")

    with pytest.raises(TimeoutExceededError) as late:
        limit(late_failure)()
    assert isinstance(late.value.__cause__, ConnectionError)
    stats = limit.stats()
    assert (stats["calls"], stats["timeouts"], stats["threads"]) == (4, 2, 0)


def test_the_deadline_is_published_to_the_callee_and_nests_to_the_tightest() -> None:
    clock = ManualClock()
    outer, inner = Timeout(10, clock=clock, name="outer"), Timeout(2, clock=clock)
    assert outer.call(remaining) == 10.0
    assert outer.call(inner.call, remaining) == 2.0
    assert inner.call(Timeout(20, clock=clock).call, remaining) == 2.0
    assert outer.call(lambda: current().policy) == "outer"  # type: ignore[union-attr]
    assert remaining() is None
    assert current() is None


def test_retry_schedules_no_attempt_past_an_enclosing_deadline() -> None:
    clock = ManualClock()
    pipeline = Pipeline(
        Timeout(5, clock=clock),
        Retry(10, initial_delay=2, backoff_factor=1, jitter="none", clock=clock),
    )

    def down() -> None:
        raise ConnectionError("down")

    with pytest.raises(RetryExhaustedError) as caught:
        pipeline.call(down)
    assert caught.value.reason == "deadline"
    assert caught.value.attempts == 3
    assert clock.sleeps == [2, 2]  # the next sleep would have ended past t=5


async def test_in_async_code_the_cancel_scope_ends_the_retry_sleep_on_time() -> None:
    clock = ManualClock()
    pipeline = Pipeline(
        Timeout(5, clock=clock),
        Retry(10, initial_delay=2, backoff_factor=1, jitter="none", clock=clock),
    )

    async def down() -> None:
        raise ConnectionError("down")

    with pytest.raises(TimeoutExceededError):
        await pipeline.call(down)
    assert clock.sleeps == [2, 2, 2]  # the third sleep crosses t=5 and is cancelled


def test_a_rate_limiter_wait_is_cut_to_the_deadline() -> None:
    clock = ManualClock()
    limiter = RateLimiter(1, burst=1, max_wait=60, clock=clock)
    assert limiter.try_acquire()
    with pytest.raises(RateLimitedError):
        Timeout(0.5, clock=clock).call(limiter.call, lambda: "x")
    assert clock.sleeps == []  # refused at once: the turn comes after the deadline
    assert Timeout(2, clock=clock).call(limiter.call, lambda: "x") == "x"
    assert clock.sleeps == [1.0]


def test_a_bulkhead_wait_is_cut_to_the_deadline() -> None:
    clock = ManualClock(auto_advance=False)
    bulkhead = Bulkhead("pool", max_concurrent=1, max_queue=5, max_wait=60, clock=clock)
    limit = Timeout(5, clock=clock)
    outcome: list[BaseException] = []

    def queued() -> None:
        try:
            limit.call(bulkhead.call, lambda: "x")
        except BaseException as error:
            outcome.append(error)

    with bulkhead:
        caller = threading.Thread(target=queued)
        caller.start()
        wait_until(lambda: bulkhead.stats()["queued"] == 1, "the caller queued")
        clock.advance(5)  # the deadline, long before max_wait
        caller.join(30)
    [error] = outcome
    assert isinstance(error, TimeoutExceededError)
    assert isinstance(error.__cause__, BulkheadFullError)


# -- thread mode: each policy owns its threads ---------------------------------------


@pytest.mark.e2e
def test_a_hung_dependency_exhausts_only_its_own_timeout() -> None:
    hung = Timeout(0.05, mode="thread", max_threads=2, name="hung")
    other = Timeout(30, mode="thread", name="other")
    release = threading.Event()
    for _ in range(2):
        with pytest.raises(TimeoutExceededError):
            hung.call(release.wait, 60)
    assert hung.stats()["abandoned"] == 2
    started = time.monotonic()
    with pytest.raises(TimeoutCapacityError) as refused:
        hung.call(lambda: "never runs")
    assert time.monotonic() - started < 0.05  # refused at once, not after a wait
    assert isinstance(refused.value, RejectedError)
    assert refused.value.policy == "hung"
    assert "2 threads" in str(refused.value)
    assert other.call(lambda: "instant") == "instant"  # the unrelated timeout still works
    assert Timeout(1.0).call(lambda: "cooperative") == "cooperative"
    release.set()
    wait_until(lambda: hung.stats()["busy"] == 0, "the hung calls to finish")
    assert hung.call(lambda: "again") == "again"  # the threads came back
    stats = hung.stats()
    assert (stats["rejected"], stats["timeouts"], stats["abandoned"], stats["threads"]) == (
        1,
        2,
        0,
        2,
    )


@pytest.mark.e2e
async def test_execute_of_a_blocking_callee_uses_the_policy_threads() -> None:
    hung = Timeout(0.05, max_threads=1, name="async-hung")
    release = threading.Event()
    with pytest.raises(TimeoutExceededError):
        await hung.execute(release.wait, 60)
    with pytest.raises(TimeoutCapacityError):
        await hung.execute(lambda: "never")
    assert await Timeout(30).execute(lambda: "free") == "free"
    release.set()
    await asyncio.to_thread(wait_until, lambda: hung.stats()["busy"] == 0, "finish")
    assert await hung.execute(lambda: "again") == "again"


async def test_an_async_pipeline_runs_a_sync_callee_in_the_timeout_threads() -> None:
    limit = Timeout(30, name="piped")
    pipeline = Pipeline(Retry(2, initial_delay=0), limit)
    caller = threading.get_ident()
    assert await pipeline.execute(threading.get_ident) != caller
    assert limit.stats()["threads"] == 1


def test_thread_mode_passes_the_deadline_into_the_worker() -> None:
    limit = Timeout(30, mode="thread")
    left = limit.call(remaining)
    assert left is not None
    assert 0 < left <= 30


def test_many_threads_through_one_thread_mode_timeout_count_exactly() -> None:
    limit = Timeout(30, mode="thread", max_threads=4)
    outcomes: list[str] = []
    lock = threading.Lock()

    def caller() -> None:
        for _ in range(50):
            try:
                limit.call(lambda: None)
                result = "ok"
            except TimeoutCapacityError:
                result = "refused"
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=caller) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = limit.stats()
    assert len(outcomes) == 400
    assert outcomes.count("refused") == stats["rejected"]
    assert stats["calls"] == 400
    assert stats["threads"] <= 4
    assert stats["busy"] == 0


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"mode": "pessimistic"}, "mode"),
        ({"max_threads": 0}, "max_threads"),
        ({"max_threads": 10**6}, "max_threads"),
        ({"max_threads": 2.5}, "max_threads"),
    ],
)
def test_bad_mode_settings_name_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError, match=parameter):
        Timeout(1, **kwargs)


def test_durations_accept_timedelta() -> None:
    from datetime import timedelta

    from rebellion.policies.circuit_breaker import CircuitBreaker

    assert Timeout(timedelta(milliseconds=1500)).seconds == 1.5
    retry = Retry(3, initial_delay=timedelta(milliseconds=100), deadline=timedelta(seconds=2))
    assert (retry.backoff.initial_delay, retry.deadline) == (0.1, 2.0)
    breaker = CircuitBreaker("td", reset_timeout=timedelta(minutes=1))
    assert (breaker.reset_timeout, breaker.config.probe_timeout) == (60.0, 60.0)


@pytest.mark.e2e
def test_idle_worker_threads_retire() -> None:
    from rebellion.policies._workers import Workers

    workers = Workers("idle", capacity=4, idle_seconds=0.01)
    jobs = [workers.submit(lambda x: x, (n,), {}, None) for n in range(3)]
    assert [job.wait(30) and job.outcome() for job in jobs] == [0, 1, 2]
    wait_until(lambda: workers.threads == 0, "the idle threads to retire")
    assert (workers.idle, workers.busy) == (0, 0)
    job = workers.submit(lambda: "again", (), {}, None)  # a new thread starts on demand
    assert job.wait(30)
    assert job.outcome() == "again"
