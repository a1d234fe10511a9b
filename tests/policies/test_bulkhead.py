"""Bulkhead: caps, FIFO queue, waits, cancellation, resizing, threads and tasks together."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from rebellion import (
    Bulkhead,
    BulkheadFullError,
    BulkheadRejected,
    BulkheadResized,
    ConfigError,
    Fallback,
    Pipeline,
    Retry,
    get_bulkhead,
)
from rebellion.testing import ManualClock, RecordingListener


async def _settle(times: int = 5) -> None:
    for _ in range(times):
        await asyncio.sleep(0)


class Gate:
    """Async callees that hold their slot until released, counting concurrency."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.running = 0
        self.peak = 0
        self.started: list[int] = []

    async def hold(self, tag: int = 0) -> int:
        self.running += 1
        self.peak = max(self.peak, self.running)
        self.started.append(tag)
        try:
            await self.release.wait()
        finally:
            self.running -= 1
        return tag


# -- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"name": ""}, "name"),
        ({"name": 3}, "name"),
        ({"max_concurrent": 0}, "max_concurrent"),
        ({"max_concurrent": 1.5}, "max_concurrent"),
        ({"max_concurrent": True}, "max_concurrent"),
        ({"max_queue": -1}, "max_queue"),
        ({"max_queue": "10"}, "max_queue"),
        ({"max_wait": -0.1}, "max_wait"),
        ({"max_wait": float("nan")}, "max_wait"),
        ({"max_wait": "1"}, "max_wait"),
        ({"clock": object()}, "clock"),
        ({"listeners": [42]}, "listeners"),
    ],
)
def test_rejects_bad_settings_naming_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Bulkhead(**kwargs)
    assert caught.value.parameter == parameter
    assert str(caught.value).startswith(parameter)


def test_resize_rejects_bad_limits() -> None:
    bulkhead = Bulkhead(max_concurrent=2)
    with pytest.raises(ConfigError, match=r"^max_concurrent"):
        bulkhead.resize(0)
    with pytest.raises(ConfigError, match=r"^max_queue"):
        bulkhead.resize(2, max_queue=-3)
    assert bulkhead.max_concurrent == 2


def test_get_bulkhead_returns_one_instance_and_refuses_conflicts() -> None:
    first = get_bulkhead("db", max_concurrent=4)
    assert get_bulkhead("db") is first
    with pytest.raises(ConfigError, match="max_concurrent"):
        get_bulkhead("db", max_concurrent=5)


# -- the success path, both faces ----------------------------------------------------------


def test_guards_sync_functions_and_counts() -> None:
    bulkhead = Bulkhead(max_concurrent=2)

    @bulkhead
    def double(x: int) -> int:
        return 2 * x

    assert double(4) == 8
    assert bulkhead.call(lambda x: 2 * x, 5) == 10
    stats = bulkhead.stats()
    assert (stats["admitted"], stats["active"], stats["rejected"]) == (2, 0, 0)
    assert double.__name__ == "double"


async def test_guards_async_functions_and_plain_callables_in_execute() -> None:
    bulkhead = Bulkhead(max_concurrent=2)

    @bulkhead
    async def double(x: int) -> int:
        return 2 * x

    assert await double(4) == 8
    assert await bulkhead.execute(lambda: "plain") == "plain"
    assert await bulkhead.call(double, 1) == 2
    assert bulkhead.stats()["active"] == 0


def test_context_manager_holds_a_slot_for_the_block() -> None:
    bulkhead = Bulkhead(max_concurrent=1)
    with bulkhead:
        assert bulkhead.stats()["active"] == 1
        assert not bulkhead.try_acquire()
    assert bulkhead.try_acquire()
    bulkhead.release()
    assert bulkhead.stats()["active"] == 0


async def test_async_context_manager_and_manual_permits() -> None:
    bulkhead = Bulkhead(max_concurrent=1)
    async with bulkhead:
        assert bulkhead.stats()["active"] == 1
    await bulkhead.acquire_async()
    bulkhead.release()
    bulkhead.acquire()
    bulkhead.release()
    assert bulkhead.stats()["admitted"] == 3


def test_a_failing_call_frees_its_slot() -> None:
    bulkhead = Bulkhead(max_concurrent=1)

    @bulkhead
    def boom() -> None:
        raise KeyError("x")

    for _ in range(3):
        with pytest.raises(KeyError):
            boom()
    assert bulkhead.stats()["active"] == 0


# -- rejection, queueing, waiting ---------------------------------------------------------


