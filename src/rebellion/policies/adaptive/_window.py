"""Aggregate samples into windows so an algorithm updates about once per round trip.

Updating on every sample reacts to the limit it set one round trip ago, again and
again, and oscillates. As Netflix's ``WindowedLimit`` does, samples are averaged over
a window that lasts twice the smallest RTT seen in it (bounded by ``min_window`` and
``max_window``, at least ``min_samples`` samples); at the end of the window the
algorithm sees one sample: the average RTT, the largest in-flight count and whether
any call was dropped. Pure: times come from the samples themselves.

>>> from rebellion.policies.adaptive._algorithms import AIMDLimit
>>> window = SampleWindow(AIMDLimit(initial_limit=10), min_samples=2, max_window=1.0)
>>> window.add(started=0.0, rtt=0.1, inflight=10, dropped=False)
False
>>> window.add(started=0.2, rtt=0.1, inflight=10, dropped=False), window.algorithm.limit
(True, 11)
"""

from __future__ import annotations

import math
from typing import final

from ..._validate import check_duration, check_int
from ...errors import ConfigError
from ._algorithms import LimitAlgorithm

__all__ = ["SampleWindow"]

_INF = math.inf


@final
class SampleWindow:
    """Feed ``algorithm`` one averaged sample per window (not thread-safe on its own).

    Args:
        algorithm: the limit algorithm to drive.
        min_window: shortest window, in seconds.
        max_window: longest window, in seconds (``0`` with ``min_samples=1``: every
            sample updates the algorithm directly).
        min_samples: samples a window needs before it may close.
    """

    __slots__ = (
        "_count",
        "_dropped",
        "_inflight",
        "_min_rtt",
        "_next_update",
        "_sum",
        "algorithm",
        "max_window",
        "min_samples",
        "min_window",
    )

    def __init__(
        self,
        algorithm: LimitAlgorithm,
        *,
        min_window: float = 0.0,
        max_window: float = 1.0,
        min_samples: int = 10,
    ) -> None:
        if not isinstance(algorithm, LimitAlgorithm):
            raise ConfigError("algorithm", "a LimitAlgorithm", algorithm)
        self.algorithm = algorithm
        self.min_window = check_duration("min_window", min_window)
        self.max_window = check_duration("max_window", max_window)
        if self.max_window < self.min_window:
            rule = f"a number of seconds >= min_window ({self.min_window:g})"
            raise ConfigError("max_window", rule, max_window)
        self.min_samples = check_int("min_samples", min_samples, minimum=1)
        self._next_update = 0.0
        self._reset()

    def _reset(self) -> None:
        self._count = 0
        self._sum = 0.0
        self._min_rtt = _INF
        self._inflight = 0
        self._dropped = False

    def record(
        self, started: float, rtt: float, inflight: int, dropped: bool
    ) -> tuple[float, int, bool, float] | None:
        """Record one sample; return ``(rtt, inflight, dropped, started)`` when it closes a window.

        The returned sample is what the algorithm should see next (the caller feeds it,
        under its lock). Up to the claim of a closing window this is one call-free
        sequence of attribute updates, so concurrent releases need no lock under the GIL
        (see ``policies/_atomic.py``): each sample lands in exactly one window and only
        one caller closes it.
        """
        if dropped:
            self._dropped = True
        else:
            self._count += 1
            self._sum += rtt
            if rtt < self._min_rtt:
                self._min_rtt = rtt
        if inflight > self._inflight:
            self._inflight = inflight
        ended = started + rtt
        if ended < self._next_update or (self._count < self.min_samples and not self._dropped):
            return None
        count, total, peak, was_dropped = self._count, self._sum, self._inflight, self._dropped
        span = 2.0 * (self._min_rtt if count else rtt)
        if span < self.min_window:
            span = self.min_window
        if span > self.max_window:
            span = self.max_window
        self._next_update = ended + span
        self._count = 0
        self._sum = 0.0
        self._min_rtt = _INF
        self._inflight = 0
        self._dropped = False
        # Claimed: from here on, other samples go to the next window.
        return (total / count if count else rtt), peak, was_dropped, started

    def add(self, *, started: float, rtt: float, inflight: int, dropped: bool) -> bool:
        """Record one sample; return whether it closed a window (the limit may have moved)."""
        sample = self.record(started, rtt, inflight, dropped)
        if sample is None:
            return False
        average, peak, was_dropped, began = sample
        self.algorithm.update(average, peak, was_dropped, started=began)
        return True
