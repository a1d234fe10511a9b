"""Batch processor: the seed flow, failures (retry, bisection, dead letters), drain, limits."""

from __future__ import annotations

import asyncio
import random
import threading
from typing import Any

import pytest

from rebellion import QueueFullError, RejectedError
from rebellion.flow import (
    BatchConfig,
    BatchPriority,
    BatchProcessor,
    BatchResult,
    BatchStrategy,
    DeadLetter,
)
from rebellion.policies._backoff import Backoff
from rebellion.testing import ManualClock

NO_WAIT = Backoff(0.0, 0.0, jitter="none")


class Poison(Exception):
    """The failure of a poison item."""


def inline(**settings: Any) -> BatchConfig:
    settings.setdefault("run_sync_in_thread", False)
    settings.setdefault("backoff", NO_WAIT)
    return BatchConfig(**settings)


async def test_seed_example_works_as_written() -> None:
    batch_config = BatchConfig(
        strategy=BatchStrategy.ADAPTIVE,
        priority_enabled=True,
        adaptive_window=100,
        performance_target=100.0,
        backpressure_enabled=True,
        retry_enabled=True,
        max_concurrent_batches=5,
    )
    processed: list[Any] = []
    completed: list[BatchResult] = []
    errors: list[tuple[BaseException, list[Any]]] = []

    async def process_function(items: list[Any]) -> None:
        processed.extend(items)

    batch_processor = BatchProcessor("data_processor", process_function, batch_config)
    await batch_processor.start()
    item_id = await batch_processor.submit({"n": 0}, priority=BatchPriority.HIGH)
    await batch_processor.submit_batch([{"n": 1}, {"n": 2}, {"n": 3}])
    batch_processor.add_batch_complete_callback(lambda result: completed.append(result))
    batch_processor.add_error_callback(lambda error, items: errors.append((error, items)))
    metrics = await batch_processor.get_metrics()
    status = await batch_processor.get_queue_status()
    assert isinstance(item_id, int)
    assert metrics["submitted"] == 4
    assert status["queue_size"] + status["in_flight_items"] <= 4
    assert await batch_processor.stop() == 0
    assert sorted(x["n"] for x in processed) == [0, 1, 2, 3]
    assert errors == []


async def test_size_based_sends_full_batches_and_flushes_the_rest_on_stop() -> None:
    sizes: list[int] = []
    processor = BatchProcessor("s", lambda items: sizes.append(len(items)), inline())
    await processor.start()
    await processor.submit_batch(range(250))
    assert await processor.stop() == 0
    assert sizes == [100, 100, 50]
    stats = processor.stats()
    assert (stats["submitted"], stats["processed"], stats["dead_lettered"]) == (250, 250, 0)


async def test_partial_batch_waits_max_wait_in_virtual_time() -> None:
    clock = ManualClock(auto_advance=False)
    seen: list[int] = []
    config = inline(max_batch_size=10, max_wait=0.5)
    processor = BatchProcessor("w", seen.extend, config, clock=clock)
    await processor.start()
    await processor.submit_batch([1, 2, 3])
    await clock.advance_async(0.4)
    assert seen == []
    await clock.advance_async(0.2)
    assert seen == [1, 2, 3]
    await processor.stop()


async def test_poison_item_is_isolated_and_neighbours_succeed() -> None:
    calls: list[int] = []

    def process(items: list[int]) -> None:
        calls.append(len(items))
        if 13 in items:
            raise Poison("13 is poison")

    processor = BatchProcessor("p", process, inline(max_batch_size=32, max_retries=2))
    await processor.start()
    await processor.submit_batch(range(32))
    await processor.stop()
    letters = processor.dead_letters()
    assert [letter.item for letter in letters] == [13]
    assert isinstance(letters[0].error, Poison)
    stats = processor.stats()
    assert (stats["processed"], stats["dead_lettered"]) == (31, 1)
    assert stats["retries"] == 2
    assert len(calls) <= 3 + 2 * 5  # whole batch x3, then two calls per halving level


