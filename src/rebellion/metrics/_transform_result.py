"""What ``transform_system_metrics`` returns: arrays for all series, objects on demand.

:class:`TransformResult` is a read-only mapping of metric name to
:class:`MetricTransform`, built lazily from the vectorised arrays it holds (so a tick
over a thousand series costs no per-series Python objects unless you ask for them), plus
the overall :class:`HealthAssessment`. ``to_dict()`` gives plain JSON-ready data in
which NaN and infinities become ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, final

import numpy as np
import numpy.typing as npt

from ._series_stats import WindowStats

__all__ = [
    "AnomalyFlags",
    "HealthAssessment",
    "HealthStatus",
    "MetricTransform",
    "SeriesStatistics",
    "TransformResult",
    "Trend",
    "assess",
    "percentile_labels",
]

HealthStatus = Literal["healthy", "warning", "critical"]
_STATUS: tuple[HealthStatus, ...] = ("healthy", "warning", "critical")


def _clean(value: object) -> object:
    """Return ``value`` with NaN/inf floats replaced by None, recursively."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


@final
@dataclass(frozen=True, slots=True)
class SeriesStatistics:
    """Window statistics: mean, population std_dev, min, max, median, MAD, percentiles."""

    mean: float
    std_dev: float
    min: float
    max: float
    median: float
    mad: float
    percentiles: Mapping[str, float]


@final
@dataclass(frozen=True, slots=True)
class AnomalyFlags:
    """Latest-sample anomaly evidence from three detectors.

    ``is_anomaly`` is true when the calibrated ``score`` reaches the alert level, or when
    the z-score and robust z-score both exceed their thresholds.
    """

    z_score: float
    z_flag: bool
    robust_z: float
    robust_flag: bool
    score: float
    score_flag: bool
    is_anomaly: bool


@final
@dataclass(frozen=True, slots=True)
class Trend:
    """Least-squares trend of the window, a forecast and the time to the threshold.

    ``slope`` is per sample, ``slope_per_second`` divides by the sample interval;
    ``forecast`` is the fitted line ``horizon_seconds`` ahead; ``time_to_threshold`` is
    seconds until the fitted line reaches the metric's threshold (0 if the latest value
    already has, None if there is no threshold or the trend is not rising).
    """

    slope: float
    slope_per_second: float
    r_squared: float
    direction: Literal["rising", "falling", "flat"]
    forecast: float
    horizon_seconds: float
    threshold: float | None
    time_to_threshold: float | None


@final
@dataclass(frozen=True, slots=True)
class MetricTransform:
    """Everything known about one metric after a tick; ``to_dict()`` for JSON."""

    name: str
    values: tuple[float, ...]
    latest: float
    samples: int
    statistics: SeriesStatistics
    smoothed: tuple[float, ...]
    anomaly: AnomalyFlags
    trend: Trend
    health: HealthStatus

    def to_dict(self) -> dict[str, Any]:
        """Return plain data (NaN and inf become None)."""
        s, a, t = self.statistics, self.anomaly, self.trend
        out = {
            "name": self.name,
            "values": list(self.values),
            "latest": self.latest,
            "samples": self.samples,
            "statistics": {
                "mean": s.mean,
                "std_dev": s.std_dev,
                "min": s.min,
                "max": s.max,
                "median": s.median,
                "mad": s.mad,
                "percentiles": dict(s.percentiles),
            },
            "smoothed": list(self.smoothed),
            "anomaly": {
                "z_score": a.z_score,
                "z_flag": a.z_flag,
                "robust_z": a.robust_z,
                "robust_flag": a.robust_flag,
                "score": a.score,
                "score_flag": a.score_flag,
                "is_anomaly": a.is_anomaly,
            },
            "trend": {
                "slope": t.slope,
                "slope_per_second": t.slope_per_second,
                "r_squared": t.r_squared,
                "direction": t.direction,
                "forecast": t.forecast,
                "horizon_seconds": t.horizon_seconds,
                "threshold": t.threshold,
                "time_to_threshold": t.time_to_threshold,
            },
            "health": self.health,
        }
        cleaned = _clean(out)
        assert isinstance(cleaned, dict)
        return cleaned


