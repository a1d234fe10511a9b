"""The instruments behind the collector: one child per label set, grouped in a family.

Children are the hot-path handles (``collector.counter("hits").inc()``). Every update
takes the child's own lock for a few bytecodes, so totals are exact under any number
of threads, and no lock is ever held across user code.

>>> from rebellion.testing import ManualClock
>>> family = Family("requests_total", "counter", "", ManualClock(), max_series=10)
>>> child = family.child({"endpoint": "/api"})
>>> child.inc(); child.inc(2)
>>> child.value
3.0
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Mapping
from typing import Final, Literal, final

from .._clock import Clock
from ..errors import ConfigError
from ._names import LabelValue, normalise_labels
from ._window import RateWindow, SampleWindow

__all__ = [
    "DEFAULT_BUCKETS",
    "Child",
    "CounterChild",
    "Family",
    "GaugeChild",
    "HistogramChild",
    "MetricType",
    "MeterChild",
    "WindowSettings",
]

MetricType = Literal["counter", "gauge", "histogram", "timer", "meter"]
DEFAULT_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
"""Prometheus' default histogram bounds (seconds), used for timers and histograms."""


@final
class WindowSettings:
    """How recent data is windowed: ``seconds`` split in ``buckets``, ``max_samples`` each."""

    __slots__ = ("buckets", "max_samples", "seconds")

    def __init__(self, seconds: float = 60.0, buckets: int = 6, max_samples: int = 1024) -> None:
        self.seconds = seconds
        self.buckets = buckets
        self.max_samples = max_samples


