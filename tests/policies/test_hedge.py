"""Hedge: virtual-time hedging delays, first success wins, losers cancelled, percentiles."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from typing import Any

import pytest

from _drivers import Driver
from rebellion import ConfigError, Hedge, HedgeStarted, HedgeWon, Pipeline, Retry
from rebellion.testing import ManualClock, RecordingListener


async def settle(clock: ManualClock, seconds: float = 0.0) -> None:
    for _ in range(3):
        await asyncio.sleep(0)
    await clock.advance_async(seconds)


def test_returns_the_result_in_every_driver_without_hedging(driver: Driver) -> None:
    hedge = Hedge(delay=10.0, clock=ManualClock(auto_advance=False))
    try:
        assert driver.run(hedge, lambda x: x + 1, 1) == 2
        stats = hedge.stats()
        assert (stats["calls"], stats["attempts"], stats["hedges"]) == (1, 1, 0)
        assert stats["wins_by_attempt"] == [1, 0]
    finally:
        hedge.close()


async def test_a_slow_first_attempt_is_hedged_after_the_delay_and_cancelled() -> None:
    clock = ManualClock(auto_advance=False)
    recorder = RecordingListener()
    hedge = Hedge(delay=0.2, max_hedged_attempts=2, clock=clock, listeners=[recorder])
    started: list[float] = []
    cancelled: list[int] = []

    async def call() -> str:
        index = len(started)
        started.append(clock.monotonic())
        try:
            await clock.sleep_async(1.0 if index == 0 else 0.1)
        except asyncio.CancelledError:
            cancelled.append(index)
            raise
        return f"attempt {index}"

    task = asyncio.create_task(hedge.execute(call))
    await settle(clock, 0.19)
    assert started == [0.0]
    await settle(clock, 0.01)
    assert started == [0.0, 0.2]
    await settle(clock, 0.1)
    assert await task == "attempt 1"
    assert cancelled == [0]
    assert hedge.stats()["wins_by_attempt"] == [0, 1, 0]
    assert [type(e).__name__ for e in recorder.events] == ["HedgeStarted", "HedgeWon"]
    won = recorder.of_type(HedgeWon)[0]
    assert (won.attempt, won.latency) == (1, pytest.approx(0.1))
    assert recorder.of_type(HedgeStarted)[0].after == pytest.approx(0.2)


async def test_a_failed_attempt_hedges_at_once_and_the_last_error_is_raised() -> None:
    clock = ManualClock(auto_advance=False)
    hedge = Hedge(delay=5.0, max_hedged_attempts=2, clock=clock)
    calls: list[float] = []

    async def call() -> None:
        calls.append(clock.monotonic())
        raise ConnectionError(f"attempt {len(calls) - 1}")

    with pytest.raises(ConnectionError, match="attempt 2"):
        await hedge.execute(call)
    assert calls == [0.0, 0.0, 0.0]
    stats = hedge.stats()
    assert (stats["attempts"], stats["hedges"], stats["failures"]) == (3, 2, 1)


async def test_outer_cancellation_cancels_every_attempt() -> None:
    clock = ManualClock(auto_advance=False)
    hedge = Hedge(delay=0.1, max_hedged_attempts=1, clock=clock)
    cancelled = 0

    async def call() -> None:
        nonlocal cancelled
        try:
            await clock.sleep_async(60)
        except asyncio.CancelledError:
            cancelled += 1
            raise

    task = asyncio.create_task(hedge.execute(call))
    await settle(clock, 0.1)
    await settle(clock)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled == 2
    assert clock.pending_timers == 0


async def test_delay_follows_the_observed_percentile_after_min_samples() -> None:
    clock = ManualClock(auto_advance=False)
    hedge = Hedge(delay=1.0, quantile=0.9, min_samples=20, sample_size=50, clock=clock)

    async def timed(seconds: float) -> None:
        task = asyncio.create_task(hedge.execute(clock.sleep_async, seconds))
        await settle(clock, seconds)
        await task

    for i in range(19):
        await timed(0.01 * (i % 10 + 1))
    assert hedge.current_delay == 1.0  # too few samples to trust a percentile
    await timed(0.05)
    assert hedge.current_delay == pytest.approx(0.09)  # nearest-rank p90 of 20 samples
    assert hedge.stats()["samples"] == 20


def test_sync_attempts_run_in_the_pool_and_a_loser_is_discarded() -> None:
    hedge = Hedge(delay=0.0, max_hedged_attempts=1)
    release = threading.Event()
    seen: list[str] = []

    def call() -> str:
        if not seen:
            seen.append("slow")
            release.wait(5)  # a sync loser cannot be interrupted: it finishes later
            return "slow"
        seen.append("fast")
        return "fast"

    try:
        assert hedge.call(call) == "fast"
        release.set()
        assert hedge.stats()["wins_by_attempt"] == [0, 1]
    finally:
        hedge.close()


def test_sync_hedge_waits_for_the_virtual_delay() -> None:
    clock = ManualClock(auto_advance=False)
    hedge = Hedge(delay=0.5, clock=clock)
    gate = threading.Event()
    results: list[str] = []

    def call() -> str:
        if not results:
            results.append("first")
            gate.wait(5)
            return "first"
        return "second"

    runner = threading.Thread(target=lambda: results.append(hedge.call(call)))
    runner.start()
    while clock.pending_timers == 0:
        pass
    clock.advance(0.5)
    runner.join(5)
    gate.set()
    hedge.close()
    assert results == ["first", "second"]


async def test_many_concurrent_calls_account_exactly() -> None:
    hedge = Hedge(delay=0.01, max_hedged_attempts=1, clock=ManualClock(auto_advance=False))

    async def call(i: int) -> int:
        if i % 3 == 0:
            raise ValueError(i)
        return i

    results = await asyncio.gather(
        *(hedge.execute(call, i) for i in range(2000)), return_exceptions=True
    )
    errors = sum(isinstance(r, ValueError) for r in results)
    stats = hedge.stats()
    assert stats["calls"] == 2000
    assert stats["failures"] == errors == 667
    assert sum(stats["wins_by_attempt"]) == 2000 - errors


def test_works_inside_a_pipeline() -> None:
    hedge = Hedge(delay=1.0, clock=ManualClock())
    try:
        assert Pipeline(Retry(max_attempts=2, initial_delay=0), hedge).call(lambda: 7) == 7
    finally:
        hedge.close()


@pytest.mark.parametrize(
    ("settings", "parameter"),
    [
        ({"name": ""}, "name"),
        ({"delay": -1}, "delay"),
        ({"percentile": 101}, "percentile"),
        ({"quantile": 95}, "quantile"),  # a fraction, not percent
        ({"quantile": 0.5, "percentile": 50}, "percentile"),
        ({"percentile": -1}, "percentile"),
        ({"min_samples": 0}, "min_samples"),
        ({"min_samples": 20, "sample_size": 10}, "min_samples"),
        ({"sample_size": 0}, "sample_size"),
        ({"max_hedged_attempts": 0}, "max_hedged_attempts"),
        ({"max_workers": 0}, "max_workers"),
        ({"clock": 1}, "clock"),
        ({"listeners": ["x"]}, "listeners"),
    ],
)
def test_bad_settings_name_the_parameter(settings: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Hedge(**settings)
    assert caught.value.parameter == parameter


# -- the inline first attempt (attempt 1 runs in the caller's task) ------------------------

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


async def test_a_callee_that_finishes_without_suspending_needs_no_task_and_no_hedge() -> None:
    clock = ManualClock(auto_advance=False)
    hedge = Hedge(delay=0.0, clock=clock)
    tasks_before = len(asyncio.all_tasks())

    @hedge
    async def quick(x: int) -> int:
        assert len(asyncio.all_tasks()) == tasks_before
        return x + 1

    assert [await quick(i) for i in range(100)] == list(range(1, 101))
    stats = hedge.stats()
    assert (stats["calls"], stats["attempts"], stats["wins_by_attempt"]) == (100, 100, [100, 0])
    assert clock.pending_timers <= 1  # one shared timer for every call, not one each


async def test_a_callee_that_suspends_runs_in_the_callers_task_and_context() -> None:
    clock = ManualClock(auto_advance=False)
    hedge = Hedge(delay=10.0, clock=clock)
    seen: list[object] = []

    async def call() -> str:
        seen.append(asyncio.current_task())
        await asyncio.sleep(0)
        request_id.set("changed by attempt 1")
        return request_id.get()

    async def caller() -> tuple[str, str]:
        request_id.set("r-1")
        result = await hedge.execute(call)
        return result, request_id.get()

    task = asyncio.create_task(caller())
    assert await task == ("changed by attempt 1", "changed by attempt 1")  # as a bare await
    assert seen == [task]
    assert hedge.stats()["wins_by_attempt"] == [1, 0]


async def test_hedges_see_a_copy_of_the_callers_context() -> None:
    clock = ManualClock(auto_advance=False)
    hedge = Hedge(delay=0.1, clock=clock)
    ids: list[str] = []

    async def call() -> str:
        ids.append(request_id.get())
        if len(ids) == 1:
            await clock.sleep_async(60)
        request_id.set("changed by the hedge")
        return "hedge"

    async def caller() -> tuple[str, str]:
        request_id.set("r-2")
        return await hedge.execute(call), request_id.get()

    task = asyncio.create_task(caller())
    await settle(clock, 0.1)
    assert await task == ("hedge", "r-2")
    assert ids == ["r-2", "r-2"]


async def test_cancelling_the_caller_before_the_delay_starts_no_hedge() -> None:
    clock = ManualClock(auto_advance=False)
    hedge = Hedge(delay=1.0, clock=clock)
    cancelled: list[int] = []

    async def call() -> None:
        try:
            await clock.sleep_async(60)
        except asyncio.CancelledError:
            cancelled.append(1)
            raise

    task = asyncio.create_task(hedge.execute(call))
    await settle(clock, 0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await settle(clock, 5.0)
    assert cancelled == [1]
    stats = hedge.stats()  # counted as cancelled: its one attempt reached the dependency
    assert (stats.calls, stats.attempts, stats.hedges, stats.cancelled) == (1, 1, 0, 1)
    assert len(hedge._queue) == 0


async def test_cancelling_the_caller_while_hedges_run_counts_it_cancelled() -> None:
    clock = ManualClock(auto_advance=False)
    hedge = Hedge(delay=1.0, max_hedged_attempts=2, clock=clock)
    cancelled: list[int] = []

    async def call() -> None:
        try:
            await clock.sleep_async(60)
        except asyncio.CancelledError:
            cancelled.append(1)
            raise

    task = asyncio.create_task(hedge.execute(call))
    await settle(clock, 1.5)  # attempt 1 and one hedge run
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await settle(clock, 5.0)  # no further hedge starts once the caller is gone
    assert cancelled == [1, 1]
    stats = hedge.stats()
    assert (stats.calls, stats.attempts, stats.hedges, stats.cancelled) == (1, 2, 1, 1)
    assert (stats.failures, stats.wins_by_attempt) == (0, [0, 0, 0])


async def test_a_winning_hedge_interrupts_attempt_1_and_restores_the_cancel_count() -> None:
    clock = ManualClock(auto_advance=False)
    hedge = Hedge(delay=0.1, clock=clock)
    counts: list[int] = []

    async def call() -> str:
        if not counts:
            counts.append(0)
            await clock.sleep_async(60)
        return "hedge"

    async def caller() -> str:
        result = await hedge.execute(call)
        counts.append(asyncio.current_task().cancelling())  # type: ignore[union-attr]
        return result

    task = asyncio.create_task(caller())
    await settle(clock, 0.1)
    assert await task == "hedge"
    assert counts == [0, 0]
    assert clock.pending_timers == 0


async def test_attempt_1_swallowing_the_interrupt_still_returns_the_winner() -> None:
    clock = ManualClock(auto_advance=False)
    hedge = Hedge(delay=0.1, clock=clock)

    async def call() -> str:
        if asyncio.current_task().get_name() == "caller":  # type: ignore[union-attr]
            try:
                await clock.sleep_async(60)
            except asyncio.CancelledError:
                return "attempt 1, late"
        return "hedge"

    task = asyncio.create_task(hedge.execute(call), name="caller")
    await settle(clock, 0.1)
    assert await task == "hedge"
    assert task.cancelling() == 0
    assert hedge.stats()["wins_by_attempt"] == [0, 1]


async def test_a_cancellation_from_outside_racing_the_winner_propagates() -> None:
    clock = ManualClock(auto_advance=False)
    caller: list[asyncio.Task[Any]] = []
    hedge = Hedge(
        delay=0.1,
        clock=clock,
        listeners=[lambda e: caller[0].cancel() if isinstance(e, HedgeWon) else None],
    )

    async def call() -> str:
        if asyncio.current_task() is caller[0]:
            await clock.sleep_async(60)
        return "hedge"

    caller.append(asyncio.create_task(hedge.execute(call)))
    await settle(clock, 0.1)
    with pytest.raises(asyncio.CancelledError):
        await caller[0]


async def test_attempt_1_winning_after_a_hedge_started_cancels_the_hedge() -> None:
    clock = ManualClock(auto_advance=False)
    hedge = Hedge(delay=0.1, clock=clock)
    cancelled: list[str] = []

    async def call(name: list[str]) -> str:
        me = "first" if not name else "hedge"
        name.append(me)
        try:
            await clock.sleep_async(0.15 if me == "first" else 60)
        except asyncio.CancelledError:
            cancelled.append(me)
            raise
        return me

    task = asyncio.create_task(hedge.execute(call, []))
    await settle(clock, 0.1)
    await settle(clock, 0.05)
    assert await task == "first"
    assert cancelled == ["hedge"]
    stats = hedge.stats()
    assert (stats["attempts"], stats["hedges"], stats["wins_by_attempt"]) == (2, 1, [1, 0])


async def test_attempt_1_failing_after_a_hedge_started_waits_for_the_hedge() -> None:
    clock = ManualClock(auto_advance=False)
    recorder = RecordingListener()
    hedge = Hedge(delay=0.1, max_hedged_attempts=1, clock=clock, listeners=[recorder])
    order: list[str] = []

    async def call() -> str:
        me = "first" if not order else "hedge"
        order.append(me)
        await clock.sleep_async(0.15 if me == "first" else 0.2)
        if me == "first":
            raise ConnectionError("attempt 1")
        return me

    task = asyncio.create_task(hedge.execute(call))
    await settle(clock, 0.1)
    await settle(clock, 0.05)
    assert not task.done()
    await settle(clock, 0.2)
    assert await task == "hedge"
    assert [e.reason for e in recorder.of_type(HedgeStarted)] == ["delay"]


async def test_a_failing_hedge_starts_the_next_at_once_while_attempt_1_runs() -> None:
    clock = ManualClock(auto_advance=False)
    recorder = RecordingListener()
    hedge = Hedge(delay=0.1, max_hedged_attempts=2, clock=clock, listeners=[recorder])
    calls: list[float] = []

    async def call() -> str:
        calls.append(clock.monotonic())
        index = len(calls) - 1
        if index == 0:
            await clock.sleep_async(60)
        if index == 1:
            raise ConnectionError("hedge 1")
        return "hedge 2"

    task = asyncio.create_task(hedge.execute(call))
    await settle(clock, 0.1)
    assert await task == "hedge 2"
    assert calls == [0.0, 0.1, 0.1]
    assert [e.reason for e in recorder.of_type(HedgeStarted)] == ["delay", "failure"]
    assert clock.pending_timers == 0


async def test_a_callee_raising_before_returning_a_coroutine_is_hedged_at_once() -> None:
    hedge = Hedge(delay=5.0, max_hedged_attempts=1, clock=ManualClock(auto_advance=False))
    calls: list[int] = []

    def call() -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("refused")

        async def ok() -> str:
            return "second"

        return ok()

    assert await hedge.execute(call) == "second"
    assert hedge.stats()["wins_by_attempt"] == [0, 1]


async def test_every_attempt_failing_raises_the_last_error_after_delays() -> None:
    clock = ManualClock(auto_advance=False)
    hedge = Hedge(delay=0.1, max_hedged_attempts=2, clock=clock)
    calls: list[int] = []

    async def call() -> None:
        calls.append(1)
        index = len(calls)
        await clock.sleep_async({1: 0.45, 2: 0.3, 3: 0.05}[index])
        raise ConnectionError(f"attempt {index}")

    task = asyncio.create_task(hedge.execute(call))
    for _ in range(5):
        await settle(clock, 0.1)
    with pytest.raises(ConnectionError, match="attempt 1"):  # at 0.45, after 0.25 and 0.4
        await task
    assert hedge.stats()["failures"] == 1


@pytest.mark.e2e
async def test_real_clock_hedges_a_slow_call() -> None:
    hedge = Hedge(delay=0.001, max_hedged_attempts=1)
    calls: list[int] = []

    async def call() -> str:
        calls.append(1)
        await asyncio.sleep(5 if len(calls) == 1 else 0)
        return f"attempt {len(calls) - 1}"

    assert await asyncio.wait_for(hedge.execute(call), 2) == "attempt 1"
