"""Time-bucketed windows: recent samples for percentiles, recent counts for rates.

A window of ``seconds`` is a ring of ``buckets`` slots, each ``seconds / buckets`` wide
and stamped with its epoch (``int(now / width)``). A slot whose epoch is stale is
cleared when it is next written, and skipped when read, so nothing runs in the
background and time comes only from the caller (the collector's injectable clock).
A read covers the current (partial) slot plus the ``buckets - 1`` before it.

Percentiles are **exact** (NumPy's linear interpolation, like ``np.percentile``) while a
slot holds at most ``max_samples``; past that the slot keeps a uniform reservoir
sample (Algorithm R), so memory stays bounded, while count and sum stay exact. A sketch
(t-digest, DDSketch) would bound memory too, but costs microseconds of Python per
observation on the hot path and is approximate always; reads are rare (a scrape every
few seconds) and NumPy sorts a few thousand values in tens of microseconds.

>>> w = SampleWindow(seconds=60.0, buckets=6)
>>> for i in range(1, 101):
...     w.add(float(i), now=1.0)
>>> w.summary(now=1.0, quantiles=(0.5, 0.99))["quantiles"]
{'0.5': 50.5, '0.99': 99.01}
>>> w.summary(now=200.0, quantiles=(0.5,))["count"]
0
"""

from __future__ import annotations

import random
from array import array
from typing import final

import numpy as np

__all__ = ["RateWindow", "SampleWindow"]


@final
class SampleWindow:
    """Recent samples in a ring of time buckets (not thread-safe: the owner locks)."""

    __slots__ = (
        "_counts",
        "_epochs",
        "_random",
        "_sums",
        "_values",
        "buckets",
        "max_samples",
        "seconds",
        "width",
    )

    def __init__(self, seconds: float, buckets: int, max_samples: int = 1024) -> None:
        self.seconds = seconds
        self.buckets = buckets
        self.width = seconds / buckets
        self.max_samples = max_samples
        self._epochs = [-1] * buckets
        self._values = [array("d") for _ in range(buckets)]
        self._counts = [0] * buckets
        self._sums = [0.0] * buckets
        self._random = random.Random(0x5EED)

    def add(self, value: float, now: float) -> None:
        """Record ``value`` observed at monotonic time ``now``."""
        epoch = int(now // self.width)
        slot = epoch % self.buckets
        values = self._values[slot]
        if self._epochs[slot] != epoch:
            self._epochs[slot] = epoch
            del values[:]
            self._counts[slot] = 0
            self._sums[slot] = 0.0
        seen = self._counts[slot] = self._counts[slot] + 1
        self._sums[slot] += value
        if seen <= self.max_samples:
            values.append(value)
        else:
            j = self._random.randrange(seen)
            if j < self.max_samples:
                values[j] = value

    def _live(self, now: float) -> list[int]:
        current = int(now // self.width)
        oldest = current - self.buckets + 1
        return [s for s, e in enumerate(self._epochs) if oldest <= e <= current]

    def summary(self, now: float, quantiles: tuple[float, ...]) -> dict[str, object]:
        """Return count, sum, mean, min, max and ``quantiles`` of the live samples.

        Quantile keys are ``str(q)``; every statistic but count/sum is None when empty.
        """
        live = self._live(now)
        count = sum(self._counts[s] for s in live)
        total = sum(self._sums[s] for s in live)
        sample = np.concatenate([np.frombuffer(self._values[s]) for s in live]) if live else None
        if sample is None or sample.size == 0:
            return {
                "count": count,
                "sum": total,
                "mean": None,
                "min": None,
                "max": None,
                "quantiles": {str(q): None for q in quantiles},
            }
        points = np.percentile(sample, [q * 100.0 for q in quantiles]) if quantiles else []
        return {
            "count": count,
            "sum": total,
            "mean": total / count,
            "min": float(sample.min()),
            "max": float(sample.max()),
            "quantiles": {str(q): float(v) for q, v in zip(quantiles, points, strict=True)},
        }


@final
class RateWindow:
    """Recent event counts in a ring of time buckets (not thread-safe: the owner locks)."""

    __slots__ = ("_counts", "_epochs", "buckets", "seconds", "width")

    def __init__(self, seconds: float, buckets: int) -> None:
        self.seconds = seconds
        self.buckets = buckets
        self.width = seconds / buckets
        self._epochs = [-1] * buckets
        self._counts = [0.0] * buckets

    def add(self, amount: float, now: float) -> None:
        """Count ``amount`` events at monotonic time ``now``."""
        epoch = int(now // self.width)
        slot = epoch % self.buckets
        if self._epochs[slot] != epoch:
            self._epochs[slot] = epoch
            self._counts[slot] = amount
        else:
            self._counts[slot] += amount

    def total(self, now: float) -> float:
        """Return the events counted in the live buckets."""
        current = int(now // self.width)
        oldest = current - self.buckets + 1
        return sum(
            c for c, e in zip(self._counts, self._epochs, strict=True) if oldest <= e <= current
        )

    def rate(self, now: float, since: float) -> float:
        """Return events per second over the window, or since ``since`` if that is shorter.

        The span ends at the end of the current bucket's elapsed part: it is
        ``(buckets - 1) * width`` plus the time elapsed in the current bucket.
        """
        partial = now - (now // self.width) * self.width
        span = min((self.buckets - 1) * self.width + partial, now - since)
        if span <= 0.0:
            return 0.0
        return self.total(now) / span
