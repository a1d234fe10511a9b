"""MetricsCollector: counters, gauges, histograms, timers and meters with labels.

Three ways in, one state: async methods for the seed's calls (``await
collector.increment(...)``), plain sync methods (``inc``, ``set``, ``observe``,
``record_time``, ``mark``) and, for hot paths, handles (``collector.counter(name,
labels).inc()``) that skip every lookup. Histograms and timers keep cumulative buckets
for Prometheus plus a time-bucketed window for p50/p95/p99; meters give a windowed
rate. ``snapshot()`` is the JSON-ready view the monitor stores; Prometheus exposition
lives in :mod:`rebellion.metrics.prometheus`. The alert list is the hook the alerting
engine builds on.

>>> from rebellion.testing import ManualClock
>>> collector = MetricsCollector("api", clock=ManualClock())
>>> hits = collector.counter("hits_total", {"endpoint": "/a"})
>>> hits.inc(); collector.inc("hits_total", 2, {"endpoint": "/a"})
>>> hits.value
3.0
>>> collector.record_time("latency_seconds", 0.25)
>>> collector.snapshot()["metrics"]["latency_seconds"]["series"][0]["window"]["p50"]
0.25
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, final

from .._clock import Clock
from .._registry import Registry, registry
from .._validate import check_clock, check_name
from ..errors import ConfigError
from ._alerts import Alert, AlertBook, AlertCallback
from ._config import MetricsConfig, check_buckets
from ._instruments import (
    CounterChild,
    Family,
    GaugeChild,
    HistogramChild,
    MeterChild,
    MetricType,
    WindowSettings,
)
from ._names import LabelValue, check_metric_name
from ._scores import SeriesScores, write_atomically
from ._summary import family_summary
from ._timing import Timing
from .severity import AlertSeverity

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

__all__ = ["Labels", "MetricsCollector"]

Labels = Mapping[str, LabelValue] | None
"""Label names mapped to values (str, int or float), or None for no labels."""


@final
class MetricsCollector:
    """Collect application metrics and alerts; export them as JSON or Prometheus.

    Args:
        name: the collector's name (shown in snapshots and the registry).
        config: a :class:`MetricsConfig` (windows, cardinality cap, quantiles...).
        clock: time source for windows, timers and alert stamps (tests: ManualClock).
        primitives: the registry whose primitives are exported (default: the global one).

    Raises:
        ConfigError: a parameter is invalid; the message names it.
    """

    kind = "metrics_collector"

    def __init__(
        self,
        name: str = "metrics",
        config: MetricsConfig | None = None,
        *,
        clock: Clock | None = None,
        primitives: Registry | None = None,
    ) -> None:
        self.name = check_name("name", name)
        if config is None:
            config = MetricsConfig()
        elif not isinstance(config, MetricsConfig):
            raise ConfigError("config", "a MetricsConfig or None", config)
        if primitives is not None and not isinstance(primitives, Registry):
            raise ConfigError("primitives", "a rebellion Registry or None", primitives)
        self.config = config
        self.clock = check_clock(clock)
        self.primitives = registry if primitives is None else primitives
        self.alerts = AlertBook(name, self.clock, config.alert_history)
        self._window = WindowSettings(
            config.window_seconds, config.window_buckets, config.max_window_samples
        )
        self._families: dict[str, Family] = {}
        self._lock = threading.Lock()
        self._started_at = self.clock.monotonic()
        self._running = False
        self._prometheus: CollectorRegistry | None = None
        self._scores = SeriesScores() if config.enable_anomaly_detection else None
        registry.track(self)

    # -- families and handles -----------------------------------------------------------

    def _family(
        self,
        name: str,
        kind: MetricType,
        help: str | None = None,
        buckets: object = None,
    ) -> Family:
        family = self._families.get(name)
        if family is not None and family.type == kind and help is None and buckets is None:
            return family
        return self._define(name, kind, help, buckets)

    def _define(self, name: str, kind: MetricType, help: str | None, buckets: object) -> Family:
        check_metric_name(name)
        if help is not None and not isinstance(help, str):
            raise ConfigError("help", "a string or None", help)
        bounds = self.config.histogram_buckets
        if buckets is not None:
            if kind not in ("histogram", "timer"):
                raise ConfigError("buckets", "None for a metric that is not a histogram", buckets)
            bounds = check_buckets(buckets)
        with self._lock:
            family = self._families.get(name)
            if family is None:
                clash = _clashes(name, kind, self._families)
                if clash is not None:
                    raise ConfigError(
                        "name", f"a name whose samples do not clash with {clash!r}", name
                    )
                family = Family(
                    name,
                    kind,
                    help or "",
                    self.clock,
                    max_series=self.config.max_series,
                    bounds=bounds,
                    window=self._window,
                )
                self._families[name] = family
                return family
        if family.type != kind:
            raise ConfigError("name", f"a {kind} name, but {name!r} is a {family.type}", name)
        if help is not None and help != family.help:
            if family.help:
                raise ConfigError("help", f"{family.help!r} as defined for {name!r}", help)
            family.help = help
        if buckets is not None and bounds != family.bounds:
            raise ConfigError("buckets", f"{family.bounds!r} as defined for {name!r}", buckets)
        return family

    def counter(self, name: str, labels: Labels = None, *, help: str | None = None) -> CounterChild:
        """Return the counter handle of ``name`` and ``labels`` (``.inc(amount=1)``).

        Raises:
            ConfigError: invalid name/labels, a name of another type, or the cardinality cap.
        """
        return self._family(name, "counter", help).child(labels)  # type: ignore[return-value]

    get_counter = counter

    def get_gauge(self, name: str, labels: Labels = None, *, help: str | None = None) -> GaugeChild:
        """Return the gauge handle of ``name`` and ``labels`` (``set``, ``inc``, ``dec``)."""
        return self._family(name, "gauge", help).child(labels)  # type: ignore[return-value]

    def get_histogram(
        self,
        name: str,
        labels: Labels = None,
        *,
        help: str | None = None,
        buckets: tuple[float, ...] | list[float] | None = None,
    ) -> HistogramChild:
        """Return the histogram handle of ``name`` and ``labels`` (``.observe(value)``).

        Args:
            name: metric name.
            labels: label values.
            help: description, set once.
            buckets: upper bounds for this metric (first definition wins; a different
                list later is an error).
        """
        family = self._family(name, "histogram", help, buckets)
        return family.child(labels)  # type: ignore[return-value]

    def get_timer(
        self,
        name: str,
        labels: Labels = None,
        *,
        help: str | None = None,
        buckets: tuple[float, ...] | list[float] | None = None,
    ) -> HistogramChild:
        """Return the timer handle (a histogram of seconds) of ``name`` and ``labels``."""
        return self._family(name, "timer", help, buckets).child(labels)  # type: ignore[return-value]

    def meter(self, name: str, labels: Labels = None, *, help: str | None = None) -> MeterChild:
        """Return the meter handle of ``name`` and ``labels`` (``.mark(count=1)``)."""
        return self._family(name, "meter", help).child(labels)  # type: ignore[return-value]

    get_meter = meter

    def time(self, name: str, labels: Labels = None) -> Timing:
        """Return a timing for ``with``/``async with`` or as a decorator (def/async def)."""
        return Timing(self.get_timer(name, labels), self.clock)

    # -- plain sync methods -----------------------------------------------------------

    def inc(self, name: str, amount: float = 1.0, labels: Labels = None) -> None:
        """Add ``amount`` (>= 0) to counter ``name``."""
        self.counter(name, labels).inc(amount)

    def set(self, name: str, value: float, labels: Labels = None) -> None:
        """Set gauge ``name`` to ``value``."""
        self.get_gauge(name, labels).set(value)
        if self._scores is not None:
            self._scores.update(name, labels, value)

    def observe(self, name: str, value: float, labels: Labels = None) -> None:
        """Record ``value`` in histogram ``name``."""
        self.get_histogram(name, labels).observe(value)
        if self._scores is not None:
            self._scores.update(name, labels, value)

    def record_time(self, name: str, seconds: float, labels: Labels = None) -> None:
        """Record a duration of ``seconds`` in timer ``name``."""
        if isinstance(seconds, int | float) and not isinstance(seconds, bool) and seconds < 0:
            raise ConfigError("seconds", "a duration >= 0", seconds)
        self.get_timer(name, labels).observe(seconds)
        if self._scores is not None:
            self._scores.update(name, labels, seconds)

    def mark(self, name: str, count: float = 1.0, labels: Labels = None) -> None:
        """Record ``count`` events in meter ``name``."""
        self.meter(name, labels).mark(count)

    # -- the seed's async surface -----------------------------------------------------

    async def start(self) -> None:
        """Mark the collector running (idempotent); windows need no background task."""
        self._running = True

    async def stop(self) -> None:
        """Mark the collector stopped (idempotent); recorded data stays readable.

        With ``persistence_enabled`` the JSON snapshot is written to ``persistence_path``.
        """
        self._running = False
        if self.config.persistence_enabled:
            await asyncio.to_thread(write_atomically, self.config.persistence_path, self.to_json())

    @property
    def running(self) -> bool:
        """Whether :meth:`start` was called more recently than :meth:`stop`."""
        return self._running

    async def increment(self, name: str, value: float = 1.0, labels: Labels = None) -> None:
        """Add ``value`` to counter ``name`` (async form of :meth:`inc`)."""
        self.inc(name, value, labels)

    async def gauge(self, name: str, value: float, labels: Labels = None) -> None:
        """Set gauge ``name`` (async form of :meth:`set`)."""
        self.set(name, value, labels)

    async def histogram(self, name: str, value: float, labels: Labels = None) -> None:
        """Record ``value`` in histogram ``name`` (async form of :meth:`observe`)."""
        self.observe(name, value, labels)

    async def timer(self, name: str, seconds: float, labels: Labels = None) -> None:
        """Record a duration in timer ``name`` (async form of :meth:`record_time`)."""
        self.record_time(name, seconds, labels)

    async def create_alert(
        self,
        name: str,
        severity: AlertSeverity | str,
        message: str = "",
        labels: Labels = None,
    ) -> Alert:
        """Raise an alert (or return the active one of the same name and labels).

        Raises:
            ConfigError: the collector's config has ``alerting_enabled=False``.
        """
        if not self.config.alerting_enabled:
            raise ConfigError("alerting_enabled", "True to raise alerts", False)
        return self.alerts.create(name, severity, message, labels)

    async def resolve_alert(self, name: str, labels: Labels = None) -> Alert | None:
        """Resolve the active alert ``name``/``labels``; None if none was active."""
        return self.alerts.resolve(name, labels)

    async def get_active_alerts(
        self, min_severity: AlertSeverity | str | None = None
    ) -> list[Alert]:
        """Return active alerts at ``min_severity`` or above."""
        return self.alerts.active(min_severity)

    def add_alert_callback(self, callback: AlertCallback) -> Callable[[], None]:
        """Call ``callback(alert)`` on every raised and resolved alert; returns a remover."""
        return self.alerts.add_callback(callback)

    async def get_metrics_summary(self) -> dict[str, Any]:
        """Return :meth:`snapshot` (async form for the seed)."""
        return self.snapshot()

    # -- export ----------------------------------------------------------------------

    def families(self) -> list[Family]:
        """Return the metric families, sorted by name (for exporters)."""
        with self._lock:
            return [self._families[n] for n in sorted(self._families)]

    def snapshot(self) -> dict[str, Any]:
        """Return a JSON-ready view: metrics (windowed too), alerts and primitives."""
        quantiles = self.config.quantiles
        active = self.alerts.active()
        by_severity = {s.value: 0 for s in AlertSeverity}
        for alert in active:
            by_severity[alert.severity.value] += 1
        out: dict[str, Any] = {
            "collector": self.name,
            "at": self.clock.wall(),
            "uptime_seconds": self.clock.monotonic() - self._started_at,
            "metrics": {f.name: family_summary(f, quantiles) for f in self.families()},
            "alerts": {
                "active": len(active),
                "by_severity": by_severity,
                "items": [a.to_dict() for a in active],
            },
        }
        if self.config.include_primitives:
            out["primitives"] = self.primitives.snapshot()
        if self._scores is not None:
            out["anomalies"] = self._scores.latest()
        return out

    def to_json(self) -> str:
        """Return :meth:`snapshot` as a JSON string.

        Raises:
            ConfigError: the collector's config has ``enable_json_export=False``.
        """
        if not self.config.enable_json_export:
            raise ConfigError("enable_json_export", "True to export JSON", False)
        return json.dumps(self.snapshot(), default=str, sort_keys=True)

    def prometheus_registry(self) -> CollectorRegistry:
        """Return a ``prometheus_client`` registry that exposes this collector.

        Raises:
            ConfigError: the collector's config has ``enable_prometheus=False``.
        """
        if not self.config.enable_prometheus:
            raise ConfigError("enable_prometheus", "True to export Prometheus text", False)
        if self._prometheus is None:
            from .prometheus import prometheus_registry

            self._prometheus = prometheus_registry(self)
        return self._prometheus

    def prometheus_text(self) -> str:
        """Return the Prometheus text exposition (``generate_latest`` of our registry)."""
        from prometheus_client import generate_latest

        return generate_latest(self.prometheus_registry()).decode("utf-8")

    def stats(self) -> dict[str, Any]:
        """Return a small snapshot for the registry: metric, series and alert counts."""
        families = self.families()
        return {
            "kind": self.kind,
            "name": self.name,
            "metrics": len(families),
            "series": sum(len(f.children) for f in families),
            "active_alerts": len(self.alerts.active()),
        }

    def __repr__(self) -> str:
        return f"MetricsCollector(name={self.name!r}, metrics={len(self._families)})"


_SUFFIXES: dict[str, tuple[str, ...]] = {
    "counter": ("", "_total", "_created"),
    "gauge": ("",),
    "histogram": ("", "_bucket", "_count", "_sum", "_created", "_window"),
    "timer": ("", "_bucket", "_count", "_sum", "_created", "_window"),
    "meter": ("", "_total", "_created", "_rate"),
}


def _exposed(name: str, kind: str) -> set[str]:
    base = (
        name[: -len("_total")] if kind in ("counter", "meter") and name.endswith("_total") else name
    )
    names = {base + s for s in _SUFFIXES[kind]}
    if kind in ("histogram", "timer"):
        names |= {f"{name}_window{s}" for s in ("_count", "_sum")}
    return names


def _clashes(name: str, kind: str, families: Mapping[str, Family]) -> str | None:
    mine = _exposed(name, kind)
    for other in families.values():
        if mine & _exposed(other.name, other.type):
            return other.name
    return None
