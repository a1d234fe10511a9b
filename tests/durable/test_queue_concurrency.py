"""Many concurrent producers (tasks and threads) and several workers: exact accounting."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path

from _queue_helpers import until

from rebellion.durable import PersistentRequestQueue, RetryableRequest, current_delivery
from rebellion.policies._backoff import Backoff


async def test_hundreds_of_producers_and_several_workers_process_everything_once(
    tmp_path: Path,
) -> None:
    queue = PersistentRequestQueue(tmp_path / "q.db", max_size=10_000)
    seen: Counter[str] = Counter()
    lock = threading.Lock()

    def handle(producer: str, index: int) -> None:
        context = current_delivery()
        assert context is not None
        with lock:
            seen[context.delivery.id] += 1

    queue.register_handler("handle", handle)
    workers = asyncio.create_task(queue.process_queue(concurrency=4))
    thread_ids: list[str] = []

    def produce(thread: int) -> None:
        for i in range(25):
            rid = queue.enqueue_sync(RetryableRequest("handle", args=[f"t{thread}", i]))
            with lock:
                thread_ids.append(rid)

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    task_ids = await asyncio.gather(
        *(queue.enqueue(RetryableRequest("handle", args=["task", i]), i % 3) for i in range(300))
    )
    for thread in threads:
        await asyncio.to_thread(thread.join)
    expected = set(task_ids) | set(thread_ids)
    assert len(expected) == 400
    await until(lambda: queue.stats()["done"] == 400, within=20)
    await queue.stop()
    await workers
    stats = queue.stats()
    queue.close()
    assert set(seen) == expected
    assert max(seen.values()) == 1
    assert (stats["enqueued"], stats["processed"], stats["done"]) == (400, 400, 400)
    assert (stats["pending"], stats["leased"], stats["failed"]) == (0, 0, 0)
    assert stats["mean_commit_batch"] > 1.5  # concurrent writes shared commits


async def test_failures_under_concurrency_are_retried_and_counted_exactly(
    tmp_path: Path,
) -> None:
    queue = PersistentRequestQueue(
        tmp_path / "q.db", retry_backoff=Backoff(initial_delay=0.0, max_delay=0.0)
    )
    attempts: Counter[int] = Counter()

    async def sometimes(index: int) -> None:
        attempts[index] += 1
        if index % 3 == 0 and attempts[index] == 1:
            raise ConnectionError(f"first try of {index} fails")

    queue.register_handler("sometimes", sometimes)
    workers = asyncio.create_task(queue.process_queue(concurrency=3))
    await asyncio.gather(
        *(queue.enqueue(RetryableRequest("sometimes", args=[i])) for i in range(150))
    )
    await until(lambda: queue.stats()["done"] == 150, within=20)
    await queue.stop()
    await workers
    stats = queue.stats()
    queue.close()
    assert sorted(attempts) == list(range(150))
    assert sum(attempts.values()) == 150 + 50
    assert (stats["processed"], stats["failed"], stats["retried"], stats["dead"]) == (
        150,
        50,
        50,
        0,
    )


async def test_two_queue_objects_on_one_file_share_the_work(tmp_path: Path) -> None:
    producer = PersistentRequestQueue(tmp_path / "q.db")
    consumer = PersistentRequestQueue(tmp_path / "q.db", poll_interval=0.01)
    got: list[int] = []
    consumer.register_handler("take", got.append)
    workers = asyncio.create_task(consumer.process_queue(concurrency=2))
    for i in range(20):
        await producer.enqueue(RetryableRequest("take", args=[i]))
    await until(lambda: len(got) == 20)
    await consumer.stop()
    await workers
    producer.close()
    consumer.close()
    assert sorted(got) == list(range(20))
