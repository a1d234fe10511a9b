"""Batch strategies on virtual time: time-based, priority aging, adaptive, load-aware; bad input."""

from __future__ import annotations

from typing import Any

import pytest

from rebellion import ConfigError
from rebellion.flow import BatchConfig, BatchPriority, BatchProcessor, BatchStrategy
from rebellion.flow.batch._tuner import SizeTuner
from rebellion.testing import ManualClock


def inline(**settings: Any) -> BatchConfig:
    settings.setdefault("run_sync_in_thread", False)
    return BatchConfig(**settings)


async def test_time_based_flushes_on_the_interval_only() -> None:
    clock = ManualClock(auto_advance=False)
    sizes: list[tuple[float, int]] = []
    config = inline(strategy="time_based", max_batch_size=100, max_wait=1.0)
    processor = BatchProcessor(
        "tb", lambda items: sizes.append((clock.monotonic(), len(items))), config, clock=clock
    )
    await processor.start()
    await processor.submit_batch(range(150))
    await clock.advance_async(0.9, settle=20)
    assert sizes == []
    await clock.advance_async(0.1, settle=20)
    assert sizes == [(1.0, 100), (1.0, 50)]
    await processor.submit_batch(range(3))
    await clock.advance_async(0.5, settle=20)
    assert len(sizes) == 2
    await clock.advance_async(0.5, settle=20)
    assert sizes[-1] == (2.0, 3)
    await processor.stop()


async def test_priority_serves_high_first_and_aging_prevents_starvation() -> None:
    clock = ManualClock(auto_advance=False)
    order: list[str] = []
    config = inline(strategy="priority", max_batch_size=1, max_wait=0.0, aging_interval=1.0)
    processor = BatchProcessor("pr", order.extend, config, clock=clock)
    await processor.submit("low", priority=BatchPriority.LOW)
    await processor.submit("critical-0", priority=BatchPriority.CRITICAL)
    await processor.start()
    await clock.advance_async(0.0, settle=20)
    assert order[0] == "critical-0"
    # A flood of fresh critical work, one item per 0.5 s: without aging "low" starves.
    for step in range(1, 20):
        await processor.submit(f"critical-{step}", priority=BatchPriority.CRITICAL)
        await processor.submit(f"critical-{step}b", priority=BatchPriority.CRITICAL)
        await clock.advance_async(0.5, settle=20)
        if "low" in order:
            break
    served_at = order.index("low")
    assert clock.monotonic() <= 3.5  # levels (3) x aging (1 s), plus one step
    assert served_at < len(order)
    await processor.stop()


async def test_adaptive_converges_to_the_latency_target() -> None:
    clock = ManualClock()

    async def process(items: list[int]) -> None:
        await clock.sleep_async(0.05 + 0.002 * len(items))  # 50 ms + 2 ms per item

    config = inline(
        strategy=BatchStrategy.ADAPTIVE, max_batch_size=1000, latency_target=0.25, max_wait=0.0
    )
    processor = BatchProcessor("ad", process, config, clock=clock)
    await processor.start()
    await processor.submit_batch(range(5_000))
    await processor.stop()
    assert processor.target_batch_size() == 100  # (0.25 - 0.05) / 0.002
    assert processor.stats()["processed"] == 5_000


def test_tuner_picks_the_smallest_size_meeting_the_throughput_target() -> None:
    tuner = SizeTuner(
        1, 1000, window=10, latency_target=10.0, performance_target=500.0, concurrency=1
    )
    for size in (10, 50, 100):
        tuner.observe(size, 0.1 + 0.001 * size)  # 100 ms overhead, 1 ms per item
    assert tuner.size == 100  # 500 * 0.1 / (1 - 500 * 0.001)


