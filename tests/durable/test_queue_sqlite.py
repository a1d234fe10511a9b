"""PersistentRequestQueue on SQLite: ordering, priorities, delays, retries, dead letters."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from _queue_handlers import async_echo, boom, echo

from rebellion.durable import (
    PersistentRequestQueue,
    RequestDeadLettered,
    RequestRetryScheduled,
    RetryableRequest,
    current_delivery,
)
from rebellion.errors import QueueFullError
from rebellion.testing import ManualClock, RecordingListener


def recorder(queue: PersistentRequestQueue, name: str = "record") -> list[Any]:
    seen: list[Any] = []

    def record(value: Any) -> None:
        seen.append(value)

    queue.register_handler(name, record)
    return seen


async def test_seed_example_runs_as_written(tmp_path: Path) -> None:
    queue = PersistentRequestQueue(storage_path=str(tmp_path / "requests.db"), max_size=1000)
    prompt, model, priority = "hello", "gpt", 0
    request = RetryableRequest(operation_func=echo, args=[prompt, model], max_retries=3)
    request_id = await queue.enqueue(request, priority)
    task = asyncio.create_task(queue.process_queue())
    for _ in range(200):
        if queue.stats()["done"] == 1:
            break
        await asyncio.sleep(0.005)
    await queue.stop()
    await task
    queue.close()
    assert isinstance(request_id, str)
    assert queue.stats is not None


async def test_fifo_within_a_priority(queue: PersistentRequestQueue) -> None:
    seen = recorder(queue)
    for i in range(10):
        await queue.enqueue(RetryableRequest("record", args=[i]))
    assert await queue.process_available() == 10
    assert seen == list(range(10))


async def test_higher_priority_runs_first(queue: PersistentRequestQueue) -> None:
    seen = recorder(queue)
    for i, priority in enumerate([0, 5, -1, 5, 10, 0]):
        await queue.enqueue(RetryableRequest("record", args=[f"{priority}/{i}"]), priority)
    await queue.process_available()
    assert seen == ["10/4", "5/1", "5/3", "0/0", "0/5", "-1/2"]


async def test_delayed_request_waits_for_its_time(
    queue: PersistentRequestQueue, clock: ManualClock
) -> None:
    seen = recorder(queue)
    await queue.enqueue(RetryableRequest("record", args=["later"]), delay=10)
    await queue.enqueue(RetryableRequest("record", args=["at"]), not_before=clock.wall() + 5)
    await queue.enqueue(RetryableRequest("record", args=["now"]))
    assert await queue.process_available() == 1
    assert queue.stats()["delayed"] == 2
    clock.advance(5)
    await queue.process_available()
    clock.advance(5)
    await queue.process_available()
    assert seen == ["now", "at", "later"]


async def test_failures_retry_with_backoff_then_dead_letter(
    queue: PersistentRequestQueue, clock: ManualClock
) -> None:
    listener: RecordingListener[Any] = RecordingListener()
    queue._events.subscribe(listener)
    rid = await queue.enqueue(RetryableRequest(boom, args=["bad"], max_retries=2))
    assert await queue.process_available() == 1
    assert await queue.process_available() == 0  # backoff: not visible yet
    clock.advance(1.0)
    assert await queue.process_available() == 1
    clock.advance(1.9)
    assert await queue.process_available() == 0
    clock.advance(0.1)
    assert await queue.process_available() == 1
    delays = [e.delay for e in listener.of_type(RequestRetryScheduled)]
    assert delays == [1.0, 2.0]
    [letter] = queue.dead_letters()
    assert (letter.id, letter.deliveries, letter.args) == (rid, 3, ["bad"])
    assert letter.last_error == "ValueError: bad"
    assert [e.request_id for e in listener.of_type(RequestDeadLettered)] == [rid]
    stats = queue.stats()
    assert (stats["dead"], stats["pending"], stats["failed"], stats["retried"]) == (1, 0, 3, 2)


async def test_replay_and_purge_dead_letters(queue: PersistentRequestQueue) -> None:
    ids = [await queue.enqueue(RetryableRequest(boom, max_retries=0)) for _ in range(3)]
    await queue.process_available()
    assert {d.id for d in queue.dead_letters()} == set(ids)
    assert await queue.replay_dead_letter(ids[0]) is True
    assert await queue.replay_dead_letter("missing") is False
    assert queue.stats()["pending"] == 1
    queue.register_handler("noop", echo)
    assert await queue.replay_all() == 2
    assert queue.stats()["dead"] == 0
    await queue.process_available()
    assert queue.stats()["dead"] == 3
    assert await queue.purge_dead_letters() == 3
    assert queue.dead_letters() == []


async def test_idempotency_key_returns_the_first_id(queue: PersistentRequestQueue) -> None:
    seen = recorder(queue)
    first = await queue.enqueue(RetryableRequest("record", args=[1], idempotency_key="k"))
    again = await queue.enqueue(RetryableRequest("record", args=[2], idempotency_key="k"))
    same_batch = await asyncio.gather(
        *(
            queue.enqueue(RetryableRequest("record", args=[3], idempotency_key="k2"))
            for _ in range(20)
        )
    )
    assert first == again
    assert len(set(same_batch)) == 1
    await queue.process_available()
    assert seen == [1, 3]
    # Still deduplicated after completion, within the key's time to live.
    assert await queue.enqueue(RetryableRequest("record", args=[4], idempotency_key="k")) == first
    assert queue.stats()["duplicates"] == 1 + 19 + 1


async def test_idempotency_key_expires_after_its_ttl(db_path: Path, clock: ManualClock) -> None:
    queue = PersistentRequestQueue(db_path, clock=clock, idempotency_ttl=60)
    try:
        first = await queue.enqueue(RetryableRequest("x", idempotency_key="k"))
        clock.advance(61)
        assert await queue.enqueue(RetryableRequest("x", idempotency_key="k")) != first
    finally:
        queue.close()


async def test_max_size_raises_queue_full_and_keeps_what_was_accepted(
    db_path: Path, clock: ManualClock
) -> None:
    queue = PersistentRequestQueue(db_path, max_size=3, clock=clock)
    try:
        outcomes = await asyncio.gather(
            *(queue.enqueue(RetryableRequest(echo, args=[i])) for i in range(5)),
            return_exceptions=True,
        )
        assert sum(isinstance(o, str) for o in outcomes) == 3
        assert sum(isinstance(o, QueueFullError) for o in outcomes) == 2
        with pytest.raises(QueueFullError, match="max_size=3"):
            queue.enqueue_sync(RetryableRequest(echo))
        assert await queue.process_available() == 3
        await queue.enqueue(RetryableRequest(echo))  # room again
        stats = queue.stats()
        assert (stats["rejected_full"], stats["done"], stats["pending"]) == (3, 3, 1)
    finally:
        queue.close()


async def test_async_and_sync_handlers_and_import_paths(queue: PersistentRequestQueue) -> None:
    await queue.enqueue(RetryableRequest(async_echo, args=[1], kwargs={"a": [1, 2]}))
    await queue.enqueue(RetryableRequest(echo, args=["x"]))
    await queue.enqueue(RetryableRequest("_queue_handlers:echo"))
    assert await queue.process_available() == 3
    assert queue.stats()["done"] == 3
    assert queue.stats()["failed"] == 0


async def test_unknown_handler_is_retried_then_dead_lettered(
    queue: PersistentRequestQueue,
) -> None:
    await queue.enqueue(RetryableRequest("nobody", max_retries=0))
    await queue.enqueue(RetryableRequest("no_such_module_xyz:f", max_retries=0))
    await queue.process_available()
    errors = sorted(d.last_error for d in queue.dead_letters())
    assert errors[0].startswith("LookupError: cannot import module 'no_such_module_xyz'")
    assert errors[1] == "LookupError: no handler registered as 'nobody'"


async def test_pending_requests_resume_after_restart(db_path: Path, clock: ManualClock) -> None:
    first = PersistentRequestQueue(db_path, clock=clock)
    ids = [first.enqueue_sync(RetryableRequest("record", args=[i])) for i in range(5)]
    first.close()
    second = PersistentRequestQueue(db_path, clock=clock)
    try:
        seen = recorder(second)
        assert second.stats()["pending"] == 5
        assert await second.process_available() == 5
        assert seen == list(range(5))
        assert len(set(ids)) == 5
    finally:
        second.close()


async def test_handler_sees_its_delivery_and_can_extend_its_lease(
    queue: PersistentRequestQueue, clock: ManualClock
) -> None:
    attempts: list[int] = []

    async def long_work() -> None:
        context = current_delivery()
        assert context is not None
        attempts.append(context.delivery.attempt)
        clock.advance(25)
        assert await context.extend(60)
        clock.advance(50)  # past the original 30 s lease, inside the extension

    queue.register_handler("long", long_work)
    await queue.enqueue(RetryableRequest("long"))
    assert await queue.process_available() == 1
    assert attempts == [1]
    assert queue.stats()["done"] == 1
    assert queue.stats()["lost_leases"] == 0