async def test_per_item_results_fail_only_the_items_that_say_so() -> None:
    results: list[BatchResult] = []

    def process(items: list[int]) -> list[object]:
        return [ValueError(x) if x % 5 == 0 else x * 10 for x in items]

    processor = BatchProcessor("r", process, inline(max_batch_size=10, max_retries=1))
    processor.add_batch_complete_callback(results.append)
    await processor.start()
    await processor.submit_batch(range(1, 11))
    await processor.stop()
    assert sorted(letter.item for letter in processor.dead_letters()) == [5, 10]
    assert results[0].succeeded == [1, 2, 3, 4, 6, 7, 8, 9]
    assert results[0].results == [10, 20, 30, 40, 60, 70, 80, 90]
    assert processor.stats()["splits"] == 0


async def test_transient_failure_is_retried_with_backoff_on_the_clock() -> None:
    clock = ManualClock()
    attempts: list[int] = []

    def process(items: list[int]) -> None:
        attempts.append(len(items))
        if len(attempts) <= 2:
            raise ConnectionError("flaky")

    backoff = Backoff(0.5, 10.0, backoff_factor=2.0, jitter="none")
    processor = BatchProcessor("t", process, inline(max_retries=3, backoff=backoff), clock=clock)
    await processor.start()
    await processor.submit_batch(range(5))
    await processor.stop()
    assert attempts == [5, 5, 5]
    assert clock.sleeps == [0.5, 1.0]
    assert processor.stats()["processed"] == 5


async def test_dead_letters_can_be_inspected_replayed_and_purged() -> None:
    broken = {"on": True}

    def process(items: list[int]) -> None:
        if broken["on"] and 3 in items:
            raise Poison("3")
        if broken["on"] and 4 in items:
            raise KeyError("4")

    processor = BatchProcessor("d", process, inline(max_batch_size=8, retry_enabled=False))
    await processor.start()
    await processor.submit_batch(range(8))
    for _ in range(50):  # let the dispatcher and batch tasks run (no clock waits)
        await asyncio.sleep(0)
    assert {x.item for x in processor.dead_letters()} == {3, 4}
    assert processor.purge_dead_letters(lambda x: isinstance(x.error, KeyError)) == 1
    broken["on"] = False
    assert processor.replay_dead_letters() == 1
    await processor.stop()
    assert processor.dead_letters() == []
    stats = processor.stats()
    assert stats["submitted"] + stats["replayed"] == stats["processed"] + stats["dead_lettered"]


async def test_full_queue_raises_without_backpressure() -> None:
    config = inline(max_queue_size=3, backpressure_enabled=False)
    processor = BatchProcessor("q", lambda items: None, config)
    await processor.submit_batch([1, 2])
    with pytest.raises(QueueFullError):
        await processor.submit_batch([3, 4])  # all or nothing
    await processor.submit(3)
    with pytest.raises(QueueFullError, match="full"):
        processor.submit_nowait(4)
    assert (await processor.get_queue_status())["queue_size"] == 3


async def test_full_queue_makes_submit_wait_with_backpressure() -> None:
    clock = ManualClock(auto_advance=False)
    processor = BatchProcessor("q", lambda items: None, inline(max_queue_size=2), clock=clock)
    await processor.submit_batch([1, 2])
    waiting = asyncio.ensure_future(processor.submit(3))
    timed = asyncio.ensure_future(processor.submit(4, timeout=1.0))
    await asyncio.sleep(0)
    await clock.advance_async(1.0)
    with pytest.raises(QueueFullError):
        await timed
    assert not waiting.done()
    await processor.start()
    assert await asyncio.wait_for(waiting, 1.0) == 3
    await processor.stop()
    assert processor.stats()["processed"] == 3


