"""Limit algorithms: pure functions of samples (no I/O, no clock, no locks).

Each algorithm turns one sample -- the round-trip time of a call, how many calls were
in flight when it started, and whether it was *dropped* (timed out or shed downstream)
-- into a new concurrency limit, as Netflix's concurrency-limits does. The limiter
serialises calls to :meth:`LimitAlgorithm.update`; an algorithm on its own is not
thread-safe.

>>> aimd = AIMDLimit(initial_limit=10, backoff_ratio=0.5)
>>> aimd.update(0.010, inflight=10, dropped=False)
11
>>> aimd.update(0.010, inflight=10, dropped=True)
5
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, final

from ..._validate import check_fraction, check_int, check_number
from ...errors import ConfigError

__all__ = ["AIMDLimit", "Gradient2Limit", "LimitAlgorithm", "VegasLimit", "log10_root"]

LimitFunction = Callable[[int], float]
"""A parameter that may depend on the current limit (``int -> float``)."""


def log10_root(limit: int) -> int:
    """Return ``max(1, int(log10(limit)))``: Vegas' step, growing slowly with the limit."""
    return max(1, int(math.log10(limit))) if limit > 0 else 1


def _limit_function(name: str, value: object, minimum: float) -> LimitFunction:
    if callable(value):
        return value
    number = check_number(name, value, minimum=minimum)
    return lambda _limit: number


class LimitAlgorithm(ABC):
    """Base of the limit algorithms: bounds, the current limit and ``update``.

    Args:
        initial_limit: the limit before any sample arrives.
        min_limit: the limit never goes below this.
        max_limit: the limit never goes above this (changeable with :meth:`set_max_limit`).
    """

    name: str = "algorithm"

    def __init__(self, initial_limit: int, min_limit: int, max_limit: int) -> None:
        self.min_limit = check_int("min_limit", min_limit, minimum=1)
        self.max_limit = check_int("max_limit", max_limit, minimum=self.min_limit)
        check_int("initial_limit", initial_limit, minimum=self.min_limit, maximum=self.max_limit)
        self._estimate = float(initial_limit)

    @property
    def limit(self) -> int:
        """The current limit (whole calls)."""
        return int(self._estimate)

    def set_max_limit(self, max_limit: int) -> int:
        """Change the upper bound (e.g. shrink in an emergency); return the new limit.

        Raises:
            ConfigError: ``max_limit`` is below ``min_limit`` or not an integer.
        """
        self.max_limit = check_int("max_limit", max_limit, minimum=self.min_limit)
        self._estimate = min(self._estimate, float(self.max_limit))
        return self.limit

    def _clamp(self, value: float) -> float:
        return max(float(self.min_limit), min(float(self.max_limit), value))

    @abstractmethod
    def update(
        self, rtt: float, inflight: int, dropped: bool, *, started: float | None = None
    ) -> int:
        """Fold one sample into the estimate and return the new limit.

        Args:
            rtt: seconds the call took (> 0).
            inflight: calls in flight when this one started (itself included).
            dropped: the call timed out or was shed downstream (a congestion signal).
            started: monotonic time the call started (lets AIMD react once per window).
        """

    def snapshot(self) -> dict[str, Any]:
        """Return the algorithm's name, limit, bounds and internal estimates."""
        return {
            "algorithm": self.name,
            "limit": self.limit,
            "min_limit": self.min_limit,
            "max_limit": self.max_limit,
        }


@final
class AIMDLimit(LimitAlgorithm):
    """Loss based: add one while busy and healthy, multiply by ``backoff_ratio`` on a drop.

    A call slower than ``timeout`` counts as a drop. Unlike a per-sample backoff, calls
    that were admitted *before* the last backoff do not back off again (they belong to
    the same congestion event, as in TCP's fast recovery); otherwise one burst of
    timeouts would collapse the limit to ``min_limit``.
    """

    name = "aimd"

    def __init__(
        self,
        *,
        initial_limit: int = 20,
        min_limit: int = 1,
        max_limit: int = 1000,
        backoff_ratio: float = 0.9,
        timeout: float = 5.0,
    ) -> None:
        super().__init__(initial_limit, min_limit, max_limit)
        self.backoff_ratio = check_number("backoff_ratio", backoff_ratio, minimum=0.5)
        if self.backoff_ratio >= 1.0:
            raise ConfigError("backoff_ratio", "a number in [0.5, 1)", backoff_ratio)
        self.timeout = check_number("timeout", timeout, minimum=0.0, exclusive_minimum=True)
        self._recovering_until = -math.inf

    def update(
        self, rtt: float, inflight: int, dropped: bool, *, started: float | None = None
    ) -> int:
        current = self.limit
        if dropped or rtt > self.timeout:
            if started is not None:
                if started < self._recovering_until:
                    return current
                self._recovering_until = started + rtt
            backed_off = min(current - 1, int(current * self.backoff_ratio))
            self._estimate = self._clamp(float(backed_off))
        elif inflight * 2 >= current:
            self._estimate = self._clamp(float(current + 1))
        return self.limit

    def snapshot(self) -> dict[str, Any]:
        return {**super().snapshot(), "backoff_ratio": self.backoff_ratio, "timeout": self.timeout}