async def test_rejects_at_once_when_full_and_no_queue() -> None:
    listener: RecordingListener[BulkheadRejected] = RecordingListener()
    bulkhead = Bulkhead("api", max_concurrent=2, listeners=[listener])
    gate = Gate()
    guarded = bulkhead(gate.hold)
    holders = [asyncio.create_task(guarded(i)) for i in range(2)]
    await _settle()
    with pytest.raises(BulkheadFullError) as caught:
        await guarded(99)
    assert caught.value.policy == "api"
    assert "full" in str(caught.value)
    gate.release.set()
    assert list(await asyncio.gather(*holders)) == [0, 1]
    [event] = listener.of_type(BulkheadRejected)
    assert (event.reason, event.active, event.queued) == ("queue_full", 2, 0)
    stats = bulkhead.stats()
    assert (stats["admitted"], stats["rejected_queue_full"], stats["active"]) == (2, 1, 0)


async def test_queued_calls_run_in_arrival_order_when_slots_free() -> None:
    bulkhead = Bulkhead(max_concurrent=1, max_queue=10)
    order: list[int] = []
    gate = asyncio.Event()

    @bulkhead
    async def work(tag: int) -> None:
        order.append(tag)
        await gate.wait()

    tasks = [asyncio.create_task(work(i)) for i in range(6)]
    await _settle()
    assert order == [0]
    assert bulkhead.stats()["queued"] == 5
    gate.set()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3, 4, 5]
    assert bulkhead.stats()["admitted"] == 6


async def test_queue_overflow_is_rejected_with_an_estimated_retry_after() -> None:
    clock = ManualClock(auto_advance=False)
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1, clock=clock)

    @bulkhead
    async def slow() -> None:
        await clock.sleep_async(2.0)

    first = asyncio.create_task(slow())
    await _settle()
    await clock.advance_async(2.0)
    await first  # a call made while full was timed: mean duration 2 s
    assert bulkhead.stats()["mean_duration"] == pytest.approx(2.0)
    running = asyncio.create_task(slow())
    queued = asyncio.create_task(slow())
    await _settle()
    with pytest.raises(BulkheadFullError) as caught:
        await slow()
    assert caught.value.retry_after == pytest.approx(4.0)  # one queued ahead, then us
    await clock.advance_async(2.0)
    await clock.advance_async(2.0)
    await asyncio.gather(running, queued)


async def test_a_queued_call_times_out_after_max_wait() -> None:
    clock = ManualClock(auto_advance=False)
    listener: RecordingListener[BulkheadRejected] = RecordingListener()
    bulkhead = Bulkhead(
        max_concurrent=1, max_queue=5, max_wait=1.5, clock=clock, listeners=[listener]
    )
    gate = Gate()
    guarded = bulkhead(gate.hold)
    holder = asyncio.create_task(guarded(0))
    waiter = asyncio.create_task(guarded(1))
    await _settle()
    await clock.advance_async(1.0)
    assert not waiter.done()
    await clock.advance_async(0.5)
    with pytest.raises(BulkheadFullError, match=r"1\.5s"):
        await waiter
    assert listener.of_type(BulkheadRejected)[0].reason == "timeout"
    gate.release.set()
    await holder
    stats = bulkhead.stats()
    assert (stats["rejected_timeout"], stats["queued"], stats["active"]) == (1, 0, 0)


async def test_max_wait_zero_never_queues() -> None:
    bulkhead = Bulkhead(max_concurrent=1, max_queue=5, max_wait=0)
    gate = Gate()
    guarded = bulkhead(gate.hold)
    holder = asyncio.create_task(guarded(0))
    await _settle()
    with pytest.raises(BulkheadFullError):
        await guarded(1)
    gate.release.set()
    await holder


async def test_a_waiter_granted_before_its_deadline_runs() -> None:
    clock = ManualClock(auto_advance=False)
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1, max_wait=5.0, clock=clock)
    gate = Gate()
    guarded = bulkhead(gate.hold)
    holder = asyncio.create_task(guarded(0))
    waiter = asyncio.create_task(guarded(1))
    await _settle()
    await clock.advance_async(4.0)
    gate.release.set()
    assert list(await asyncio.gather(holder, waiter)) == [0, 1]
    await clock.advance_async(10.0)  # the cancelled deadline timer does nothing
    assert bulkhead.stats()["rejected"] == 0
    assert clock.pending_timers == 0


# -- cancellation -------------------------------------------------------------------------


