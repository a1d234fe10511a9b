"""Per-tick understanding of the host's metrics, in the compact form the dashboard needs.

:class:`HostAnalyser` wraps a :class:`~rebellion.metrics.MetricTransformer` (one
vectorised pass over every series per tick) and keeps, per metric, only what the
dashboard and the alert rules read: window mean, spread and p95, z-score, anomaly score
and flag, trend per second with a forecast, its 95 % band (``forecast_lo``, ``forecast_hi``) and
time-to-threshold, and health. The full
transformer result stays available through :attr:`HostAnalyser.transformer`.

>>> from rebellion.testing import ManualClock
>>> analyser = HostAnalyser(history_size=30, clock=ManualClock())
>>> for v in range(10):
...     result = analyser.analyse({"cpu.total": float(v)})
>>> result["cpu.total"]["trend"], result["cpu.total"]["slope"]
('rising', 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, final

from .._clock import Clock
from ..metrics import MetricTransformer

__all__ = ["DEFAULT_THRESHOLDS", "HostAnalyser"]

DEFAULT_THRESHOLDS: dict[str, float] = {
    "cpu.total": 90.0,
    "memory.percent": 90.0,
    "disk.percent": 90.0,
    "swap.percent": 80.0,
}
"""Upper limits used for time-to-threshold forecasts (the alert rules' raise levels)."""


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
    """

    def __init__(
        self,
        *,
        history_size: int = 300,
        smoothing_window: int = 10,
        sample_interval: float = 1.0,
        thresholds: Mapping[str, float] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.transformer = MetricTransformer(
            "monitor.host",
            history_size=history_size,
            smoothing_window=smoothing_window,
            sample_interval=sample_interval,
            forecast_horizon=60.0 * sample_interval,
            thresholds=DEFAULT_THRESHOLDS if thresholds is None else thresholds,
            max_series=4096,
            clock=clock,
        )

    def analyse(self, values: Mapping[str, float]) -> dict[str, dict[str, Any]]:
        """Add one sample per metric and return each metric's compact analysis."""
        result = self.transformer.transform_system_metrics(values)
        out: dict[str, dict[str, Any]] = {}
        for name in values:
            metric = result[name]
            stats, flags, trend = metric.statistics, metric.anomaly, metric.trend
            # A 95 % band around the fitted line: the spread the line does not explain.
            spread = stats.std_dev * math.sqrt(max(0.0, 1.0 - (trend.r_squared or 0.0)))
            half = 1.96 * spread if math.isfinite(spread) else math.nan
            out[name] = {
                "mean": _round(stats.mean),
                "std_dev": _round(stats.std_dev),
                "p95": _round(stats.percentiles.get("p95")),
                "z": _round(flags.z_score, 3),
                "anomaly_score": _round(flags.score, 3),
                "anomaly": flags.is_anomaly,
                "trend": trend.direction,
                "slope": _round(trend.slope_per_second, 6),
                "forecast": _round(trend.forecast),
                "forecast_lo": _round(trend.forecast - half),
                "forecast_hi": _round(trend.forecast + half),
                "horizon": trend.horizon_seconds,
                "time_to_threshold": _round(trend.time_to_threshold, 1),
                "health": metric.health,
            }
        return out

    def health(self) -> dict[str, Any]:
        """Return the transformer's statistics (series tracked, ticks)."""
        return dict(self.transformer.stats())
