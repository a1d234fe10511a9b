"""O(1) sliding windows for the circuit breaker: a ring of slots or buckets + running totals.

A window answers "how many calls, failures, slow calls and throttled requests in the
recent past" in constant time per recorded outcome, as Resilience4j's
``SlidingTimeWindowMetrics`` does.

>>> window = CountWindow(4)
>>> for outcome in (SUCCESS, FAILED, FAILED | SLOW, SUCCESS, FAILED):
...     window.record(outcome, now=0.0)
>>> window.totals(0.0)
(4, 3, 1, 0)
"""

from __future__ import annotations

from typing import Protocol, final

__all__ = ["FAILED", "SLOW", "SUCCESS", "THROTTLED", "CountWindow", "TimeWindow", "Window"]

SUCCESS = 0
FAILED = 1
SLOW = 2
THROTTLED = 4  # a request refused by adaptive throttling: counts as a request, not a call

Totals = tuple[int, int, int, int]
"""(calls, failures, slow calls, throttled requests)."""


class Window(Protocol):
    def record(self, outcome: int, now: float) -> None: ...

    def totals(self, now: float) -> Totals: ...

    def clear(self) -> None: ...


def _deltas(outcome: int) -> Totals:
    if outcome & THROTTLED:
        return (0, 0, 0, 1)
    return (1, outcome & FAILED, (outcome & SLOW) >> 1, 0)


@final
class CountWindow:
    """The last ``size`` outcomes."""

    __slots__ = ("_calls", "_failures", "_index", "_ring", "_size", "_slow", "_throttled", "_used")

    def __init__(self, size: int) -> None:
        self._size = size
        self.clear()

    def clear(self) -> None:
        self._ring = bytearray(self._size)
        self._used = 0
        self._index = 0
        self._calls = self._failures = self._slow = self._throttled = 0

    def record(self, outcome: int, now: float) -> None:
        index = self._index
        if self._used == self._size:
            calls, failures, slow, throttled = _deltas(self._ring[index])
            self._calls -= calls
            self._failures -= failures
            self._slow -= slow
            self._throttled -= throttled
        else:
            self._used += 1
        self._ring[index] = outcome
        calls, failures, slow, throttled = _deltas(outcome)
        self._calls += calls
        self._failures += failures
        self._slow += slow
        self._throttled += throttled
        index += 1
        self._index = 0 if index == self._size else index

    def totals(self, now: float) -> Totals:
        return (self._calls, self._failures, self._slow, self._throttled)


@final
class TimeWindow:
    """Outcomes of the last ``seconds``, in ``buckets`` buckets of equal width."""

    __slots__ = ("_buckets", "_counts", "_head", "_totals", "_width")

    def __init__(self, seconds: float, buckets: int) -> None:
        self._width = seconds / buckets
        self._buckets = buckets
        self.clear()

    def clear(self) -> None:
        # One flat list of 4 counters per bucket keeps allocation out of record().
        self._counts = [0] * (4 * self._buckets)
        self._totals = [0, 0, 0, 0]
        self._head = -(1 << 62)

    def _roll(self, now: float) -> int:
        bucket = int(now // self._width)
        head = self._head
        if bucket > head:
            stale = min(bucket - head, self._buckets)
            counts, totals = self._counts, self._totals
            for step in range(stale):
                base = ((bucket - step) % self._buckets) * 4
                for k in range(4):
                    totals[k] -= counts[base + k]
                    counts[base + k] = 0
            self._head = bucket
        return self._head

    def record(self, outcome: int, now: float) -> None:
        base = (self._roll(now) % self._buckets) * 4
        deltas = _deltas(outcome)
        counts, totals = self._counts, self._totals
        for k in range(4):
            counts[base + k] += deltas[k]
            totals[k] += deltas[k]

    def totals(self, now: float) -> Totals:
        self._roll(now)
        calls, failures, slow, throttled = self._totals
        return (calls, failures, slow, throttled)
