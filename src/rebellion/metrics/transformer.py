"""MetricTransformer: statistics, smoothing, anomalies, trends and health for many metrics.

``transform_system_metrics(raw)`` appends the new samples to a 2-D NumPy ring buffer
(series x ``history_size``) and computes every statistic for every series in one
vectorised pass (see :mod:`rebellion.metrics._series_stats`), scores the new samples
with an :class:`~rebellion.metrics.AnomalyDetectorBank`, fits a trend with a forecast
and time-to-threshold, and judges health. Accepted input, per metric name:

* a real number: one new sample (the monitor's ticks);
* a list / tuple / 1-D array of real numbers: new samples, oldest first (the seed's
  ``{"cpu_threads": [...], "network_latency": [...]}``); only the last
  ``history_size`` of one call are kept.

NaN means "no sample at this tick": it takes its slot (windows stay aligned in time) but
statistics and the anomaly bank skip it. Infinities, booleans, strings and other
non-numbers are refused with an error naming the metric and the value's type, before
anything from that call is recorded.

>>> from rebellion.testing import ManualClock
>>> t = MetricTransformer("doc", history_size=60, smoothing_window=5, clock=ManualClock())
>>> result = t.transform_system_metrics({"cpu": [10.0, 12.0, 11.0, 13.0, 12.0]})
>>> cpu = result["cpu"]
>>> cpu.statistics.mean, cpu.smoothed[-1], result.health.status
(11.6, 11.6, 'healthy')
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from numbers import Real
from typing import Any, final

import numpy as np
import numpy.typing as npt

from .._clock import Clock
from .._registry import registry
from .._validate import check_clock, check_duration, check_int, check_name, check_number
from ..errors import ConfigError
from ._config import check_quantiles
from ._ring import SeriesRing
from ._series_stats import StatsScratch, window_stats
from ._transform_input import as_samples, check_thresholds, right_aligned
from ._transform_result import TransformResult, assess
from .anomaly import AnomalyDetectorBank, anomaly_params

__all__ = ["MetricTransformer", "get_metric_transformer"]

FloatArray = npt.NDArray[np.float64]


@final
class MetricTransformer:
    """Turn raw samples of many metrics into statistics, anomalies, trends and health.

    Args:
        name: label for the registry and ``stats()``.
        history_size: samples kept per metric (2-100,000).
        smoothing_window: samples in the moving average (1..history_size).
        sample_interval: seconds between samples (converts trends to seconds).
        forecast_horizon: seconds ahead to forecast (default: half the history).
        quantiles: percentiles reported, as fractions in [0, 1].
        z_threshold: |z| above which the z-score flags the latest sample (> 0).
        robust_threshold: |robust z| above which the median/MAD test flags it (> 0).
        min_samples: samples needed before the z tests flag anything (>= 2).
        critical_score: anomaly score that makes a metric critical (0-1].
        thresholds: per-metric upper limits for time-to-threshold and breaches.
        anomaly: settings of the anomaly bank (see ``anomaly_params``).
        max_series: most metrics tracked; more in one call is an error.
        clock: time source for timestamps (tests: ManualClock).

    Raises:
        ConfigError: a parameter is invalid; the message names it.
    """

    kind = "metric_transformer"

    def __init__(
        self,
        name: str = "metric_transformer",
        history_size: int = 120,
        smoothing_window: int = 5,
        *,
        sample_interval: float = 1.0,
        forecast_horizon: float | None = None,
        quantiles: tuple[float, ...] = (0.25, 0.5, 0.75, 0.9, 0.95, 0.99),
        z_threshold: float = 3.0,
        robust_threshold: float = 3.5,
        min_samples: int = 5,
        critical_score: float = 0.9,
        thresholds: Mapping[str, float] | None = None,
        anomaly: Mapping[str, float | int | None] | None = None,
        max_series: int = 100_000,
        clock: Clock | None = None,
    ) -> None:
        self.name = check_name("name", name)
        self.history_size = check_int("history_size", history_size, minimum=2, maximum=100_000)
        self.smoothing_window = check_int(
            "smoothing_window",
            smoothing_window,
            minimum=1,
            maximum=self.history_size,
            bound="history_size",
        )
        self.sample_interval = check_duration(
            "sample_interval", sample_interval, exclusive_minimum=True
        )
        self.forecast_horizon = (
            self.history_size * self.sample_interval / 2.0
            if forecast_horizon is None
            else check_duration("forecast_horizon", forecast_horizon)
        )
        self.quantiles = check_quantiles(quantiles)
        self.z_threshold = check_number(
            "z_threshold", z_threshold, minimum=0.0, exclusive_minimum=True
        )
        self.robust_threshold = check_number(
            "robust_threshold", robust_threshold, minimum=0.0, exclusive_minimum=True
        )
        self.min_samples = check_int("min_samples", min_samples, minimum=2)
        self.critical_score = check_number(
            "critical_score", critical_score, minimum=0.0, maximum=1.0, exclusive_minimum=True
        )
        self.thresholds = check_thresholds(thresholds)
        if anomaly is not None and not isinstance(anomaly, Mapping):
            raise ConfigError("anomaly", "a mapping of anomaly_params settings or None", anomaly)
        self._anomaly = dict(anomaly or {})
        self.alert_level = anomaly_params(**self._anomaly).alert_level  # type: ignore[arg-type]
        self.max_series = check_int("max_series", max_series, minimum=1)
        self.clock = check_clock(clock)
        self._ring = SeriesRing(self.history_size)
        self._rows: dict[str, int] = {}
        self._names: list[str] = []
        self._banks: list[tuple[int, int, AnomalyDetectorBank]] = []
        self._score: FloatArray = np.zeros(0)
        self._limits: FloatArray = np.zeros(0)
        self._cached_keys: tuple[str, ...] = ()
        self._cached_rows: npt.NDArray[np.int64] = np.zeros(0, dtype=np.int64)
        self._ticks = 0
        self._lock = threading.Lock()
        self._scratch = StatsScratch()
        self._scratch_lock = threading.Lock()
        registry.track(self)

    # -- input ----------------------------------------------------------------------

    def _parse(self, raw: object) -> tuple[list[str], FloatArray | None, list[FloatArray]]:
        """Validate ``raw`` fully; return names and either scalars or batches."""
        if not isinstance(raw, Mapping):
            raise TypeError(
                f"raw must be a mapping of metric name to number or list of numbers, "
                f"got {type(raw).__name__}"
            )
        names = list(raw)
        for key in names:
            if type(key) is not str or not key:
                raise ValueError(f"raw: metric names must be non-empty strings, got {key!r}")
        values = list(raw.values())
        if set(map(type, values)) <= {float, int}:  # the monitor's ticks: one C pass
            scalars = np.array(values, dtype=np.float64)
            if np.isinf(scalars).any():
                bad = names[int(np.flatnonzero(np.isinf(scalars))[0])]
                raise ValueError(f"metric {bad!r} must be finite or NaN (missing), got inf")
            return names, scalars, []
        batches: list[FloatArray] = []
        for key, value in zip(names, values, strict=True):
            if type(value) is not bool and isinstance(value, Real):
                number = float(value)
                if math.isinf(number):
                    raise ValueError(
                        f"metric {key!r} must be finite or NaN (missing), got {value!r}"
                    )
                batches.append(np.array([number]))
            else:
                batches.append(as_samples(key, value)[-self.history_size :])
        return names, None, batches

    def _rows_of(self, names: list[str]) -> npt.NDArray[np.int64]:
        keys = tuple(names)
        if keys == self._cached_keys:
            return self._cached_rows
        new = [n for n in dict.fromkeys(names) if n not in self._rows]
        if len(self._rows) + len(new) > self.max_series:
            raise ValueError(
                f"raw would track {len(self._rows) + len(new)} metrics; max_series is "
                f"{self.max_series}"
            )
        if new:
            first = len(self._names)
            for n in new:
                self._rows[n] = len(self._names)
                self._names.append(n)
            total = len(self._names)
            self._ring.ensure_rows(total)
            bank = AnomalyDetectorBank(total - first, name=f"{self.name}.anomaly", **self._anomaly)
            self._banks.append((first, total, bank))
            self._score = np.concatenate((self._score, np.zeros(total - first)))
            limits = [self.thresholds.get(n, math.nan) for n in new]
            self._limits = np.concatenate((self._limits, np.array(limits, dtype=np.float64)))
        rows = np.fromiter((self._rows[n] for n in names), dtype=np.int64, count=len(names))
        self._cached_keys, self._cached_rows = keys, rows
        return rows

    # -- the tick -------------------------------------------------------------------

    def transform_system_metrics(self, raw: Mapping[str, object]) -> TransformResult:
        """Record ``raw`` and return the transform of every tracked metric.

        Args:
            raw: metric name -> one number, or a list/array of numbers (oldest first).

        Returns:
            A :class:`TransformResult` (a mapping of name -> ``MetricTransform``, with
            ``health`` and ``to_dict()``).

        Raises:
            TypeError: ``raw`` is not a mapping or a value is not numeric (the message
                names the metric and the value's type).
            ValueError: a value is infinite, an array is not 1-D, a name is empty, or
                ``max_series`` would be exceeded. Nothing from the call is recorded.
        """
        names, scalars, batches = self._parse(raw)
        with self._lock:
            rows = self._rows_of(names)
            now = self.clock.wall()
            n = len(self._names)
            if scalars is not None:
                self._ring.append(rows, scalars)
                self._score_columns(rows, scalars[:, None], now)
            else:
                self._ring.append_batches(rows, batches)
                self._score_columns(rows, right_aligned(batches), now)
            self._ticks += 1
            window = self._ring.ordered()
            score = self._score[:n].copy()
            limits = self._limits[:n]
        return self._result(tuple(self._names[:n]), window, score, limits, now)

    def _score_columns(self, rows: npt.NDArray[np.int64], columns: FloatArray, now: float) -> None:
        """Feed each column (one sample per series, NaN: none) to the anomaly banks."""
        width = columns.shape[1]
        total = len(self._names)
        for k in range(width):  # a loop over samples of one call, never over metrics
            full = np.full(total, np.nan)
            full[rows] = columns[:, k]
            stamp = now - (width - 1 - k) * self.sample_interval
            for first, last, bank in self._banks:
                part = full[first:last]
                scores = bank.update_many(part, stamp)
                seen = ~np.isnan(part)
                self._score[first:last][seen] = scores[seen]

    def _result(
        self,
        names: tuple[str, ...],
        window: FloatArray,
        score: FloatArray,
        limits: FloatArray,
        now: float,
    ) -> TransformResult:
        if self._scratch_lock.acquire(blocking=False):
            try:
                stats = window_stats(
                    window, self.quantiles, self.smoothing_window, self.min_samples, self._scratch
                )
            finally:
                self._scratch_lock.release()
        else:  # another thread's tick holds the work buffers: use fresh ones
            stats = window_stats(window, self.quantiles, self.smoothing_window, self.min_samples)
        steps = self.forecast_horizon / self.sample_interval
        with np.errstate(invalid="ignore", divide="ignore"):
            fitted_now = stats.intercept + stats.slope * stats.latest_index
            forecast = fitted_now + stats.slope * steps
            to_limit = (limits - fitted_now) / stats.slope * self.sample_interval
            rising = stats.slope > 0
            tts = np.where(
                np.isnan(limits),
                np.nan,
                np.where(
                    stats.latest >= limits,
                    0.0,
                    np.where(rising, np.maximum(to_limit, 0.0), np.nan),
                ),
            )
        z_flag = np.abs(stats.z) > self.z_threshold
        robust_flag = np.abs(stats.robust_z) > self.robust_threshold
        score_flag = score >= self.alert_level
        anomalous = score_flag | (z_flag & robust_flag)
        soon = ~np.isnan(tts) & (tts <= self.forecast_horizon)
        breached = ~np.isnan(limits) & (stats.latest >= limits)
        # Critical: a breached limit, or a severe score that a z test confirms.
        severe = (score >= self.critical_score) & (z_flag | robust_flag)
        level = np.where(breached | severe, 2, np.where(anomalous | soon, 1, 0)).astype(np.int64)
        return TransformResult(
            names=names,
            stats=stats,
            window=window,
            quantiles=self.quantiles,
            score=score,
            flags=(z_flag, robust_flag, score_flag),
            level=level,
            forecast=forecast,
            time_to_threshold=tts,
            thresholds=limits,
            sample_interval=self.sample_interval,
            horizon=self.forecast_horizon,
            health=assess(names, level),
            timestamp=now,
        )

    # -- introspection --------------------------------------------------------------

    def reset(self) -> None:
        """Forget every metric and its history."""
        with self._lock:
            self._ring = SeriesRing(self.history_size)
            self._rows.clear()
            self._names.clear()
            self._banks.clear()
            self._score = np.zeros(0)
            self._limits = np.zeros(0)
            self._cached_keys, self._cached_rows = (), np.zeros(0, dtype=np.int64)

    def stats(self) -> dict[str, Any]:
        """Return a fresh snapshot: metrics tracked, ticks, settings."""
        return {
            "kind": self.kind,
            "name": self.name,
            "metrics": len(self._names),
            "ticks": self._ticks,
            "history_size": self.history_size,
            "smoothing_window": self.smoothing_window,
        }

    def __repr__(self) -> str:
        return (
            f"MetricTransformer(name={self.name!r}, history_size={self.history_size}, "
            f"metrics={len(self._names)})"
        )


def get_metric_transformer(
    name: str,
    history_size: int = 120,
    smoothing_window: int = 5,
    **settings: Any,
) -> MetricTransformer:
    """Return the transformer registered as ``name``, creating it on first use.

    Args:
        name: registry name (one transformer per name in the process).
        history_size: samples kept per metric.
        smoothing_window: samples in the moving average.
        **settings: other :class:`MetricTransformer` keyword arguments.

    Raises:
        ConfigError: invalid settings, or settings that differ from the registered ones.
    """
    check_name("name", name)
    options = {"history_size": history_size, "smoothing_window": smoothing_window, **settings}
    return registry.get_or_create(
        "metric_transformer",
        name,
        lambda: MetricTransformer(name, **options),
        {k: v for k, v in options.items() if k != "clock"},
    )
