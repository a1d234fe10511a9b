"""ADAPTIVE batch sizing: fit ``duration = overhead + per_item * size``, then choose.

Over the last ``window`` batches a least-squares line gives the fixed overhead ``f``
and per-item cost ``c``. Then:

* the latency target caps the size: ``size <= (latency_target - f) / c``;
* with ``k`` concurrent batches, throughput is ``k * size / (f + c * size)``; the
  smallest size reaching ``performance_target`` ``P`` is ``P * f / (k - P * c)``.

The tuner picks the smallest size that meets the throughput target (lower latency),
never above the latency cap, within ``[min_size, max_size]``. Without a throughput
target it picks the latency cap. While the sizes seen are all equal (no slope yet),
it probes: halfway toward the other end of the range.

>>> tuner = SizeTuner(1, 1000, window=10, latency_target=0.5, performance_target=None,
...                   concurrency=1)
>>> for size in (100, 200, 400):
...     tuner.observe(size, 0.01 + 0.001 * size)
>>> tuner.size
490
"""

from __future__ import annotations

import math
from collections import deque
from typing import final

__all__ = ["SizeTuner"]


@final
class SizeTuner:
    """Suggests the next batch size from observed batch durations."""

    __slots__ = ("_concurrency", "_latency", "_max", "_min", "_samples", "_target", "size")

    def __init__(
        self,
        min_size: int,
        max_size: int,
        *,
        window: int,
        latency_target: float,
        performance_target: float | None,
        concurrency: int,
    ) -> None:
        self._min = min_size
        self._max = max_size
        self._latency = latency_target
        self._target = performance_target
        self._concurrency = concurrency
        self._samples: deque[tuple[int, float]] = deque(maxlen=window)
        self.size = max_size

    def observe(self, size: int, duration: float) -> None:
        """Record that a batch of ``size`` items took ``duration`` seconds."""
        self._samples.append((size, max(0.0, duration)))
        fit = self._fit()
        if fit is None:
            # All sizes equal so far: probe another size to learn the slope.
            only = self._samples[-1][0]
            probe = (only + self._min) // 2 if only > self._min else (only + self._max + 1) // 2
            self.size = self._clamp(probe)
            return
        overhead, per_item = fit
        cap = self._max if per_item <= 0 else (self._latency - overhead) / per_item
        choice = cap
        if self._target is not None:
            spare = self._concurrency - self._target * per_item
            if spare > 0:
                choice = min(cap, self._target * overhead / spare)
        self.size = self._clamp(choice)

    def _fit(self) -> tuple[float, float] | None:
        samples = self._samples
        n = len(samples)
        mean_x = sum(s for s, _ in samples) / n
        mean_y = sum(d for _, d in samples) / n
        var = sum((s - mean_x) ** 2 for s, _ in samples)
        if var == 0:
            return None
        slope = sum((s - mean_x) * (d - mean_y) for s, d in samples) / var
        return max(0.0, mean_y - slope * mean_x), max(0.0, slope)

    def _clamp(self, value: float) -> int:
        if not math.isfinite(value):
            return self._max
        return max(self._min, min(self._max, int(value)))