@final
@dataclass(frozen=True, slots=True)
class HealthAssessment:
    """The overall verdict: worst status, a 0-100 score and the metrics with issues.

    ``score`` is ``100 * (1 - (warnings / 2 + criticals) / metrics)``; ``issues`` lists
    the names of non-healthy metrics, critical first.
    """

    status: HealthStatus
    score: float
    metrics: int
    healthy: int
    warning: int
    critical: int
    issues: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return plain data."""
        return {
            "status": self.status,
            "score": self.score,
            "metrics": self.metrics,
            "healthy": self.healthy,
            "warning": self.warning,
            "critical": self.critical,
            "issues": list(self.issues),
        }


@final
class TransformResult(Mapping[str, MetricTransform]):
    """Read-only mapping of metric name to :class:`MetricTransform` for one tick.

    Attributes:
        names: metric names, in row order (first seen first).
        stats: the vectorised :class:`WindowStats` arrays (row ``i`` is ``names[i]``).
        window: ``(series, history_size)`` values, oldest first (NaN: no sample).
        score, level, forecast, time_to_threshold: per-series arrays.
        health: the overall :class:`HealthAssessment`.
        timestamp: wall-clock seconds of the tick.
    """

    def __init__(
        self,
        *,
        names: tuple[str, ...],
        stats: WindowStats,
        window: npt.NDArray[np.float64],
        quantiles: tuple[float, ...],
        score: npt.NDArray[np.float64],
        flags: tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_], npt.NDArray[np.bool_]],
        level: npt.NDArray[np.int64],
        forecast: npt.NDArray[np.float64],
        time_to_threshold: npt.NDArray[np.float64],
        thresholds: npt.NDArray[np.float64],
        sample_interval: float,
        horizon: float,
        health: HealthAssessment,
        timestamp: float,
    ) -> None:
        self.names = names
        self.stats = stats
        self.window = window
        self.quantiles = quantiles
        self.score = score
        self.flags = flags
        self.level = level
        self.forecast = forecast
        self.time_to_threshold = time_to_threshold
        self.thresholds = thresholds
        self.sample_interval = sample_interval
        self.horizon = horizon
        self.health = health
        self.timestamp = timestamp
        self._index = {name: i for i, name in enumerate(names)}
        self._built: dict[str, MetricTransform] = {}
        self._rows: npt.NDArray[np.float64] | None = None
        self._labels = percentile_labels(quantiles)

    def __getitem__(self, name: str) -> MetricTransform:
        built = self._built.get(name)
        if built is None:
            built = self._built[name] = self._build(self._index[name])
        return built

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def _table(self) -> npt.NDArray[np.float64]:
        """Every per-series scalar as one ``(series, columns)`` array, built once.

        One ``tolist()`` of a row then yields all of a metric's numbers as Python floats,
        instead of some twenty NumPy scalar reads per metric.
        """
        if self._rows is None:
            s = self.stats
            z_flag, robust_flag, score_flag = self.flags
            self._rows = np.column_stack(
                (
                    s.count,
                    s.latest,
                    s.mean,
                    s.std,
                    s.min,
                    s.max,
                    s.median,
                    s.mad,
                    s.z,
                    s.robust_z,
                    s.slope,
                    s.r2,
                    self.score,
                    self.forecast,
                    self.time_to_threshold,
                    self.thresholds,
                    self.level,
                    z_flag,
                    robust_flag,
                    score_flag,
                    s.percentiles,
                )
            ).astype(np.float64, copy=False)
        return self._rows

    def _build(self, i: int) -> MetricTransform:
        row = self._table()[i].tolist()
        (count_f, latest, mean, sd, low, high, median, mad, z, robust_z, slope, r2) = row[:12]
        score, forecast, tts, threshold, level, z_f, robust_f, score_f = row[12:20]
        count = int(count_f)
        window = self.window[i]
        width = window.shape[0]
        # Keep the span from the first sample on (gaps inside stay NaN).
        start = 0  # a full window needs no NaN scan
        if count < width:
            start = width if count == 0 else int(np.isnan(window).argmin())
        z_flag, robust_flag, score_flag = z_f != 0.0, robust_f != 0.0, score_f != 0.0
        direction: Literal["rising", "falling", "flat"] = "flat"
        if count >= 3 and r2 >= 0.3 and abs(slope) * count > 0.5 * sd:
            direction = "rising" if slope > 0 else "falling"
        return MetricTransform(
            name=self.names[i],
            values=tuple(window[start:].tolist()),
            latest=latest,
            samples=count,
            statistics=SeriesStatistics(
                mean=mean,
                std_dev=sd,
                min=low,
                max=high,
                median=median,
                mad=mad,
                percentiles=dict(zip(self._labels, row[20:], strict=True)),
            ),
            smoothed=tuple(self.stats.smoothed[i, start:].tolist()),
            anomaly=AnomalyFlags(
                z_score=z,
                z_flag=z_flag,
                robust_z=robust_z,
                robust_flag=robust_flag,
                score=score,
                score_flag=score_flag,
                is_anomaly=score_flag or (z_flag and robust_flag),
            ),
            trend=Trend(
                slope=slope,
                slope_per_second=slope / self.sample_interval,
                r_squared=r2,
                direction=direction,
                forecast=forecast,
                horizon_seconds=self.horizon,
                threshold=None if math.isnan(threshold) else threshold,
                time_to_threshold=None if math.isnan(tts) else tts,
            ),
            health=_STATUS[int(level)],
        )

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"timestamp", "health", "metrics": {name: ...}}`` as plain data."""
        return {
            "timestamp": self.timestamp,
            "health": self.health.to_dict(),
            "metrics": {name: self[name].to_dict() for name in self.names},
        }

    def __repr__(self) -> str:
        return f"TransformResult(metrics={len(self.names)}, health={self.health.status!r})"


@lru_cache(maxsize=64)
def percentile_labels(quantiles: tuple[float, ...]) -> tuple[str, ...]:
    """Return the ``percentiles`` keys of ``quantiles``: ``0.95`` -> ``"p95"``."""
    return tuple(f"p{q * 100:.10g}" for q in quantiles)


def assess(names: tuple[str, ...], level: npt.NDArray[np.int64]) -> HealthAssessment:
    """Return the overall verdict from per-series levels (0 ok, 1 warning, 2 critical)."""
    counts = np.bincount(level, minlength=3) if level.size else np.zeros(3, dtype=np.int64)
    healthy, warning, critical = (int(c) for c in counts[:3])
    total = len(names)
    score = 100.0 if total == 0 else 100.0 * (1.0 - (warning / 2.0 + critical) / total)
    bad = np.flatnonzero(level)
    order = bad[np.argsort(-level[bad], kind="stable")]
    return HealthAssessment(
        status=_STATUS[int(level.max()) if level.size else 0],
        score=round(score, 3),
        metrics=total,
        healthy=healthy,
        warning=warning,
        critical=critical,
        issues=tuple(names[i] for i in order),
    )
