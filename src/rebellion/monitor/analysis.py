"""Per-tick understanding of the host's metrics, in the compact form the dashboard needs.

:class:`HostAnalyser` wraps a :class:`~rebellion.metrics.MetricTransformer` (one
vectorised pass over every series per tick) and keeps, per metric, only what the
dashboard and the alert rules read: window mean, spread and p95, z-score, anomaly score
and flag, and health. Trends and forecasts come from a
:class:`~rebellion.metrics.forecast.ForecastBank`: a trend only when it is significant,
a forecast with 80/95 % intervals that never leaves the metric's physical range
(:func:`host_range`), and a time-to-threshold only for a significant trend. The full
transformer result stays available through :attr:`HostAnalyser.transformer`.

>>> from rebellion.testing import ManualClock
>>> analyser = HostAnalyser(history_size=30, clock=ManualClock())
>>> for v in range(10):
...     result = analyser.analyse({"cpu.total": float(v)})
>>> result["cpu.total"]["trend"], result["cpu.total"]["slope"]
('rising', 1.0)
>>> 0.0 <= result["cpu.total"]["forecast_low"] <= result["cpu.total"]["forecast_high"] <= 100.0
True
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, final

import numpy as np

from .._clock import Clock
from .._validate import check_clock, check_int
from ..metrics import MetricTransformer
from ..metrics.forecast import NON_NEGATIVE, PERCENT, Forecast, ForecastBank, ValueRange

__all__ = ["DEFAULT_THRESHOLDS", "HostAnalyser", "host_range"]

DEFAULT_THRESHOLDS: dict[str, float] = {
    "cpu.total": 90.0,
    "memory.percent": 90.0,
    "disk.percent": 90.0,
    "swap.percent": 80.0,
}
"""Upper limits used for time-to-threshold forecasts (the alert rules' raise levels)."""


_KELVIN_ZERO = ValueRange(-273.15, math.inf)


def host_range(name: str) -> ValueRange:
    """Return the physical range of a host metric: percentages 0-100, the rest >= 0.

    >>> host_range("cpu.core1"), host_range("disk.write_bps").low
    (ValueRange(low=0.0, high=100.0), 0.0)
    """
    if name == "cpu.hogs":
        return NON_NEGATIVE
    if name.startswith("cpu.") or name.endswith(".percent") or ".percent:" in name:
        return PERCENT
    if name.startswith(("temp.", "temp[")):
        return _KELVIN_ZERO
    return NON_NEGATIVE  # bytes, bytes per second, load averages, counts


def _round(value: float | None, digits: int = 4) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    return round(value, digits)


@final
class HostAnalyser:
    """Analyse every tick's host values with one vectorised transformer pass.

    Args:
        history_size: samples kept per metric (300: five minutes at 1 Hz).
        smoothing_window: samples in the moving average.
        sample_interval: seconds between ticks (trends are per second).
        thresholds: per-metric limits for time-to-threshold.
        clock: time source.
        anomaly: settings of the anomaly detectors (see ``anomaly_params``).
        forecast_every: ticks between refits of the forecasts (every tick's value still
            goes into them). Forecasts look a minute or more ahead; refitting them every
            second was a third of the monitor's analysis time.
    """

    def __init__(
        self,
        *,
        history_size: int = 300,
        smoothing_window: int = 10,
        sample_interval: float = 1.0,
        thresholds: Mapping[str, float] | None = None,
        clock: Clock | None = None,
        anomaly: Mapping[str, float | int | None] | None = None,
        forecast_every: int = 5,
    ) -> None:
        self._clock = check_clock(clock)
        self._forecast_every = check_int("forecast_every", forecast_every, minimum=1, maximum=3600)
        self._ticks = 0
        self._thresholds = dict(DEFAULT_THRESHOLDS if thresholds is None else thresholds)
        self._horizon = 60.0 * sample_interval
        self._bank = ForecastBank(
            0, sample_interval=sample_interval, window=min(history_size, 100_000)
        )
        self._rows: dict[str, int] = {}
        self._limits = np.zeros(0)
        self._forecasts: dict[str, Forecast] = {}
        self.transformer = MetricTransformer(
            "monitor.host",
            history_size=history_size,
            smoothing_window=smoothing_window,
            sample_interval=sample_interval,
            forecast_horizon=60.0 * sample_interval,
            thresholds=self._thresholds,
            anomaly=anomaly,
            max_series=4096,
            clock=self._clock,
        )

    def analyse(self, values: Mapping[str, float]) -> dict[str, dict[str, Any]]:
        """Add one sample per metric and return each metric's compact analysis."""
        result = self.transformer.transform_system_metrics(values)
        forecasts = self._forecast(values)
        out: dict[str, dict[str, Any]] = {}
        for name in values:
            metric = result[name]
            stats, flags = metric.statistics, metric.anomaly
            f = forecasts[name]
            out[name] = {
                "mean": _round(stats.mean),
                "std_dev": _round(stats.std_dev),
                "p95": _round(stats.percentiles.get("p95")),
                "z": _round(flags.z_score, 3),
                "anomaly_score": _round(flags.score, 3),
                "anomaly": flags.is_anomaly,
                "trend": f.trend,
                "slope": _round(f.slope, 6),
                "forecast": _round(f.value),
                "forecast_low": _round(f.low95),
                "forecast_high": _round(f.high95),
                "forecast_lo": _round(f.low95),  # the dashboard's names for the 95 % band
                "forecast_hi": _round(f.high95),
                "forecast_low80": _round(f.low80),
                "forecast_high80": _round(f.high80),
                "forecast_model": f.model,
                "horizon": f.horizon,
                "time_to_threshold": _round(f.time_to_threshold, 1),
                "time_to_threshold_low": _round(f.ttt_low, 1),
                "time_to_threshold_high": _round(f.ttt_high, 1),
                "health": metric.health,
            }
        return out

    def _forecast(self, values: Mapping[str, float]) -> dict[str, Forecast]:
        new = [name for name in values if name not in self._rows]
        if new:
            for name in new:
                self._rows[name] = len(self._rows)
            self._bank.grow([host_range(name) for name in new])
            limits = [self._thresholds.get(name, math.nan) for name in new]
            self._limits = np.concatenate((self._limits, np.array(limits, dtype=np.float64)))
        column = np.full(len(self._rows), np.nan)
        for name, value in values.items():
            column[self._rows[name]] = value
        self._bank.update(column, self._clock.wall())
        self._ticks += 1
        if new or self._ticks % self._forecast_every == 0:
            made = self._bank.forecast(self._horizon, self._limits)
            self._forecasts = {name: made[row] for name, row in self._rows.items()}
        return self._forecasts

    def forecasts(self) -> dict[str, Forecast]:
        """Return the latest forecast of every metric seen so far."""
        return dict(self._forecasts)

    def forecast_with(
        self, name: str, threshold: float, horizon: float | None = None
    ) -> Forecast | None:
        """Return ``name``'s forecast with time-to-``threshold`` (None: unknown metric)."""
        row = self._rows.get(name)
        if row is None:
            return None
        limits = np.full(len(self._rows), np.nan)
        limits[row] = threshold
        return self._bank.forecast(self._horizon if horizon is None else horizon, limits)[row]

    def health(self) -> dict[str, Any]:
        """Return the transformer's statistics (series tracked, ticks)."""
        return dict(self.transformer.stats())
