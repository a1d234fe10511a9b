"""When to form the next batch and how big: the strategies, without any I/O.

>>> from rebellion.flow.batch._queue import PendingQueue, Entry
>>> plan = Planner(BatchConfig(max_batch_size=2, max_wait=1.0))
>>> queue = PendingQueue(4, None)
>>> queue.push(Entry(1, "a", 1, 0.0))
>>> plan.decide(queue, now=0.5, stopping=False)   # partial batch: wait 0.5 s more
(0, 0.5)
>>> plan.decide(queue, now=1.0, stopping=False)
(1, None)
"""

from __future__ import annotations

import math
import os
from typing import final

from ._config import BatchConfig, BatchStrategy
from ._queue import PendingQueue
from ._tuner import SizeTuner

__all__ = ["Planner"]


def _load_average() -> float:
    try:
        return os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:  # not available on this platform
        return 0.0


@final
class Planner:
    """Applies a :class:`BatchConfig`'s strategy to the queue's current state."""

    __slots__ = ("_config", "_signal", "load", "next_flush", "tuner", "wake_at")

    def __init__(self, config: BatchConfig) -> None:
        self._config = config
        self.tuner: SizeTuner | None = None
        if config.strategy is BatchStrategy.ADAPTIVE:
            self.tuner = SizeTuner(
                config.min_batch_size,
                config.max_batch_size,
                window=config.adaptive_window,
                latency_target=config.latency_target,
                performance_target=config.performance_target,
                concurrency=config.max_concurrent_batches,
            )
        self._signal = config.load_signal or _load_average
        self.load = 0.0
        self.next_flush = 0.0
        self.wake_at = 1  # queue length at which a waiting dispatcher must look again

    def decide(self, queue: PendingQueue, now: float, stopping: bool) -> tuple[int, float | None]:
        """Return (items to take now, seconds to wait otherwise; None: until woken)."""
        queued = len(queue)
        if not queued:
            return 0, None
        target = self.target()
        self.wake_at = target
        if stopping:
            return min(queued, target), None
        config = self._config
        if config.strategy is BatchStrategy.TIME_BASED:
            if now >= self.next_flush:
                if queued <= target:
                    self.next_flush = now + config.max_wait
                return min(queued, target), None
            return 0, self.next_flush - now
        if queued >= target:
            return target, None
        oldest = queue.oldest()
        due = (oldest if oldest is not None else now) + config.max_wait
        if now >= due:
            return queued, None
        return 0, (due - now if math.isfinite(due) else None)

    def _overload(self) -> float:
        """How far the load is past the threshold, in [0, 1] (0: not loaded)."""
        config = self._config
        if self.load < config.load_threshold:
            return 0.0
        span = 1.0 - config.load_threshold
        return 1.0 if span <= 0 else min(1.0, (self.load - config.load_threshold) / span)

    def pause(self) -> float:
        """Return the seconds to wait after a dispatch (LOAD_AWARE under load)."""
        if self._config.strategy is not BatchStrategy.LOAD_AWARE:
            return 0.0
        return self._config.load_delay * self._overload()

    def target(self) -> int:
        """Return the size the next batch aims for."""
        config = self._config
        if self.tuner is not None:
            return self.tuner.size
        if config.strategy is BatchStrategy.LOAD_AWARE:
            load = float(self._signal())
            self.load = min(1.0, max(0.0, load)) if math.isfinite(load) else 0.0
            over = self._overload()
            if over > 0:
                shrunk = config.max_batch_size - over * (config.max_batch_size - 1)
                return max(config.min_batch_size, int(shrunk))
        return config.max_batch_size
