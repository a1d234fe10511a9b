"""Backpressure handler: strategies, exact accounting, bounded memory, events, bad input."""

from __future__ import annotations

import asyncio
import random
import threading
import tracemalloc
from typing import Any

import pytest

from rebellion import ConfigError, QueueFullError, registry
from rebellion.flow import (
    BackpressureHandler,
    ItemsDropped,
    PressureChanged,
    get_backpressure_handler,
)
from rebellion.testing import ManualClock, RecordingListener

STRATEGIES = ["latest", "oldest", "priority", "sample", "block"]


def accounting_holds(bp: BackpressureHandler[Any]) -> dict[str, Any]:
    s = bp.stats()
    evicted = s["dropped"] - s["rejected"]
    assert s["received"] == s["accepted"] + s["rejected"]
    assert s["accepted"] == s["delivered"] + evicted + s["buffer_size"]
    assert s["dropped"] == sum(s["dropped_by_reason"].values())
    return s


def test_seed_example_works_as_written() -> None:
    bp = get_backpressure_handler(
        name="metrics_backpressure", max_buffer_size=100, sampling_strategy="latest"
    )
    for item in range(150):
        bp.add_item(item)
    batch = bp.get_batch(max_batch_size=10)
    assert batch == list(range(50, 60))
    assert get_backpressure_handler("metrics_backpressure") is bp
    assert bp in list(registry)


def test_registry_refuses_conflicting_settings() -> None:
    get_backpressure_handler(name="bp", max_buffer_size=10)
    with pytest.raises(ConfigError, match="max_buffer_size"):
        get_backpressure_handler(name="bp", max_buffer_size=20)


def test_latest_keeps_newest_and_counts_evictions() -> None:
    bp: BackpressureHandler[int] = BackpressureHandler("l", 3)
    assert all(bp.add_item(i) for i in range(10))
    assert bp.get_batch(10) == [7, 8, 9]
    s = accounting_holds(bp)
    assert s["dropped_by_reason"] == {"overflow_oldest": 7}
    assert (s["received"], s["accepted"], s["delivered"]) == (10, 10, 3)


def test_oldest_refuses_new_items_while_full() -> None:
    bp: BackpressureHandler[int] = BackpressureHandler("o", 3, "oldest")
    assert [bp.add_item(i) for i in range(5)] == [True, True, True, False, False]
    assert bp.get_batch(10) == [0, 1, 2]
    assert bp.add_item(9) is True
    assert accounting_holds(bp)["dropped_by_reason"] == {"overflow_newest": 2}


def test_priority_evicts_lowest_first_and_delivers_highest_first() -> None:
    bp: BackpressureHandler[str] = BackpressureHandler("p", 3, "priority")
    bp.add_item("low-a", priority=1)
    bp.add_item("high", priority=9)
    bp.add_item("low-b", priority=1)
    assert bp.add_item("mid", priority=5) is True  # evicts low-a, the oldest lowest
    assert bp.add_item("lowest", priority=0) is False  # below everything buffered
    assert bp.get_batch(10) == ["high", "mid", "low-b"]
    s = accounting_holds(bp)
    assert s["dropped_by_reason"] == {"evicted_low_priority": 1, "rejected_low_priority": 1}


def test_sample_keeps_a_uniform_reservoir_when_full() -> None:
    hits = [0] * 100
    for seed in range(200):
        bp: BackpressureHandler[int] = BackpressureHandler(
            "s", 10, "sample", adaptive_sampling=False, rng=random.Random(seed)
        )
        for i in range(100):
            bp.add_item(i)
        for item in bp.get_batch(10):
            hits[item] += 1
        accounting_holds(bp)
    first, last = sum(hits[:50]), sum(hits[50:])
    assert abs(first - last) < 0.2 * (first + last)  # early and late items equally likely


def test_adaptive_sampling_thins_input_as_pressure_rises_and_resets() -> None:
    recorder: RecordingListener[Any] = RecordingListener()
    bp: BackpressureHandler[int] = BackpressureHandler(
        "a", 100, "latest", adaptive_sampling=True, listeners=[recorder]
    )
    accepted = [bp.add_item(i) for i in range(400)]
    s = bp.stats()
    assert s["sampling_stride"] == 8  # above 90% fill: keep every 8th
    assert accepted[:50] == [True] * 50  # below 50%: keep all
    assert s["dropped_by_reason"]["sampled_out"] > 0
    bp.get_batch(100)
    bp.add_item(0)
    assert bp.stats()["sampling_stride"] == 1  # pressure fell: back to keeping all
    strides = [e.stride for e in recorder.of_type(PressureChanged)]
    assert strides == [2, 4, 8, 1]
    accounting_holds(bp)