async def test_a_cancelled_waiter_frees_its_queue_place() -> None:
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1)
    gate = Gate()
    guarded = bulkhead(gate.hold)
    holder = asyncio.create_task(guarded(0))
    waiter = asyncio.create_task(guarded(1))
    await _settle()
    assert bulkhead.stats()["queued"] == 1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert bulkhead.stats()["queued"] == 0
    replacement = asyncio.create_task(guarded(2))  # the queue has room again
    await _settle()
    gate.release.set()
    assert list(await asyncio.gather(holder, replacement)) == [0, 2]
    stats = bulkhead.stats()
    assert (stats["cancelled"], stats["active"], stats["admitted"]) == (1, 0, 2)


async def test_a_cancelled_holder_releases_its_slot() -> None:
    bulkhead = Bulkhead(max_concurrent=1)
    gate = Gate()
    holder = asyncio.create_task(bulkhead(gate.hold)(0))
    await _settle()
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder
    assert bulkhead.stats()["active"] == 0
    assert bulkhead.try_acquire()


async def test_a_waiter_cancelled_after_being_granted_passes_the_slot_on() -> None:
    bulkhead = Bulkhead(max_concurrent=1, max_queue=5)
    guarded = bulkhead(Gate().hold)
    await bulkhead.acquire_async()
    granted = asyncio.create_task(guarded(1))
    next_in_line = asyncio.create_task(guarded(2))
    await _settle()
    bulkhead.release()  # hands the slot to `granted`, which has not run yet...
    granted.cancel()  # ...and is cancelled before it can
    with pytest.raises(asyncio.CancelledError):
        await granted
    next_in_line.cancel()  # it got the slot passed on: cancelling it now frees the slot
    with pytest.raises(asyncio.CancelledError):
        await next_in_line
    stats = bulkhead.stats()
    assert (stats["active"], stats["queued"], stats["cancelled"]) == (0, 0, 1)
    assert stats["admitted"] == 2


# -- resizing -----------------------------------------------------------------------------


async def test_shrinking_lets_running_calls_finish_and_growing_admits_waiters() -> None:
    listener: RecordingListener[BulkheadResized] = RecordingListener()
    bulkhead = Bulkhead(max_concurrent=4, max_queue=10, listeners=[listener])
    gate = Gate()
    guarded = bulkhead(gate.hold)
    running = [asyncio.create_task(guarded(i)) for i in range(4)]
    await _settle()
    bulkhead.resize(1)  # EMERGENCY: nothing running is interrupted
    assert gate.running == 4
    late = [asyncio.create_task(guarded(i)) for i in range(10, 13)]
    await _settle()
    assert bulkhead.stats()["queued"] == 3
    bulkhead.resize(6, max_queue=20)  # back to normal: waiters start as slots allow
    await _settle()
    assert (gate.running, bulkhead.stats()["queued"]) == (6, 1)
    assert bulkhead.stats()["max_queue"] == 20
    gate.release.set()
    await asyncio.gather(*running, *late)
    events = listener.of_type(BulkheadResized)
    assert [(e.old_max_concurrent, e.max_concurrent) for e in events] == [(4, 1), (1, 6)]


async def test_after_shrinking_new_calls_wait_until_under_the_new_cap() -> None:
    bulkhead = Bulkhead(max_concurrent=3, max_queue=10)
    gates = [asyncio.Event() for _ in range(3)]
    peak: list[int] = []

    @bulkhead
    async def work(i: int) -> None:
        peak.append(bulkhead.stats()["active"])
        await gates[i].wait() if i < 3 else None

    running = [asyncio.create_task(work(i)) for i in range(3)]
    await _settle()
    bulkhead.resize(1)
    newcomer = asyncio.create_task(work(3))
    await _settle()
    gates[0].set()
    gates[1].set()
    await _settle()
    assert not newcomer.done()  # still 1 running: at the new cap
    gates[2].set()
    await asyncio.gather(*running, newcomer)
    assert peak[-1] == 1


# -- concurrency --------------------------------------------------------------------------


async def test_exact_accounting_under_thousands_of_tasks() -> None:
    bulkhead = Bulkhead(max_concurrent=10, max_queue=500)
    gate = Gate()
    guarded = bulkhead(gate.hold)
    tasks = [asyncio.create_task(guarded(i)) for i in range(2000)]
    await _settle()
    gate.release.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    admitted = sum(1 for r in results if isinstance(r, int))
    rejected = sum(1 for r in results if isinstance(r, BulkheadFullError))
    assert admitted + rejected == 2000
    assert admitted == 510
    assert gate.peak == 10
    stats = bulkhead.stats()
    assert (stats["admitted"], stats["rejected"], stats["active"]) == (admitted, rejected, 0)


