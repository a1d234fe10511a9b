"""RedisRequestQueue against a real Redis: the same contract as the SQLite queue."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
from _queue_handlers import boom, echo
from _queue_helpers import until

from rebellion.durable import RetryableRequest, current_delivery
from rebellion.durable.queue.redis_queue import RedisRequestQueue
from rebellion.errors import ConfigError, QueueFullError
from rebellion.policies._backoff import Backoff
from rebellion.testing import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(auto_advance=False)


@pytest.fixture
async def rqueue(
    redis_url: str, redis_namespace: str, clock: ManualClock
) -> AsyncIterator[RedisRequestQueue]:
    queue = RedisRequestQueue(
        redis_url,
        max_size=1000,
        clock=clock,
        prefix=redis_namespace,
        lease_timeout=30.0,
        retry_backoff=Backoff(initial_delay=1.0, max_delay=60.0, jitter="none"),
    )
    yield queue
    await queue.stop(grace=2)
    await queue.aclose()


def recorder(queue: RedisRequestQueue) -> list[Any]:
    seen: list[Any] = []
    queue.register_handler("record", seen.append)
    return seen


async def test_priorities_then_fifo(rqueue: RedisRequestQueue) -> None:
    seen = recorder(rqueue)
    for i, priority in enumerate([0, 5, -1, 5, 10, 0]):
        await rqueue.enqueue(RetryableRequest("record", args=[f"{priority}/{i}"]), priority)
    assert await rqueue.process_available() == 6
    assert seen == ["10/4", "5/1", "5/3", "0/0", "0/5", "-1/2"]
    assert rqueue.stats()["done"] == 6


async def test_delays_use_the_queue_clock(rqueue: RedisRequestQueue, clock: ManualClock) -> None:
    seen = recorder(rqueue)
    await rqueue.enqueue(RetryableRequest("record", args=["later"]), delay=10)
    await rqueue.enqueue(RetryableRequest("record", args=["now"]))
    assert await rqueue.process_available() == 1
    assert rqueue.stats()["delayed"] == 1
    clock.advance(10)
    assert await rqueue.process_available() == 1
    assert seen == ["now", "later"]


async def test_retries_with_backoff_then_dead_letter_and_replay(
    rqueue: RedisRequestQueue, clock: ManualClock
) -> None:
    rid = await rqueue.enqueue(RetryableRequest(boom, args=["bad"], max_retries=1))
    assert await rqueue.process_available() == 1
    assert await rqueue.process_available() == 0
    clock.advance(1.0)
    assert await rqueue.process_available() == 1
    [letter] = rqueue.dead_letters()
    assert (letter.id, letter.deliveries, letter.last_error) == (rid, 2, "ValueError: bad")
    assert letter.args == ["bad"]
    assert await rqueue.replay_dead_letter(rid) is True
    assert await rqueue.replay_dead_letter("unknown") is False
    assert rqueue.stats()["dead"] == 0
    assert rqueue.stats()["pending"] == 1
    assert await rqueue.process_available() == 1  # fails again: a retry is scheduled
    stats = rqueue.stats()
    assert (stats["dead"], stats["delayed"], stats["retried"]) == (0, 1, 2)


async def test_purge_dead_letters(rqueue: RedisRequestQueue) -> None:
    for _ in range(3):
        await rqueue.enqueue(RetryableRequest(boom, max_retries=0))
    await rqueue.process_available()
    assert rqueue.stats()["dead"] == 3
    assert await rqueue.purge_dead_letters() == 3
    assert rqueue.dead_letters() == []


async def test_idempotency_via_set_nx(rqueue: RedisRequestQueue) -> None:
    first = await rqueue.enqueue(RetryableRequest(echo, idempotency_key="k"))
    ids = await asyncio.gather(
        *(rqueue.enqueue(RetryableRequest(echo, idempotency_key="k")) for _ in range(10))
    )
    assert set(ids) == {first}
    assert rqueue.stats()["pending"] == 1
    assert rqueue.stats()["duplicates"] == 10


async def test_max_size_raises_queue_full(rqueue: RedisRequestQueue, redis_url: str) -> None:
    small = RedisRequestQueue(redis_url, max_size=2, prefix=rqueue.prefix, name="small")
    try:
        await small.enqueue(RetryableRequest(echo))
        small.enqueue_sync(RetryableRequest(echo))
        with pytest.raises(QueueFullError, match="max_size=2"):
            await small.enqueue(RetryableRequest(echo))
        assert small.stats()["rejected_full"] == 1
    finally:
        await small.aclose()


@pytest.mark.e2e
async def test_expired_lease_is_autoclaimed_and_stale_ack_refused(
    rqueue: RedisRequestQueue,
) -> None:
    # Lease expiry runs on the Redis server's clock (XAUTOCLAIM idle time): a 20 ms lease.
    rid = await rqueue.enqueue(RetryableRequest(echo))
    first = await rqueue.claim(lease=0.02)
    assert first is not None
    await asyncio.sleep(0.03)
    second = await rqueue.claim(lease=0.02)
    assert second is not None
    assert (second.id, second.attempt) == (rid, 2)
    assert await rqueue.ack(first) is False
    assert await rqueue.ack(second) is True
    assert rqueue.stats()["leased"] == 0


async def test_release_and_extend(rqueue: RedisRequestQueue) -> None:
    await rqueue.enqueue(RetryableRequest(echo))
    delivery = await rqueue.claim()
    assert delivery is not None
    assert await rqueue.claim() is None  # leased
    assert await rqueue.extend_lease(delivery, 10)
    assert await rqueue._release(delivery)
    again = await rqueue.claim()
    assert again is not None
    assert again.attempt == 1  # the released delivery did not count


async def test_concurrent_producers_and_workers_exact_accounting(
    redis_url: str, redis_namespace: str
) -> None:
    queue = RedisRequestQueue(redis_url, max_size=10_000, prefix=redis_namespace, name="c")
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def handle(i: int) -> None:
        context = current_delivery()
        assert context is not None
        with lock:
            seen[context.delivery.id] += 1

    queue.register_handler("handle", handle)
    workers = asyncio.create_task(queue.process_queue(concurrency=4))
    ids = await asyncio.gather(
        *(queue.enqueue(RetryableRequest("handle", args=[i]), i % 3) for i in range(200))
    )
    await until(lambda: queue.stats()["done"] == 200, within=20)
    await queue.stop()
    await workers
    stats = queue.stats()
    await queue.aclose()
    assert set(seen) == set(ids)
    assert max(seen.values()) == 1
    assert (stats["processed"], stats["pending"], stats["leased"]) == (200, 0, 0)


def test_bad_redis_parameters_are_named(redis_url: str) -> None:
    with pytest.raises(ConfigError, match=r"^redis_url\b"):
        RedisRequestQueue("localhost:6379")
    for kwargs, parameter in [
        ({"max_size": 0}, "max_size"),
        ({"name": ""}, "name"),
        ({"prefix": " x"}, "prefix"),
        ({"lease_timeout": 0}, "lease_timeout"),
        ({"retry_backoff": 1}, "retry_backoff"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"idempotency_ttl": -1}, "idempotency_ttl"),
        ({"clock": object()}, "clock"),
        ({"max_connections": 0}, "max_connections"),
    ]:
        with pytest.raises(ConfigError, match=rf"^{parameter}\b"):
            RedisRequestQueue(redis_url, **kwargs)  # type: ignore[arg-type]
