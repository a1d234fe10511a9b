"""Validated settings of a :class:`~rebellion.metrics.MetricsCollector`.

>>> MetricsConfig(window_seconds=30.0).window_buckets
6
>>> MetricsConfig(max_series=0)
Traceback (most recent call last):
...
rebellion.errors.ConfigError: max_series must be an integer >= 1, got 0
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from .._validate import check_duration, check_int, check_number
from ..errors import ConfigError
from ._instruments import DEFAULT_BUCKETS

__all__ = ["MetricsConfig"]


@dataclass(frozen=True, slots=True)
class MetricsConfig:
    """How a collector windows, caps and exports its metrics.

    Attributes:
        window_seconds: span of the recent window behind percentiles and rates (> 0).
        window_buckets: slots the window is split into (1-3600); the window slides by
            ``window_seconds / window_buckets``.
        max_window_samples: samples kept per slot for exact percentiles (>= 1); beyond
            it a uniform reservoir sample is kept (count and sum stay exact).
        max_series: cardinality cap: label sets allowed per metric (>= 1).
        quantiles: the windowed quantiles reported, each in [0, 1].
        histogram_buckets: default upper bounds of histogram and timer buckets
            (increasing, finite; +Inf is implied).
        include_primitives: export every registered resilience primitive too.
        alert_history: resolved alerts remembered (>= 0).
        collection_interval: seconds one window slot spans; when given it sets
            ``window_buckets`` to ``window_seconds / collection_interval``.
        enable_aggregation: report windowed quantiles (False: lifetime totals only).
        enable_anomaly_detection: score every gauge, histogram and timer sample with an
            :class:`~rebellion.metrics.AnomalyDetector`; snapshots gain ``anomalies``.
        alerting_enabled: allow ``create_alert`` (False: it raises ``ConfigError``).
        enable_prometheus: allow the Prometheus exposition.
        enable_json_export: allow ``to_json``.
        persistence_enabled: write the JSON snapshot to ``persistence_path`` when the
            collector stops.
        persistence_path: where that snapshot goes.
    """

    window_seconds: float = 60.0
    window_buckets: int = 6
    max_window_samples: int = 1024
    max_series: int = 1000
    quantiles: tuple[float, ...] = (0.5, 0.95, 0.99)
    histogram_buckets: tuple[float, ...] = DEFAULT_BUCKETS
    include_primitives: bool = True
    alert_history: int = 1000
    collection_interval: float | None = None
    enable_aggregation: bool = True
    enable_anomaly_detection: bool = False
    alerting_enabled: bool = True
    enable_prometheus: bool = True
    enable_json_export: bool = True
    persistence_enabled: bool = False
    persistence_path: str = "rebellion-metrics.json"

    def __post_init__(self) -> None:
        window = check_duration("window_seconds", self.window_seconds, exclusive_minimum=True)
        if self.collection_interval is not None:
            step = check_number(
                "collection_interval",
                self.collection_interval,
                maximum=window,
                minimum=0.0,
                exclusive_minimum=True,
            )
            slots = round(window / step)
            if not 1 <= slots <= 3600 or abs(slots * step - window) > 1e-9 * window:
                rule = f"a divisor of window_seconds ({window:g}) giving 1-3600 slots"
                raise ConfigError("collection_interval", rule, self.collection_interval)
            object.__setattr__(self, "window_buckets", slots)
        for flag in (
            "enable_aggregation",
            "enable_anomaly_detection",
            "alerting_enabled",
            "enable_prometheus",
            "enable_json_export",
            "persistence_enabled",
        ):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(flag, "True or False", getattr(self, flag))
        if not isinstance(self.persistence_path, str) or not self.persistence_path:
            raise ConfigError("persistence_path", "a file path", self.persistence_path)
        if not self.enable_aggregation:
            object.__setattr__(self, "quantiles", ())
        check_int("window_buckets", self.window_buckets, minimum=1, maximum=3600)
        check_int("max_window_samples", self.max_window_samples, minimum=1)
        check_int("max_series", self.max_series, minimum=1)
        check_int("alert_history", self.alert_history, minimum=0)
        object.__setattr__(self, "quantiles", check_quantiles(self.quantiles))
        object.__setattr__(
            self, "histogram_buckets", check_buckets(self.histogram_buckets, "histogram_buckets")
        )
        if not isinstance(self.include_primitives, bool):
            raise ConfigError("include_primitives", "True or False", self.include_primitives)


def check_quantiles(value: object) -> tuple[float, ...]:
    """Return ``value`` as a tuple of distinct quantiles in [0, 1], sorted."""
    rule = "a list of numbers in [0, 1]"
    if isinstance(value, str | bytes) or not isinstance(value, tuple | list):
        raise ConfigError("quantiles", rule, value)
    out = sorted({check_number("quantiles", q, minimum=0.0, maximum=1.0) for q in value})
    return tuple(out)


def check_buckets(value: object, parameter: str = "buckets") -> tuple[float, ...]:
    """Return ``value`` as strictly increasing finite bucket bounds (at least one)."""
    rule = "a non-empty list of strictly increasing finite numbers"
    if isinstance(value, str | bytes) or not isinstance(value, tuple | list) or not value:
        raise ConfigError(parameter, rule, value)
    bounds = tuple(check_number(parameter, b) for b in value)
    if any(b >= c for b, c in itertools.pairwise(bounds)):
        raise ConfigError(parameter, rule, value)
    return bounds