def test_threads_never_exceed_the_cap_and_accounting_is_exact() -> None:
    bulkhead = Bulkhead(max_concurrent=3, max_queue=64)
    lock = threading.Lock()
    running = [0, 0]  # now, peak
    outcomes: list[str] = []

    @bulkhead
    def work() -> None:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        for _ in range(200):
            pass
        with lock:
            running[0] -= 1

    def caller() -> None:
        for _ in range(100):
            try:
                work()
                outcome = "ok"
            except BulkheadFullError:
                outcome = "rejected"
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=caller) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert len(outcomes) == 1600
    assert running[1] <= 3
    stats = bulkhead.stats()
    assert stats["admitted"] == outcomes.count("ok")
    assert stats["rejected"] == outcomes.count("rejected")
    assert (stats["active"], stats["queued"]) == (0, 0)


def test_threads_and_tasks_share_one_capacity() -> None:
    bulkhead = Bulkhead(max_concurrent=2, max_queue=10)
    release = threading.Event()
    entered = threading.Semaphore(0)

    @bulkhead
    def blocking() -> str:
        entered.release()
        release.wait(5)
        return "thread"

    @bulkhead
    async def coroutine() -> str:
        return "task"

    threads = [threading.Thread(target=blocking) for _ in range(2)]
    for thread in threads:
        thread.start()
    for _ in range(2):
        assert entered.acquire(timeout=5)

    async def main() -> str:
        task = asyncio.create_task(coroutine())
        await _settle()
        assert not task.done()  # both slots are held by threads: the task waits
        assert bulkhead.stats()["queued"] == 1
        release.set()  # a thread's release wakes the task on its loop, thread-safely
        return await asyncio.wait_for(task, 5)

    assert asyncio.run(main()) == "task"
    for thread in threads:
        thread.join(timeout=5)
    assert bulkhead.stats()["admitted"] == 3


def test_a_waiting_thread_times_out_on_the_virtual_clock() -> None:
    clock = ManualClock(auto_advance=False)
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1, max_wait=3.0, clock=clock)
    bulkhead.acquire()
    outcome: list[BaseException | None] = []

    def waiter() -> None:
        try:
            bulkhead.acquire()
            outcome.append(None)
        except BulkheadFullError as error:
            outcome.append(error)

    thread = threading.Thread(target=waiter)
    thread.start()
    for _ in range(500):
        if bulkhead.stats()["queued"]:
            break
        threading.Event().wait(0.001)
    clock.advance(3.0)
    thread.join(timeout=5)
    assert isinstance(outcome[0], BulkheadFullError)
    assert bulkhead.stats()["rejected_timeout"] == 1


def test_a_waiting_thread_is_handed_the_released_slot() -> None:
    bulkhead = Bulkhead(max_concurrent=1, max_queue=1, max_wait=5.0)
    bulkhead.acquire()
    done = threading.Event()

    def waiter() -> None:
        bulkhead.acquire()
        done.set()
        bulkhead.release()

    thread = threading.Thread(target=waiter)
    thread.start()
    for _ in range(500):
        if bulkhead.stats()["queued"]:
            break
        threading.Event().wait(0.001)
    bulkhead.release()
    assert done.wait(5)
    thread.join(timeout=5)
    assert bulkhead.stats()["active"] == 0


# -- composition ---------------------------------------------------------------------------


async def test_works_inside_a_pipeline_with_fallback_and_retry() -> None:
    bulkhead = Bulkhead(max_concurrent=1)
    pipeline = Pipeline(
        Fallback(lambda: "shed", should_fallback_on=[BulkheadFullError]),
        Retry(max_attempts=2, initial_delay=0, retry_on=[ConnectionError]),
        bulkhead,
    )
    gate = Gate()
    holder = asyncio.create_task(bulkhead(gate.hold)(0))
    await _settle()

    @pipeline
    async def fetch() -> str:
        return "fresh"

    assert await fetch() == "shed"
    gate.release.set()
    await holder
    assert await fetch() == "fresh"


def test_repr_and_stats_show_limits() -> None:
    bulkhead = Bulkhead("db", max_concurrent=3, max_queue=7, max_wait=2.0)
    assert repr(bulkhead) == "Bulkhead(name='db', active=0/3)"
    stats = bulkhead.stats()
    assert (stats["kind"], stats["max_queue"], stats["max_wait"], stats["available"]) == (
        "bulkhead",
        7,
        2.0,
        3,
    )