async def test_load_aware_shrinks_and_spaces_batches_under_load() -> None:
    clock = ManualClock()
    load = {"now": 0.0}
    sizes: list[int] = []
    config = inline(
        strategy="load_aware",
        max_batch_size=100,
        load_signal=lambda: load["now"],
        load_threshold=0.5,
        load_delay=2.0,
    )
    processor = BatchProcessor("la", lambda items: sizes.append(len(items)), config, clock=clock)
    await processor.start()
    await processor.submit_batch(range(200))
    await processor.stop()
    assert sizes == [100, 100]
    assert clock.sleeps == []
    load["now"] = 0.9
    await processor.start()
    await processor.submit_batch(range(100))
    await processor.stop()
    assert max(sizes[2:]) <= 21  # 100 - 0.8 * 99
    assert sum(sizes[2:]) == 100
    assert processor.stats()["load"] == 0.9


@pytest.mark.parametrize(
    ("settings", "parameter", "detail"),
    [
        ({"strategy": "fastest"}, "strategy", "'time_based' | 'size_based' | 'adaptive'"),
        ({"max_batch_size": 0}, "max_batch_size", ">= 1"),
        ({"min_batch_size": 500}, "min_batch_size", "[1, 100]"),
        ({"max_wait": -1}, "max_wait", "[0, 1e+09]"),
        ({"max_queue_size": 0}, "max_queue_size", ">= 1"),
        ({"max_concurrent_batches": 0}, "max_concurrent_batches", ">= 1"),
        ({"priority_enabled": "yes"}, "priority_enabled", "True or False"),
        ({"aging_interval": 0}, "aging_interval", "[1e-09, 1e+09]"),
        ({"adaptive_window": 1}, "adaptive_window", ">= 2"),
        ({"latency_target": 0}, "latency_target", "[1e-09, 1e+09]"),
        ({"performance_target": -5.0}, "performance_target", "> 0"),
        ({"backpressure_enabled": 1}, "backpressure_enabled", "True or False"),
        ({"retry_enabled": None}, "retry_enabled", "True or False"),
        ({"max_retries": -1}, "max_retries", ">= 0"),
        ({"backoff": 0.5}, "backoff", "Backoff"),
        ({"split_on_failure": "no"}, "split_on_failure", "True or False"),
        ({"dead_letter_max_size": 0}, "dead_letter_max_size", ">= 1"),
        ({"load_signal": 0.7}, "load_signal", "callable"),
        ({"load_threshold": 1.5}, "load_threshold", "[0, 1]"),
        ({"load_delay": -1}, "load_delay", "[0, 1e+09]"),
        ({"run_sync_in_thread": "sometimes"}, "run_sync_in_thread", "True or False"),
    ],
)
def test_bad_config_names_the_parameter(
    settings: dict[str, Any], parameter: str, detail: str
) -> None:
    with pytest.raises(ConfigError) as info:
        BatchConfig(**settings)
    assert str(info.value).startswith(parameter)
    assert detail in str(info.value)


@pytest.mark.parametrize(
    ("args", "kwargs", "parameter"),
    [
        (("", print), {}, "name"),
        (("ok", 42), {}, "process_function"),
        (("ok", print, {"max_batch_size": 5}), {}, "config"),
        (("ok", print), {"clock": "now"}, "clock"),
        (("ok", print), {"listeners": [3]}, "listeners"),
    ],
)
def test_bad_processor_arguments_name_the_parameter(
    args: tuple[Any, ...], kwargs: dict[str, Any], parameter: str
) -> None:
    with pytest.raises(ConfigError) as info:
        BatchProcessor(*args, **kwargs)
    assert str(info.value).startswith(parameter)


@pytest.mark.parametrize("priority", [7, -1, "HIGH", 1.0])
async def test_bad_priority_lists_the_levels(priority: Any) -> None:
    processor = BatchProcessor("bp", print, inline())
    with pytest.raises(ConfigError) as info:
        await processor.submit("x", priority=priority)
    assert "LOW | NORMAL | HIGH | CRITICAL" in str(info.value)