def test_block_sync_add_raises_queue_full_and_counts_it() -> None:
    bp: BackpressureHandler[int] = BackpressureHandler("b", 2, "block")
    bp.add_item(1)
    bp.add_item(2)
    with pytest.raises(QueueFullError, match="full") as info:
        bp.add_item(3)
    assert info.value.policy == "b"
    assert accounting_holds(bp)["dropped_by_reason"] == {"rejected_full": 1}


async def test_block_async_producer_waits_for_space() -> None:
    bp: BackpressureHandler[int] = BackpressureHandler("b", 2, "block")
    await bp.add_item_async(1)
    await bp.add_item_async(2)
    waiting = asyncio.ensure_future(bp.add_item_async(3))
    await asyncio.sleep(0)
    assert not waiting.done()
    assert bp.stats()["waiting_producers"] == 1
    assert bp.get_batch(1) == [1]
    assert await waiting is True
    assert bp.get_batch(10) == [2, 3]
    assert accounting_holds(bp)["dropped"] == 0


async def test_block_async_timeout_uses_the_clock() -> None:
    clock = ManualClock(auto_advance=False)
    bp: BackpressureHandler[int] = BackpressureHandler("b", 1, "block", clock=clock)
    await bp.add_item_async(1)
    waiting = asyncio.ensure_future(bp.add_item_async(2, timeout=5.0))
    await asyncio.sleep(0)  # the producer starts waiting at t=0
    await clock.advance_async(4.9)
    assert not waiting.done()
    await clock.advance_async(0.2)
    with pytest.raises(QueueFullError):
        await waiting
    assert accounting_holds(bp)["dropped_by_reason"] == {"rejected_full": 1}


async def test_get_batch_async_waits_for_data_or_times_out() -> None:
    clock = ManualClock(auto_advance=False)
    bp: BackpressureHandler[int] = BackpressureHandler("g", 10, clock=clock)
    consumer = asyncio.ensure_future(bp.get_batch_async(5))
    await asyncio.sleep(0)
    assert not consumer.done()
    bp.add_item(7)
    assert await consumer == [7]
    timed = asyncio.ensure_future(bp.get_batch_async(5, timeout=1.0))
    await asyncio.sleep(0)
    await clock.advance_async(1.0)
    assert await timed == []


async def test_consumer_task_is_woken_by_a_producer_thread() -> None:
    bp: BackpressureHandler[int] = BackpressureHandler("x", 10)
    consumer = asyncio.ensure_future(bp.get_batch_async(5))
    await asyncio.sleep(0)
    thread = threading.Thread(target=bp.add_item, args=(1,))
    thread.start()
    thread.join()
    assert await asyncio.wait_for(consumer, 2.0) == [1]


def test_rates_follow_virtual_time() -> None:
    clock = ManualClock()
    bp: BackpressureHandler[int] = BackpressureHandler("r", 10_000, rate_window=10.0, clock=clock)
    for _second in range(20):
        for i in range(100):
            bp.add_item(i)
        bp.get_batch(50)
        clock.advance(1.0)
        bp.stats()
    s = bp.stats()
    assert s["in_rate"] == pytest.approx(100.0, rel=0.1)
    assert s["out_rate"] == pytest.approx(50.0, rel=0.1)


def test_drop_events_are_aggregated_not_per_item() -> None:
    clock = ManualClock()
    recorder: RecordingListener[Any] = RecordingListener()
    bp: BackpressureHandler[int] = BackpressureHandler(
        "e", 10, "oldest", clock=clock, listeners=[recorder], event_interval=1.0
    )
    for i in range(1000):
        bp.add_item(i)
    clock.advance(1.0)
    bp.add_item(0)
    drops = recorder.of_type(ItemsDropped)
    assert len(drops) <= 2
    bp.flush_events()
    drops = recorder.of_type(ItemsDropped)
    assert sum(e.count for e in drops) == 991
    assert {e.reason for e in drops} == {"overflow_newest"}


def test_latest_drop_events_report_derived_evictions() -> None:
    recorder: RecordingListener[Any] = RecordingListener()
    bp: BackpressureHandler[int] = BackpressureHandler("e", 10, listeners=[recorder])
    for i in range(25):
        bp.add_item(i)
    bp.flush_events()
    assert [(e.reason, e.count) for e in recorder.of_type(ItemsDropped)] == [
        ("overflow_oldest", 15)
    ]


@pytest.mark.parametrize("strategy", ["latest", "oldest", "priority", "sample"])
def test_stalled_consumer_keeps_memory_bounded(strategy: str) -> None:
    bp: BackpressureHandler[bytes] = BackpressureHandler("m", 100, strategy)
    payload = b"x" * 100
    for i in range(500):  # warm up to the steady state
        bp.add_item(bytes(payload), priority=i % 5)
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        for i in range(5_000):
            bp.add_item(bytes(payload), priority=i % 5)
        after, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(bp) <= 100
    assert after - before < 20_000  # 5k retained items of ~133 bytes would be ~665 kB
    accounting_holds(bp)


