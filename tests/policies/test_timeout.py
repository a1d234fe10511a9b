"""Timeout: cancel scopes on virtual time, outer cancellation, worker-thread sync calls."""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from typing import Any

import pytest

from _drivers import Driver
from rebellion import ConfigError, Timeout, TimeoutExceededError, TimeoutOccurred
from rebellion.testing import ManualClock, RecordingListener


async def settle(clock: ManualClock, seconds: float = 0.0) -> None:
    """Let started tasks run up to their first wait, then advance virtual time."""
    await asyncio.sleep(0)
    await clock.advance_async(seconds)


def test_returns_results_and_propagates_errors_unchanged(driver: Driver) -> None:
    limit = Timeout(5, clock=ManualClock())
    assert driver.run(limit, lambda a, b=0: a + b, 1, b=2) == 3
    error = ValueError("bad")

    def fail() -> None:
        raise error

    with pytest.raises(ValueError) as caught:
        driver.run(limit, fail)
    assert caught.value is error
    assert limit.stats()["timeouts"] == 0
    assert limit.stats()["calls"] == 2


async def test_cancels_the_work_exactly_when_the_limit_passes() -> None:
    clock = ManualClock(auto_advance=False)
    limit = Timeout(5, name="search", clock=clock)
    seen: list[float] = []

    async def work() -> str:
        try:
            await clock.sleep_async(10)
        except asyncio.CancelledError:
            seen.append(clock.monotonic())
            raise
        return "late"

    task = asyncio.create_task(limit.execute(work))
    await settle(clock, 4.99)
    assert not task.done()
    await settle(clock, 0.01)
    assert task.done()
    with pytest.raises(TimeoutExceededError) as caught:
        await task
    assert seen == [5.0]
    assert (caught.value.policy, caught.value.timeout) == ("search", 5.0)
    assert isinstance(caught.value, TimeoutError)
    assert isinstance(caught.value.__cause__, asyncio.CancelledError)
    assert "'search' did not finish within 5s" in str(caught.value)


async def test_auto_advancing_clock_fires_the_timer_in_between_sleeps() -> None:
    clock = ManualClock()
    limit = Timeout(5, clock=clock)
    steps: list[float] = []

    async def work() -> None:
        await clock.sleep_async(3)
        steps.append(clock.monotonic())
        await clock.sleep_async(3)  # crosses t=5: cancelled here
        steps.append(clock.monotonic())

    with pytest.raises(TimeoutExceededError):
        await limit.execute(work)
    assert steps == [3.0]
    assert await limit.execute(clock.sleep_async, 4.9) is None


async def test_finishing_in_time_leaves_no_cancel_request_behind() -> None:
    clock = ManualClock()
    limit = Timeout(5, clock=clock)

    @limit
    async def quick(x: int) -> int:
        await clock.sleep_async(1)
        return x * 2

    assert await quick(21) == 42
    current = asyncio.current_task()
    assert current is not None
    assert current.cancelling() == 0
    # Long after the deadline of the finished call, this task is still not cancelled.
    await clock.sleep_async(60)
    await asyncio.sleep(0)
    assert await quick(1) == 2