@final
class VegasLimit(LimitAlgorithm):
    """Delay based, after TCP Vegas: estimate the queue from the no-load RTT.

    ``queue = limit * (1 - rtt_noload / rtt)``. With no queue the limit grows by
    ``beta``; below ``alpha`` by ``log10_root(limit)``; above ``beta`` it shrinks by
    the same step; in between it holds. ``alpha``, ``beta`` may be numbers or functions
    of the limit (defaults ``3·log10_root`` and ``6·log10_root``). Every
    ``probe_multiplier * limit`` samples (jittered by 0.5-1x) the no-load RTT is
    re-measured so a lasting change of the baseline is accepted.
    """

    name = "vegas"

    def __init__(
        self,
        *,
        initial_limit: int = 20,
        min_limit: int = 1,
        max_limit: int = 1000,
        alpha: float | LimitFunction | None = None,
        beta: float | LimitFunction | None = None,
        smoothing: float = 1.0,
        probe_multiplier: int = 30,
        seed: int | None = None,
    ) -> None:
        super().__init__(initial_limit, min_limit, max_limit)
        self._alpha = _limit_function(
            "alpha", (lambda n: 3 * log10_root(n)) if alpha is None else alpha, 0.0
        )
        self._beta = _limit_function(
            "beta", (lambda n: 6 * log10_root(n)) if beta is None else beta, 0.0
        )
        if not callable(alpha) and not callable(beta) and self._alpha(1) > self._beta(1):
            raise ConfigError("beta", f"at least alpha ({self._alpha(1):g})", beta)
        self.smoothing = check_fraction("smoothing", smoothing, allow_zero=False)
        self.probe_multiplier = check_int("probe_multiplier", probe_multiplier, minimum=1)
        self._random = random.Random(seed)
        self._probe_jitter = self._random.uniform(0.5, 1.0)
        self._probe_count = 0
        self.rtt_noload = 0.0

    def update(
        self, rtt: float, inflight: int, dropped: bool, *, started: float | None = None
    ) -> int:
        if rtt <= 0:
            return self.limit
        self._probe_count += 1
        if self._probe_jitter * self.probe_multiplier * self._estimate <= self._probe_count:
            self._probe_jitter = self._random.uniform(0.5, 1.0)
            self._probe_count = 0
            self.rtt_noload = rtt
            return self.limit
        if self.rtt_noload == 0.0 or rtt < self.rtt_noload:
            self.rtt_noload = rtt
            return self.limit
        estimate = self._estimate
        current = int(estimate)
        step = log10_root(current)
        if dropped:
            target = estimate - step
        elif inflight * 2 < estimate:
            return current  # app-limited: no evidence about capacity
        else:
            queue = math.ceil(estimate * (1.0 - self.rtt_noload / rtt))
            if queue <= step:
                target = estimate + self._beta(current)
            elif queue < self._alpha(current):
                target = estimate + step
            elif queue > self._beta(current):
                target = estimate - step
            else:
                return current
        target = self._clamp(target)
        self._estimate = (1.0 - self.smoothing) * estimate + self.smoothing * target
        return self.limit

    def snapshot(self) -> dict[str, Any]:
        return {**super().snapshot(), "rtt_noload": self.rtt_noload}


@final
class Gradient2Limit(LimitAlgorithm):
    """Delay based: compare a long-term average RTT with the latest RTT.

    ``gradient = clamp(tolerance · long_rtt / short_rtt, 0.5, 1)``;
    ``new = limit · gradient + queue_size``, smoothed:
    ``limit ← limit · (1 - smoothing) + new · smoothing``. The long RTT is an
    exponential average over ``long_window`` samples (a plain mean for the first 10);
    when it exceeds twice the short RTT (load just ended) it decays by 10 % a sample.
    ``queue_size`` may be a number or a function of the limit.

    Known behaviour (shared with Netflix's): under *sustained* saturation the long RTT
    slowly absorbs the queueing delay, so the limit creeps up at about
    ``smoothing · queue_size / (1 + smoothing · long_window / 2)`` per sample; a longer
    ``long_window`` slows the creep, a shorter one adapts faster to a new baseline.
    """

    name = "gradient2"

    def __init__(
        self,
        *,
        initial_limit: int = 20,
        min_limit: int = 1,
        max_limit: int = 1000,
        smoothing: float = 0.2,
        queue_size: float | LimitFunction = 4,
        long_window: int = 600,
        tolerance: float = 1.0,
    ) -> None:
        super().__init__(initial_limit, min_limit, max_limit)
        self.smoothing = check_fraction("smoothing", smoothing, allow_zero=False)
        self._queue_size = _limit_function("queue_size", queue_size, 0.0)
        self.long_window = check_int("long_window", long_window, minimum=1)
        self.tolerance = check_number("tolerance", tolerance, minimum=1.0)
        self._factor = 2.0 / (self.long_window + 1)
        self._warmup = 10
        self._count = 0
        self._sum = 0.0
        self.long_rtt = 0.0
        self.short_rtt = 0.0

    def update(
        self, rtt: float, inflight: int, dropped: bool, *, started: float | None = None
    ) -> int:
        if rtt <= 0:
            return self.limit
        estimate = self._estimate
        queue = self._queue_size(int(estimate))
        self.short_rtt = rtt
        if self._count < self._warmup:
            self._count += 1
            self._sum += rtt
            self.long_rtt = self._sum / self._count
        else:
            self.long_rtt = self.long_rtt * (1.0 - self._factor) + rtt * self._factor
        if self.long_rtt / rtt > 2.0:
            self.long_rtt *= 0.9
        if inflight < estimate / 2:
            return int(estimate)  # app-limited: no evidence about capacity
        gradient = max(0.5, min(1.0, self.tolerance * self.long_rtt / rtt))
        target = estimate * gradient + queue
        target = estimate * (1.0 - self.smoothing) + target * self.smoothing
        self._estimate = self._clamp(target)
        return self.limit

    def snapshot(self) -> dict[str, Any]:
        return {**super().snapshot(), "long_rtt": self.long_rtt, "short_rtt": self.short_rtt}