@pytest.mark.parametrize("strategy", ["latest", "oldest", "priority", "sample"])
def test_many_producer_threads_keep_exact_accounting(strategy: str) -> None:
    bp: BackpressureHandler[int] = BackpressureHandler("t", 50, strategy)
    delivered: list[int] = []
    stop = threading.Event()

    def produce(base: int) -> None:
        for i in range(1_000):
            bp.add_item(base + i, priority=i % 3)

    def consume() -> None:
        while not stop.is_set():
            delivered.extend(bp.get_batch(7))

    threads = [threading.Thread(target=produce, args=(k * 10_000,)) for k in range(8)]
    consumer = threading.Thread(target=consume)
    consumer.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    consumer.join()
    s = accounting_holds(bp)
    assert s["received"] == 8_000
    assert s["delivered"] == len(delivered) == len(set(delivered))
    assert len(bp) <= 50


async def test_thousands_of_tasks_keep_exact_accounting_with_block() -> None:
    bp: BackpressureHandler[int] = BackpressureHandler("k", 20, "block")
    got: list[int] = []

    async def consume() -> None:
        while len(got) < 2_000:
            got.extend(await bp.get_batch_async(13))

    consumer = asyncio.ensure_future(consume())
    await asyncio.gather(*(bp.add_item_async(i) for i in range(2_000)))
    await asyncio.wait_for(consumer, 5.0)
    assert sorted(got) == list(range(2_000))
    s = accounting_holds(bp)
    assert (s["received"], s["delivered"], s["dropped"]) == (2_000, 2_000, 0)


def test_stats_snapshot_shape() -> None:
    bp: BackpressureHandler[int] = BackpressureHandler("shape", 4)
    bp.add_item(1)
    s = bp.stats()
    assert s["kind"] == "backpressure"
    assert s["name"] == "shape"
    assert s["fill_ratio"] == 0.25
    assert s["strategy"] == "latest"
    assert "BackpressureHandler(name='shape'" in repr(bp)


@pytest.mark.parametrize(
    ("kwargs", "parameter", "detail"),
    [
        ({"name": ""}, "name", "non-empty"),
        ({"max_buffer_size": 0}, "max_buffer_size", ">= 1"),
        ({"max_buffer_size": 2.5}, "max_buffer_size", "integer"),
        ({"sampling_strategy": "newest"}, "sampling_strategy", "'latest' | 'oldest'"),
        ({"adaptive_sampling": "yes"}, "adaptive_sampling", "True, False or None"),
        ({"thresholds": [(0.9, 2), (0.5, 4)]}, "thresholds", "ascending"),
        ({"thresholds": [(1.5, 2)]}, "thresholds", "fill ratio"),
        ({"thresholds": [(0.5, 1)]}, "thresholds", "stride >= 2"),
        ({"thresholds": "fast"}, "thresholds", "pairs"),
        ({"rate_window": 0}, "rate_window", "> 0"),
        ({"event_interval": -1}, "event_interval", ">= 0"),
        ({"clock": object()}, "clock", "Clock"),
        ({"listeners": [1]}, "listeners", "callables"),
        ({"rng": 4}, "rng", "random.Random"),
    ],
)
def test_bad_input_names_the_parameter(kwargs: dict[str, Any], parameter: str, detail: str) -> None:
    settings: dict[str, Any] = {"name": "bad", **kwargs}
    with pytest.raises(ConfigError) as info:
        BackpressureHandler(**settings)
    assert str(info.value).startswith(parameter)
    assert detail in str(info.value)


def test_unknown_strategy_lists_every_valid_one() -> None:
    with pytest.raises(ConfigError) as info:
        BackpressureHandler("bad", sampling_strategy="fifo")
    for strategy in STRATEGIES:
        assert repr(strategy) in str(info.value)


@pytest.mark.parametrize("size", [0, -1, 1.5, True])
def test_get_batch_rejects_bad_sizes(size: Any) -> None:
    bp: BackpressureHandler[int] = BackpressureHandler("bad", 4)
    with pytest.raises(ConfigError, match="max_batch_size"):
        bp.get_batch(size)


def test_the_seed_000_names_work_with_a_default_name() -> None:
    from rebellion import BackpressureHandler as Handler

    handler = Handler(max_buffer_size=3)
    assert handler.name == "backpressure"
    for metric in range(5):
        assert handler.add_metric(metric)
    assert handler.process_metrics(2) == [2, 3]
    assert handler.process_metrics() == [4]
