"""The virtual-time loop: jumps to the next timer, runs executors inline, spots deadlock."""

from __future__ import annotations

import asyncio

import pytest

from rebellion.simulation._loop import Stalled, run
from rebellion.testing import ManualClock


def test_an_hour_of_waiting_costs_nothing_and_timers_fire_in_order() -> None:
    clock = ManualClock(auto_advance=False)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, seconds: float) -> None:
        await clock.sleep_async(seconds)
        woke.append((name, clock.monotonic()))

    async def main() -> None:
        await asyncio.gather(sleeper("hour", 3600), sleeper("second", 1), sleeper("minute", 60))

    run(main(), clock)
    assert woke == [("second", 1.0), ("minute", 60.0), ("hour", 3600.0)]


def test_loop_timers_read_the_manual_clock() -> None:
    clock = ManualClock(auto_advance=False)

    async def main() -> float:
        await asyncio.sleep(30)
        async with asyncio.timeout(5):
            await clock.sleep_async(2)
        return clock.monotonic()

    assert run(main(), clock) == 32.0


def test_to_thread_runs_inline_in_submission_order() -> None:
    clock = ManualClock(auto_advance=False)
    order: list[int] = []

    async def main() -> list[int]:
        await asyncio.gather(*(asyncio.to_thread(order.append, i) for i in range(5)))
        return order

    assert run(main(), clock) == [0, 1, 2, 3, 4]


def test_a_world_where_every_task_waits_for_ever_is_reported() -> None:
    clock = ManualClock(auto_advance=False)

    async def main() -> None:
        await asyncio.get_running_loop().create_future()

    with pytest.raises(Stalled, match="every task waits"):
        run(main(), clock)


def test_a_wait_past_the_horizon_counts_as_deadlock() -> None:
    clock = ManualClock(auto_advance=False)

    with pytest.raises(Stalled):
        run(clock.sleep_async(100), clock, horizon=50)


def test_next_due_skips_cancelled_timers() -> None:
    clock = ManualClock(auto_advance=False)
    first = clock.call_later(1, lambda: None)
    clock.call_later(5, lambda: None)
    first.cancel()
    assert clock.next_due() == 5.0
    clock.advance(10)
    assert clock.next_due() is None
