"""Batch processor configuration, priorities and the records it hands back.

>>> BatchConfig(strategy=BatchStrategy.ADAPTIVE, priority_enabled=True, adaptive_window=100,
...             performance_target=100.0, backpressure_enabled=True, retry_enabled=True,
...             max_concurrent_batches=5).max_concurrent_batches
5
>>> BatchConfig(strategy="fastest")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
rebellion.errors.ConfigError: strategy must be one of 'time_based' | 'size_based' | ...
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, final

from ..._validate import (
    check_choice,
    check_duration,
    check_int,
    check_number,
    check_optional_number,
)
from ...errors import ConfigError
from ...policies._backoff import Backoff

__all__ = ["BatchConfig", "BatchPriority", "BatchResult", "BatchStrategy", "DeadLetter"]


class BatchStrategy(enum.StrEnum):
    """When a batch is formed and how big it is."""

    TIME_BASED = "time_based"  # every max_wait seconds, whatever is waiting
    SIZE_BASED = "size_based"  # as soon as max_batch_size items wait (or max_wait passed)
    ADAPTIVE = "adaptive"  # size tuned toward latency_target / performance_target
    PRIORITY = "priority"  # highest (aged) priority first
    LOAD_AWARE = "load_aware"  # smaller, spaced-out batches while load_signal is high


class BatchPriority(enum.IntEnum):
    """Priority levels; with aging, a waiting item climbs one level per ``aging_interval``."""

    LOW = 0
    NORMAL = 1
    HIGH = 2
    CRITICAL = 3


@final
@dataclass(frozen=True, slots=True)
class BatchConfig:
    """How a :class:`~rebellion.flow.BatchProcessor` batches, retries and sheds load.

    Args:
        strategy: a :class:`BatchStrategy` or its name.
        max_batch_size: most items per batch.
        min_batch_size: smallest batch ADAPTIVE and LOAD_AWARE shrink to.
        max_wait: seconds a partial batch may wait (TIME_BASED: the flush interval).
        max_queue_size: most items waiting; beyond it ``submit`` waits or raises.
        max_concurrent_batches: batches processed at the same time.
        priority_enabled: honour ``submit(priority=...)`` (always on for PRIORITY).
        aging_interval: seconds of waiting that lift an item one priority level.
        adaptive_window: batches the ADAPTIVE model remembers.
        latency_target: seconds one batch should take at most (ADAPTIVE).
        performance_target: items per second to reach (ADAPTIVE), or None.
        backpressure_enabled: a full queue makes ``submit`` wait (else QueueFullError).
        retry_enabled: retry a failed batch with ``backoff`` before splitting it.
        max_retries: retries of a whole batch after its first attempt.
        backoff: delays between retries.
        split_on_failure: bisect a batch that still fails, to isolate poison items.
        dead_letter_max_size: most dead letters kept (the oldest are discarded beyond).
        load_signal: returns the current load in [0, 1] (LOAD_AWARE); None reads the
            1-minute load average per CPU.
        load_threshold: load at which LOAD_AWARE starts shrinking and spacing batches.
        load_delay: pause between batches at full load (scaled by how far load is over).
        run_sync_in_thread: run a sync ``process_function`` in a worker thread so it
            cannot block the event loop (False: call it inline, for trivial functions).
        worker_pool_size: threads of this processor's own pool for a sync
            ``process_function`` (None: asyncio's shared default executor).
    """

    strategy: BatchStrategy | str = BatchStrategy.SIZE_BASED
    max_batch_size: int = 100
    min_batch_size: int = 1
    max_wait: float = 0.1
    max_queue_size: int = 10_000
    max_concurrent_batches: int = 1
    priority_enabled: bool = False
    aging_interval: float = 1.0
    adaptive_window: int = 20
    latency_target: float = 1.0
    performance_target: float | None = None
    backpressure_enabled: bool = True
    retry_enabled: bool = True
    max_retries: int = 3
    backoff: Backoff = field(default_factory=lambda: Backoff(0.1, 5.0, jitter="full"))
    split_on_failure: bool = True
    dead_letter_max_size: int = 10_000
    load_signal: Callable[[], float] | None = None
    load_threshold: float = 0.8
    load_delay: float = 0.5
    run_sync_in_thread: bool = True
    worker_pool_size: int | None = None

    def __post_init__(self) -> None:
        names = [s.value for s in BatchStrategy]
        strategy = BatchStrategy(check_choice("strategy", self.strategy, names))
        object.__setattr__(self, "strategy", strategy)
        largest = check_int("max_batch_size", self.max_batch_size, minimum=1)
        check_int("min_batch_size", self.min_batch_size, minimum=1, maximum=largest)
        check_duration("max_wait", self.max_wait, allow_inf=True)
        check_int("max_queue_size", self.max_queue_size, minimum=1)
        check_int("max_concurrent_batches", self.max_concurrent_batches, minimum=1)
        check_duration("aging_interval", self.aging_interval, exclusive_minimum=True)
        check_int("adaptive_window", self.adaptive_window, minimum=2)
        check_duration("latency_target", self.latency_target, exclusive_minimum=True)
        check_optional_number(
            "performance_target", self.performance_target, minimum=0.0, exclusive_minimum=True
        )
        check_int("max_retries", self.max_retries, minimum=0)
        if not isinstance(self.backoff, Backoff):
            raise ConfigError("backoff", "a rebellion Backoff", self.backoff)
        check_int("dead_letter_max_size", self.dead_letter_max_size, minimum=1)
        if self.load_signal is not None and not callable(self.load_signal):
            raise ConfigError("load_signal", "a callable returning a load in [0, 1]", None)
        check_number("load_threshold", self.load_threshold, minimum=0.0, maximum=1.0)
        check_duration("load_delay", self.load_delay)
        if self.worker_pool_size is not None:
            check_int("worker_pool_size", self.worker_pool_size, minimum=1, maximum=1024)
        for flag in (
            "priority_enabled",
            "backpressure_enabled",
            "retry_enabled",
            "split_on_failure",
            "run_sync_in_thread",
        ):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(flag, "True or False", getattr(self, flag))

    @property
    def uses_priority(self) -> bool:
        """Whether submissions are ordered by priority."""
        return self.priority_enabled or self.strategy is BatchStrategy.PRIORITY

    def as_dict(self) -> dict[str, object]:
        """Return the settings as plain data (for snapshots)."""
        return {
            "strategy": str(self.strategy),
            "max_batch_size": self.max_batch_size,
            "min_batch_size": self.min_batch_size,
            "max_wait": self.max_wait if math.isfinite(self.max_wait) else None,
            "max_queue_size": self.max_queue_size,
            "max_concurrent_batches": self.max_concurrent_batches,
            "max_retries": self.max_retries if self.retry_enabled else 0,
        }


@final
@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An item that kept failing, kept for inspection and replay."""

    item_id: int
    item: Any
    priority: int
    error: BaseException
    attempts: int
    submitted_at: float
    failed_at: float


@final
@dataclass(frozen=True, slots=True)
class BatchResult:
    """What became of one dispatched batch (passed to batch-complete callbacks).

    ``results`` holds the per-item values returned by ``process_function`` for the
    items that succeeded, in order (``None`` each when it returned no list).
    """

    batch_id: int
    succeeded: list[Any]
    results: list[Any]
    dead_lettered: list[DeadLetter]
    attempts: int
    duration: float

    @property
    def size(self) -> int:
        """How many items the batch held."""
        return len(self.succeeded) + len(self.dead_lettered)
