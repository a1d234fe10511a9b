"""Per-tier counters and a latency reservoir for the cache's ``stats()``.

>>> m = TierMetrics("disk")
>>> m.observe(True, 0.000012)
>>> m.snapshot()["hits"], m.snapshot()["latency_p50_us"]
(1, 12.0)
"""

from __future__ import annotations

import statistics
from collections import deque
from typing import final

__all__ = ["TierMetrics"]

_SAMPLES = 1024


@final
class TierMetrics:
    """Hits, misses, errors and the last ``_SAMPLES`` lookup latencies of one tier."""

    __slots__ = ("errors", "hits", "latencies", "misses", "name", "total_latency", "writes")

    def __init__(self, name: str) -> None:
        self.name = name
        self.hits = 0
        self.misses = 0
        self.errors = 0
        self.writes = 0
        self.total_latency = 0.0
        # deque.append with maxlen is atomic under the GIL: no lock on the read path.
        self.latencies: deque[float] = deque(maxlen=_SAMPLES)

    def observe(self, hit: bool, seconds: float) -> None:
        """Record one lookup and how long it took."""
        if hit:
            self.hits += 1
        else:
            self.misses += 1
        self.total_latency += seconds
        self.latencies.append(seconds)

    @property
    def mean_latency(self) -> float:
        """Mean of the recent latency samples in seconds (0 before any sample)."""
        samples = list(self.latencies)
        return statistics.fmean(samples) if samples else 0.0

    def snapshot(self) -> dict[str, float | int | None]:
        """Return counters, hit ratio and latency percentiles (microseconds)."""
        samples = sorted(self.latencies)
        lookups = self.hits + self.misses

        def pct(q: float) -> float | None:
            if not samples:
                return None
            return round(samples[min(len(samples) - 1, int(q * len(samples)))] * 1e6, 3)

        return {
            "hits": self.hits,
            "misses": self.misses,
            "errors": self.errors,
            "writes": self.writes,
            "hit_ratio": self.hits / lookups if lookups else 0.0,
            "latency_mean_us": round(statistics.fmean(samples) * 1e6, 3) if samples else None,
            "latency_p50_us": pct(0.5),
            "latency_p99_us": pct(0.99),
        }