async def test_stop_with_timeout_returns_unfinished_items_to_the_queue() -> None:
    clock = ManualClock(auto_advance=False)
    release = asyncio.Event()

    async def slow(items: list[int]) -> None:
        await release.wait()

    processor = BatchProcessor("slow", slow, inline(max_batch_size=5), clock=clock)
    await processor.start()
    await processor.submit_batch(range(12))
    await asyncio.sleep(0)
    stopping = asyncio.ensure_future(processor.stop(timeout=2.0))
    await asyncio.sleep(0)
    await clock.advance_async(2.0)
    left = await stopping
    assert left == 12  # the cancelled batch's 5 items are back, nothing lost
    with pytest.raises(RejectedError, match="stopping"):
        processor.submit_nowait(99)


async def test_processor_can_restart_after_a_timed_out_stop() -> None:
    seen: list[int] = []
    processor = BatchProcessor("re", seen.extend, inline())
    await processor.submit_batch([1, 2])
    assert await processor.stop() == 2  # never started: nothing processed, nothing lost
    await processor.start()
    assert await processor.stop() == 0
    assert seen == [1, 2]


async def test_sync_function_runs_in_a_worker_thread_by_default() -> None:
    threads: list[int] = []
    processor = BatchProcessor(
        "th", lambda items: threads.append(threading.get_ident()), BatchConfig()
    )
    await processor.start()
    await processor.submit_batch([1, 2, 3])
    await processor.stop()
    assert threads
    assert threads[0] != threading.get_ident()


async def test_async_callbacks_are_awaited_and_raising_ones_are_skipped() -> None:
    seen: list[str] = []

    async def on_complete(result: BatchResult) -> None:
        seen.append(f"done {result.size}")

    def broken(result: BatchResult) -> None:
        raise RuntimeError("callback bug")

    async def on_error(error: BaseException, items: list[Any]) -> None:
        seen.append(f"error {items}")

    def process(items: list[int]) -> None:
        if items == [1, 2]:
            raise Poison("once")

    processor = BatchProcessor("cb", process, inline(max_batch_size=2, retry_enabled=False))
    processor.add_batch_complete_callback(broken)
    processor.add_batch_complete_callback(on_complete)
    processor.add_error_callback(on_error)
    await processor.start()
    await processor.submit_batch([1, 2])
    await processor.stop()
    assert seen[0] == "error [1, 2]"
    assert seen[-1] == "done 2"


async def test_thousands_of_tasks_keep_exact_accounting() -> None:
    rng = random.Random(5)
    bad = {i for i in range(3_000) if rng.random() < 0.01}

    async def process(items: list[int]) -> None:
        await asyncio.sleep(0)
        if bad.intersection(items):
            raise Poison("bad")

    config = inline(max_batch_size=50, max_concurrent_batches=4, max_queue_size=500)
    processor = BatchProcessor("many", process, config)
    await processor.start()
    await asyncio.gather(*(processor.submit(i) for i in range(3_000)))
    await processor.stop()
    stats = processor.stats()
    assert stats["submitted"] == 3_000
    assert stats["processed"] + stats["dead_lettered"] == 3_000
    assert {x.item for x in processor.dead_letters()} == bad


async def test_threads_can_submit_while_the_loop_processes() -> None:
    seen: list[int] = []
    processor = BatchProcessor("thr", seen.extend, inline(max_batch_size=16, max_wait=0.001))
    await processor.start()

    def produce(base: int) -> None:
        for i in range(200):
            while True:
                try:
                    processor.submit_nowait(base + i)
                    break
                except QueueFullError:  # pragma: no cover - depends on scheduling
                    pass

    threads = [threading.Thread(target=produce, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()

    def join_all() -> None:
        for t in threads:
            t.join()

    await asyncio.to_thread(join_all)
    await processor.stop()
    assert sorted(seen) == sorted(k * 1000 + i for k in range(4) for i in range(200))


def test_dead_letter_is_a_frozen_record() -> None:
    letter = DeadLetter(1, "x", 1, Poison("p"), 3, 0.0, 1.0)
    with pytest.raises(AttributeError):
        letter.item = "y"  # type: ignore[misc]
