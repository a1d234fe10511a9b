"""One RequestQueue over either store: the same contract, and the old names still work."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from _queue_handlers import echo

from rebellion.durable import (
    PersistentRequestQueue,
    QueueStore,
    RedisQueueStore,
    RedisRequestQueue,
    RequestQueue,
    RetryableRequest,
    SqliteQueueStore,
)
from rebellion.errors import ConfigError, QueueFullError
from rebellion.policies._backoff import Backoff
from rebellion.testing import ManualClock


@pytest.fixture(params=["sqlite", "redis"])
async def any_queue(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> AsyncIterator[RequestQueue]:
    store: QueueStore
    if request.param == "sqlite":
        store = SqliteQueueStore(tmp_path / "q.db")
    else:
        store = RedisQueueStore(
            request.getfixturevalue("redis_url"),
            prefix=request.getfixturevalue("redis_namespace"),
        )
    queue = RequestQueue(
        store,
        max_size=5,
        clock=clock,
        retry_backoff=Backoff(initial_delay=1.0, max_delay=60.0, jitter="none"),
    )
    yield queue
    await queue.stop(grace=2)
    await queue.aclose()


async def test_one_contract_over_both_stores(any_queue: RequestQueue, clock: ManualClock) -> None:
    seen: list[Any] = []
    any_queue.register_handler("record", seen.append)
    fails: list[int] = []

    def flaky(value: int) -> None:
        fails.append(value)
        if len(fails) < 2:
            raise ValueError("first attempt fails")

    any_queue.register_handler("flaky", flaky)
    for i, priority in enumerate([0, 5, 0]):
        await any_queue.enqueue(RetryableRequest("record", args=[i]), priority)
    await any_queue.enqueue(RetryableRequest("flaky", args=[9], max_retries=1))
    keyed = RetryableRequest("record", args=["k"], idempotency_key="k1")
    assert await any_queue.enqueue(keyed) == await any_queue.enqueue(keyed)
    with pytest.raises(QueueFullError):
        await any_queue.enqueue(RetryableRequest("record"))
    assert await any_queue.process_available() == 5
    assert seen == [1, 0, 2, "k"]
    clock.advance(1.0)
    assert await any_queue.process_available() == 1
    stats = any_queue.stats()
    assert stats["backend"] == any_queue.store.backend
    assert (stats["done"], stats["pending"], stats["retried"], stats["duplicates"]) == (5, 0, 1, 1)
    assert stats["rejected_full"] == 1


def test_the_familiar_names_are_request_queues_over_a_store(tmp_path: Path, redis_url: str) -> None:
    queue = PersistentRequestQueue(tmp_path / "q.db", clock=ManualClock())
    assert isinstance(queue, RequestQueue)
    assert isinstance(queue.store, SqliteQueueStore)
    assert isinstance(queue.store, QueueStore)
    assert queue.storage_path == str(tmp_path / "q.db")
    assert repr(queue) == f"PersistentRequestQueue({str(tmp_path / 'q.db')!r}, max_size=1000)"
    queue.close()
    rqueue = RedisRequestQueue(redis_url, name="n")
    assert isinstance(rqueue.store, RedisQueueStore)
    assert (rqueue.redis_url, rqueue.prefix, rqueue.name) == (redis_url, "rebellion:queue", "n")
    rqueue.close()


def test_a_store_is_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^store must be a QueueStore"):
        RequestQueue(tmp_path / "q.db")  # type: ignore[arg-type]


def test_bad_queue_settings_close_the_store_they_opened(tmp_path: Path) -> None:
    threads = threading.active_count()
    with pytest.raises(ConfigError, match=r"^lease_timeout must be"):
        PersistentRequestQueue(tmp_path / "q.db", lease_timeout=0)
    assert threading.active_count() == threads  # the store's writer thread was stopped


async def test_a_failed_enqueue_of_the_same_request_reuses_its_id(tmp_path: Path) -> None:
    from rebellion.errors import StorageFullError

    queue = PersistentRequestQueue(
        tmp_path / "q.db", max_size=100_000, max_bytes=80 * 1024, clock=ManualClock()
    )
    try:
        request = RetryableRequest(echo, args=["p" * 2000])
        ids = set()
        for _ in range(1000):
            try:
                ids.add(await queue.enqueue(RetryableRequest(echo, args=["p" * 2000])))
            except StorageFullError:
                break
        else:
            pytest.fail("the 80 KiB cap was never reached")
        with pytest.raises(StorageFullError):
            await queue.enqueue(request)
        remembered = queue._unsettled[request]
        assert await queue.process_available(limit=5) == 5
        assert await queue.enqueue(request) == remembered  # the retry keeps its id
        assert request not in queue._unsettled
    finally:
        queue.close()