@final
class CounterChild:
    """A monotonically increasing total for one label set."""

    __slots__ = ("_lock", "_value", "labels")

    def __init__(self, labels: tuple[str, ...]) -> None:
        self.labels = labels
        self._lock = threading.Lock()
        self._value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` (>= 0, default 1).

        Raises:
            ConfigError: ``amount`` is negative, NaN or not a number.
        """
        try:
            if not amount >= 0:
                raise ConfigError("amount", "a number >= 0 (counters only go up)", amount)
        except TypeError:
            raise ConfigError("amount", "a number >= 0 (counters only go up)", amount) from None
        with self._lock:
            self._value += amount

    @property
    def value(self) -> float:
        """The total so far."""
        return self._value


@final
class GaugeChild:
    """A value that goes up and down for one label set."""

    __slots__ = ("_lock", "_value", "labels")

    def __init__(self, labels: tuple[str, ...]) -> None:
        self.labels = labels
        self._lock = threading.Lock()
        self._value = 0.0

    def set(self, value: float) -> None:
        """Set the gauge to ``value``.

        Raises:
            ConfigError: ``value`` is not a real number.
        """
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError("value", "a real number", value)
        self._value = float(value)  # one store: atomic, no lock needed

    def inc(self, amount: float = 1.0) -> None:
        """Add ``amount`` (may be negative)."""
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise ConfigError("amount", "a real number", amount)
        with self._lock:
            self._value += amount

    def dec(self, amount: float = 1.0) -> None:
        """Subtract ``amount``."""
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise ConfigError("amount", "a real number", amount)
        with self._lock:
            self._value -= amount

    @property
    def value(self) -> float:
        """The current value."""
        return self._value


@final
class HistogramChild:
    """Observations for one label set: cumulative buckets plus a recent-samples window."""

    __slots__ = ("_bounds", "_buckets", "_count", "_lock", "_now", "_sum", "_window", "labels")

    def __init__(
        self,
        labels: tuple[str, ...],
        bounds: tuple[float, ...],
        clock: Clock,
        window: WindowSettings,
    ) -> None:
        self.labels = labels
        self._bounds = bounds
        self._buckets = [0] * (len(bounds) + 1)  # last one is +Inf
        self._count = 0
        self._sum = 0.0
        self._now = clock.monotonic
        self._window = SampleWindow(window.seconds, window.buckets, window.max_samples)
        self._lock = threading.Lock()

    def observe(self, value: float) -> None:
        """Record one observation (a finite real number).

        Raises:
            ConfigError: ``value`` is not a finite real number.
        """
        if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
            raise ConfigError("value", "a real number (not NaN)", value)
        if value in (float("inf"), float("-inf")):
            raise ConfigError("value", "a finite real number", value)
        index = bisect_left(self._bounds, value)
        now = self._now()
        with self._lock:
            self._buckets[index] += 1
            self._count += 1
            self._sum += value
            self._window.add(value, now)

    def cumulative(self) -> tuple[list[tuple[str, int]], int, float]:
        """Return ``([(le, cumulative count), ...], count, sum)`` for exposition."""
        with self._lock:
            counts = list(self._buckets)
            count, total = self._count, self._sum
        running = 0
        out: list[tuple[str, int]] = []
        for bound, n in zip((*self._bounds, float("inf")), counts, strict=True):
            running += n
            out.append(("+Inf" if bound == float("inf") else repr(float(bound)), running))
        return out, count, total

    def window(self, quantiles: tuple[float, ...]) -> dict[str, object]:
        """Return the windowed summary (count, sum, mean, min, max, quantiles)."""
        now = self._now()
        with self._lock:
            return self._window.summary(now, quantiles)

    @property
    def count(self) -> int:
        """Observations so far."""
        return self._count

    @property
    def sum(self) -> float:
        """Sum of observations so far."""
        return self._sum


@final
class MeterChild:
    """A rate of events for one label set: total plus events per second over the window."""

    __slots__ = ("_lock", "_now", "_started", "_total", "_window", "labels")

    def __init__(self, labels: tuple[str, ...], clock: Clock, window: WindowSettings) -> None:
        self.labels = labels
        self._now = clock.monotonic
        self._started = self._now()
        self._total = 0.0
        self._window = RateWindow(window.seconds, window.buckets)
        self._lock = threading.Lock()

    def mark(self, count: float = 1.0) -> None:
        """Record ``count`` events (>= 0, default 1).

        Raises:
            ConfigError: ``count`` is negative or not a number.
        """
        if isinstance(count, bool) or not isinstance(count, int | float) or not count >= 0:
            raise ConfigError("count", "a number >= 0", count)
        now = self._now()
        with self._lock:
            self._total += count
            self._window.add(count, now)

    @property
    def total(self) -> float:
        """Events so far."""
        return self._total

    def rates(self) -> tuple[float, float]:
        """Return ``(events/s over the window, mean events/s since creation)``."""
        now = self._now()
        with self._lock:
            recent = self._window.rate(now, self._started)
            total = self._total
        elapsed = now - self._started
        return recent, (total / elapsed if elapsed > 0 else 0.0)


Child = CounterChild | GaugeChild | HistogramChild | MeterChild

_RESERVED: dict[str, tuple[str, ...]] = {
    "histogram": ("le", "quantile"),
    "timer": ("le", "quantile"),
}


@final
class Family:
    """All children of one metric name: type, help, label names and the cardinality cap."""

    __slots__ = (
        "_aliases",
        "_clock",
        "_lock",
        "bounds",
        "children",
        "help",
        "label_names",
        "max_series",
        "name",
        "type",
        "window",
    )

    def __init__(
        self,
        name: str,
        type: MetricType,
        help: str,
        clock: Clock,
        *,
        max_series: int,
        bounds: tuple[float, ...] = DEFAULT_BUCKETS,
        window: WindowSettings | None = None,
    ) -> None:
        self.name = name
        self.type = type
        self.help = help
        self.bounds = bounds
        self.max_series = max_series
        self.window = window or WindowSettings()
        self.label_names: tuple[str, ...] | None = None
        self.children: dict[tuple[str, ...], Child] = {}
        # Raw ``tuple(labels.items())`` -> child: the fast lookup for repeated label dicts.
        self._aliases: dict[tuple[tuple[str, LabelValue], ...], Child] = {}
        self._clock = clock
        self._lock = threading.Lock()

    def child(self, labels: Mapping[str, LabelValue] | None) -> Child:
        """Return the child of ``labels``, creating it within the cardinality cap.

        Raises:
            ConfigError: invalid labels, label names that differ from the metric's, or
                more than ``max_series`` label sets.
        """
        try:
            key = tuple(labels.items()) if labels else ()
            found = self._aliases.get(key)
        except (AttributeError, TypeError):  # not a mapping, or unhashable values
            key, found = None, None
        if found is not None:
            return found
        names, values = normalise_labels(labels, self.name, _RESERVED.get(self.type, ()))
        with self._lock:
            if self.label_names is None:
                self.label_names = names
            elif names != self.label_names:
                raise ConfigError(
                    "labels",
                    f"the label names {self.label_names!r} of metric {self.name!r}",
                    dict(labels or {}),
                )
            existing = self.children.get(values)
            if existing is None:
                if len(self.children) >= self.max_series:
                    raise ConfigError(
                        "labels",
                        f"one of at most {self.max_series} label sets of metric {self.name!r} "
                        "(max_series: the cardinality cap)",
                        dict(labels or {}),
                    )
                existing = self.children[values] = self._make(values)
            if key is not None and len(self._aliases) < 4 * self.max_series:
                self._aliases[key] = existing
            return existing

    def _make(self, values: tuple[str, ...]) -> Child:
        if self.type == "counter":
            return CounterChild(values)
        if self.type == "gauge":
            return GaugeChild(values)
        if self.type == "meter":
            return MeterChild(values, self._clock, self.window)
        return HistogramChild(values, self.bounds, self._clock, self.window)

    def items(self) -> list[tuple[dict[str, str], Child]]:
        """Return ``(labels, child)`` pairs, a stable copy for exporters."""
        with self._lock:
            names = self.label_names or ()
            return [(dict(zip(names, k, strict=True)), c) for k, c in self.children.items()]