async def test_an_outer_cancel_propagates_as_cancelled_error() -> None:
    clock = ManualClock(auto_advance=False)
    limit = Timeout(5, clock=clock)
    task = asyncio.create_task(limit.execute(clock.sleep_async, 10))
    await settle(clock, 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert limit.stats()["timeouts"] == 0


async def test_an_outer_cancel_racing_the_timer_is_not_swallowed() -> None:
    clock = ManualClock(auto_advance=False)
    limit = Timeout(5, clock=clock)
    task = asyncio.create_task(limit.execute(clock.sleep_async, 10))
    await settle(clock, 1)
    clock.advance(4)  # the timer fires and cancels the task...
    task.cancel()  # ...and so does someone else, before the task runs again
    with pytest.raises(asyncio.CancelledError):
        await task
    assert limit.stats()["timeouts"] == 0


async def test_nested_timeouts_report_the_one_that_expired() -> None:
    clock = ManualClock()
    outer, inner = Timeout(3, name="outer", clock=clock), Timeout(10, name="inner", clock=clock)

    async def nested() -> None:
        # 5 s: past one limit, not the other (a longer jump would fire both timers).
        await inner.execute(clock.sleep_async, 5)

    with pytest.raises(TimeoutExceededError) as caught:
        await outer.execute(nested)
    assert caught.value.policy == "outer"

    outer, inner = Timeout(10, name="outer", clock=clock), Timeout(3, name="inner", clock=clock)
    with pytest.raises(TimeoutExceededError) as caught:
        await outer.execute(nested)
    assert caught.value.policy == "inner"


async def test_events_and_stats_record_timeouts() -> None:
    clock = ManualClock()
    recorder: RecordingListener[Any] = RecordingListener()
    limit = Timeout(2, name="db", clock=clock, listeners=[recorder])
    await limit.execute(clock.sleep_async, 1)
    with pytest.raises(TimeoutExceededError):
        await limit.execute(clock.sleep_async, 3)
    [event] = recorder.of_type(TimeoutOccurred)
    assert (event.source, event.timeout) == ("db", 2.0)
    assert limit.stats().as_dict() == {
        "kind": "timeout",
        "name": "db",
        "seconds": 2.0,
        "mode": "cooperative",
        "max_threads": 32,
        "calls": 2,
        "timeouts": 1,
        "rejections": 0,
        "threads": 0,
        "in_flight": 0,
        "abandoned": 0,
    }


async def test_many_concurrent_tasks_time_out_independently() -> None:
    clock = ManualClock(auto_advance=False)
    limit = Timeout(5, clock=clock)
    tasks = [asyncio.create_task(limit.execute(clock.sleep_async, n % 10)) for n in range(300)]
    for _ in range(12):
        await settle(clock, 1)
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    timed_out = [n for n, o in enumerate(outcomes) if isinstance(o, TimeoutExceededError)]
    assert timed_out == [n for n in range(300) if n % 10 >= 5]
    assert limit.stats()["timeouts"] == len(timed_out)


async def test_staggered_calls_each_expire_at_their_own_deadline() -> None:
    clock = ManualClock(auto_advance=False)
    limit = Timeout(5, clock=clock)
    cancelled_at: dict[int, float] = {}

    async def work(n: int) -> None:
        try:
            await clock.sleep_async(100)
        except asyncio.CancelledError:
            cancelled_at[n] = clock.monotonic()
            raise

    tasks = []
    for n in range(20):
        tasks.append(asyncio.create_task(limit.execute(work, n)))
        await settle(clock, 0.5)
    for _ in range(30):
        await settle(clock, 0.25)
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert all(isinstance(o, TimeoutExceededError) for o in outcomes)
    assert cancelled_at == {n: pytest.approx(n * 0.5 + 5) for n in range(20)}


async def test_one_timer_serves_many_sequential_calls() -> None:
    clock = ManualClock()
    limit = Timeout(5, clock=clock)
    for _ in range(1000):
        await limit.execute(clock.sleep_async, 0.001)
    assert clock.pending_timers == 1


async def test_a_long_call_does_not_pin_finished_ones_in_memory() -> None:
    clock = ManualClock(auto_advance=False)
    limit = Timeout(5, clock=clock)
    slow = asyncio.create_task(limit.execute(clock.sleep_async, 4))
    await settle(clock)
    for _ in range(10_000):
        await limit.execute(asyncio.sleep, 0)
    loop = asyncio.get_running_loop()
    assert len(limit._queues[loop]._queue) < 200
    await settle(clock, 4)
    await slow


async def test_execute_runs_a_blocking_sync_callee_off_the_loop() -> None:
    clock = ManualClock(auto_advance=False)
    limit = Timeout(5, clock=clock)
    release = threading.Event()
    task = asyncio.create_task(limit.execute(release.wait, 30))
    await settle(clock, 5)
    try:
        with pytest.raises(TimeoutExceededError):
            await task
    finally:
        release.set()


def test_defaults_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Timeout().seconds == 30.0
    monkeypatch.setenv("REBELLION_TIMEOUT_SECONDS", "2.5")
    assert Timeout().seconds == 2.5


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"seconds": 0}, "seconds"),
        ({"seconds": -1}, "seconds"),
        ({"seconds": "5"}, "seconds"),
        ({"seconds": float("inf")}, "seconds"),
        ({"seconds": float("nan")}, "seconds"),
        ({"seconds": True}, "seconds"),
        ({"seconds": 1, "name": ""}, "name"),
        ({"seconds": 1, "clock": 3}, "clock"),
        ({"seconds": 1, "listeners": ["x"]}, "listeners"),
    ],
)
def test_bad_settings_name_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError, match=parameter) as caught:
        Timeout(**kwargs)
    assert caught.value.parameter == parameter


# -- sync callees: a worker thread and real time ----------------------------------------

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id")


@pytest.mark.e2e
def test_sync_callee_is_abandoned_after_the_limit_in_real_time() -> None:
    limit = Timeout(0.05, name="legacy", mode="thread")
    release, finished = threading.Event(), threading.Event()

    @limit
    def blocking() -> str:
        release.wait(5)
        finished.set()
        return "late"

    started = time.monotonic()
    with pytest.raises(TimeoutExceededError) as caught:
        blocking()
    waited = time.monotonic() - started
    assert 0.04 <= waited < 1.0
    assert caught.value.policy == "legacy"
    # The thread cannot be killed: it is still running, and finishes once released.
    assert not finished.is_set()
    release.set()
    assert finished.wait(2)
    assert limit.stats()["timeouts"] == 1


@pytest.mark.e2e
@pytest.mark.parametrize("mode", ["cooperative", "thread"])
def test_sync_callee_keeps_its_context_and_its_own_timeout_error(mode: str) -> None:
    limit = Timeout(1.0, mode=mode)
    request_id.set("abc")
    assert limit.call(request_id.get) == "abc"
    own = TimeoutError("the callee's own")

    def fail() -> None:
        raise own

    with pytest.raises(TimeoutError) as caught:
        limit.call(fail)
    assert caught.value is own
    assert limit.stats()["timeouts"] == 0
