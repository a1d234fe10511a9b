"""In/out rates over a sliding window, from counters sampled now and then.

Nothing is recorded per item: callers sample cumulative counters when they already
hold the lock (a batch taken, a snapshot read), and a rate is the difference against
the oldest sample still inside the window.

>>> rates = RateWindow(window=10.0)
>>> rates.sample(0.0, 0, 0)
>>> rates.sample(5.0, 500, 100)
>>> rates.rates(5.0, 500, 100)
(100.0, 20.0)
"""

from __future__ import annotations

from collections import deque
from typing import final

__all__ = ["RateWindow"]


@final
class RateWindow:
    """Rates per second of two cumulative counters over the last ``window`` seconds."""

    __slots__ = ("_granularity", "_samples", "window")

    def __init__(self, window: float) -> None:
        self.window = window
        # At most ~20 samples per window: a bounded ring, whatever the call rate.
        self._granularity = window / 20.0
        self._samples: deque[tuple[float, int, int]] = deque()

    def sample(self, now: float, first: int, second: int) -> None:
        """Record the counters' values at ``now`` (cheap; coalesces close samples)."""
        samples = self._samples
        if samples and now - samples[-1][0] < self._granularity and len(samples) > 1:
            samples[-1] = (now, first, second)
        else:
            samples.append((now, first, second))
        horizon = now - self.window
        # Keep the newest sample at or before the horizon as the baseline.
        while len(samples) > 1 and samples[1][0] <= horizon:
            samples.popleft()

    def rates(self, now: float, first: int, second: int) -> tuple[float, float]:
        """Return the per-second rates of both counters since the window's baseline."""
        if not self._samples:
            return 0.0, 0.0
        since, base_first, base_second = self._samples[0]
        elapsed = now - since
        if elapsed <= 0.0:
            return 0.0, 0.0
        return (first - base_first) / elapsed, (second - base_second) / elapsed
