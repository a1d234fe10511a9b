"""Leases in virtual time: expiry, redelivery, stale acks, extension, stop, hung handlers."""

from __future__ import annotations

import asyncio

from _queue_handlers import echo
from _queue_helpers import until

from rebellion.durable import PersistentRequestQueue, RetryableRequest
from rebellion.testing import ManualClock


async def test_unacked_lease_expires_and_request_is_redelivered(
    queue: PersistentRequestQueue, clock: ManualClock
) -> None:
    rid = await queue.enqueue(RetryableRequest(echo))
    first = await queue.claim()
    assert first is not None
    assert first.attempt == 1
    assert await queue.claim() is None  # leased: invisible to others
    assert queue.stats()["leased"] == 1
    clock.advance(29.9)
    assert await queue.claim() is None
    clock.advance(0.1)
    second = await queue.claim()
    assert second is not None
    assert (second.id, second.attempt) == (rid, 2)
    assert await queue.ack(first) is False  # the old holder lost its lease
    assert await queue.ack(second) is True
    stats = queue.stats()
    assert (stats["done"], stats["lost_leases"], stats["leased"]) == (1, 1, 0)


async def test_custom_lease_and_extension(
    queue: PersistentRequestQueue, clock: ManualClock
) -> None:
    await queue.enqueue(RetryableRequest(echo))
    delivery = await queue.claim(lease=5)
    assert delivery is not None
    clock.advance(4)
    assert await queue.extend_lease(delivery, 10)
    clock.advance(9)
    assert await queue.claim() is None
    clock.advance(1)
    again = await queue.claim()
    assert again is not None
    assert await queue.extend_lease(delivery, 10) is False  # lost: cannot extend


async def test_request_whose_worker_keeps_dying_is_dead_lettered(
    queue: PersistentRequestQueue, clock: ManualClock
) -> None:
    rid = await queue.enqueue(RetryableRequest(echo, max_retries=1))
    for _ in range(2):
        assert await queue.claim() is not None
        clock.advance(31)
    assert await queue.claim() is None
    [letter] = queue.dead_letters()
    assert letter.id == rid
    assert "lease expired 2 time(s)" in letter.last_error
    assert queue.stats()["dead_lettered"] == 1


async def test_nack_schedules_a_retry(queue: PersistentRequestQueue, clock: ManualClock) -> None:
    await queue.enqueue(RetryableRequest(echo, max_retries=1))
    delivery = await queue.claim()
    assert delivery is not None
    await queue.nack(delivery, "downstream 503")
    assert await queue.claim() is None
    clock.advance(1)
    retry = await queue.claim()
    assert retry is not None
    assert retry.attempt == 2
    await queue.nack(retry, ValueError("still down"))
    assert [d.last_error for d in queue.dead_letters()] == ["ValueError: still down"]


async def test_hung_handler_loses_its_lease_and_another_worker_finishes(
    queue: PersistentRequestQueue, clock: ManualClock
) -> None:
    release = asyncio.Event()
    finished = asyncio.Event()
    attempts: list[int] = []

    async def flaky_hang() -> None:
        attempts.append(len(attempts) + 1)
        if len(attempts) == 1:
            await release.wait()  # hangs well past its lease
        else:
            finished.set()

    queue.register_handler("hang", flaky_hang)
    await queue.enqueue(RetryableRequest("hang"))
    runner = asyncio.create_task(queue.process_queue(concurrency=2))
    await until(lambda: bool(attempts) and clock.pending_timers >= 1)  # one busy, one idle
    await clock.advance_async(31)  # lease expires; the idle worker redelivers
    await asyncio.wait_for(finished.wait(), 5)
    release.set()
    await queue.stop()
    await runner
    stats = queue.stats()
    assert attempts == [1, 2]
    assert (stats["done"], stats["lost_leases"], stats["processed"]) == (1, 1, 1)


async def test_stop_finishes_in_flight_work_and_starts_nothing_new(
    queue: PersistentRequestQueue,
) -> None:
    started = asyncio.Event()
    proceed = asyncio.Event()
    done: list[int] = []

    async def slow(i: int) -> None:
        started.set()
        await proceed.wait()
        done.append(i)

    queue.register_handler("slow", slow)
    for i in range(5):
        await queue.enqueue(RetryableRequest("slow", args=[i]))
    runner = asyncio.create_task(queue.process_queue(concurrency=1))
    await asyncio.wait_for(started.wait(), 5)
    stopping = asyncio.create_task(queue.stop())
    await asyncio.sleep(0)
    proceed.set()
    await asyncio.wait_for(stopping, 5)
    await runner
    assert done == [0]
    stats = queue.stats()
    assert (stats["done"], stats["pending"], stats["leased"]) == (1, 4, 0)


async def test_process_queue_twice_returns_at_once(queue: PersistentRequestQueue) -> None:
    runner = asyncio.create_task(queue.process_queue())
    await asyncio.sleep(0)
    await asyncio.wait_for(queue.process_queue(concurrency=3), 1)  # already running
    await queue.stop()
    await runner
    assert queue.stats()["processing"] is False


async def test_idle_workers_pick_up_delayed_requests_when_due(
    queue: PersistentRequestQueue, clock: ManualClock
) -> None:
    seen: list[str] = []
    got = asyncio.Event()

    def record(x: str) -> None:
        seen.append(x)
        got.set()

    queue.register_handler("record", record)
    runner = asyncio.create_task(queue.process_queue(concurrency=2))
    await queue.enqueue(RetryableRequest("record", args=["later"]), delay=0.5)
    await until(lambda: clock.pending_timers >= 2)  # both workers idle, waiting
    assert seen == []
    await clock.advance_async(0.5)
    await asyncio.wait_for(got.wait(), 5)
    await queue.stop()
    await runner
    assert seen == ["later"]
