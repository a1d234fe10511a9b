"""Prometheus exposition through ``prometheus_client``: our metrics and every primitive.

:class:`RebellionPrometheusCollector` is a ``prometheus_client`` custom collector: its
``collect()`` yields Counter/Gauge/Histogram/Summary metric families built from a
:class:`~rebellion.metrics.MetricsCollector` and from ``registry.snapshot()`` (every
live resilience primitive, as ``rebellion_*`` families). Rendering is
``prometheus_client.generate_latest``; nothing here writes exposition text by hand.

Histograms and timers export their all-time cumulative buckets as a histogram and
their recent window as a summary ``<name>_window`` with the configured quantiles.
A meter exports ``<name>_total`` (counter) and ``<name>_rate`` (events/s, windowed).

>>> from prometheus_client import generate_latest
>>> from rebellion import Registry
>>> from rebellion.metrics import MetricsCollector
>>> collector = MetricsCollector("doc", primitives=Registry())
>>> collector.inc("jobs_total", 3)
>>> print(generate_latest(prometheus_registry(collector)).decode().splitlines()[2])
jobs_total 3.0
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, cast, final

from prometheus_client import CollectorRegistry
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
    SummaryMetricFamily,
)
from prometheus_client.registry import Collector

from .._registry import Registry, registry
from ..errors import ConfigError
from ._instruments import CounterChild, Family, GaugeChild, HistogramChild, MeterChild
from ._primitives import primitive_families

if TYPE_CHECKING:
    from .collector import MetricsCollector

__all__ = ["RebellionPrometheusCollector", "prometheus_registry", "prometheus_text"]


@final
class RebellionPrometheusCollector(Collector):
    """Yield our metric families (if a collector is given) and every primitive's.

    Args:
        metrics: the application metrics to expose, or None for primitives only.
        primitives: the registry of primitives to expose (default: the global one);
            ignored when ``include_primitives`` is false.
        include_primitives: whether to expose primitives at all (default: the metrics
            collector's ``config.include_primitives``, else True).
    """

    def __init__(
        self,
        metrics: MetricsCollector | None = None,
        *,
        primitives: Registry | None = None,
        include_primitives: bool | None = None,
    ) -> None:
        from .collector import MetricsCollector

        if metrics is not None and not isinstance(metrics, MetricsCollector):
            raise ConfigError("metrics", "a MetricsCollector or None", metrics)
        if primitives is not None and not isinstance(primitives, Registry):
            raise ConfigError("primitives", "a rebellion Registry or None", primitives)
        if include_primitives is not None and not isinstance(include_primitives, bool):
            raise ConfigError("include_primitives", "True, False or None", include_primitives)
        self.metrics = metrics
        if primitives is None:
            primitives = metrics.primitives if metrics is not None else registry
        self.primitives = primitives
        if include_primitives is None:
            include_primitives = metrics.config.include_primitives if metrics else True
        self.include_primitives = include_primitives

    def collect(self) -> Iterator[Metric]:
        """Yield a fresh set of metric families (called by ``generate_latest``)."""
        if self.metrics is not None:
            quantiles = self.metrics.config.quantiles
            for family in self.metrics.families():
                yield from _families_of(family, quantiles)
        if self.include_primitives:
            yield from primitive_families(self.primitives.snapshot())

    def describe(self) -> list[Metric]:
        """Return no descriptions: names are dynamic, so registration never collects."""
        return []


def _families_of(family: Family, quantiles: tuple[float, ...]) -> Iterator[Metric]:
    items = family.items()
    names = list(family.label_names or ())
    doc = family.help or f"{family.type} {family.name}"
    if family.type == "counter":
        counter = CounterMetricFamily(family.name, doc, labels=names)
        for labels, child in items:
            assert isinstance(child, CounterChild)
            counter.add_metric(list(labels.values()), child.value)
        yield counter
    elif family.type == "gauge":
        gauge = GaugeMetricFamily(family.name, doc, labels=names)
        for labels, child in items:
            assert isinstance(child, GaugeChild)
            gauge.add_metric(list(labels.values()), child.value)
        yield gauge
    elif family.type == "meter":
        base = family.name[: -len("_total")] if family.name.endswith("_total") else family.name
        total = CounterMetricFamily(base, doc, labels=names)
        rate = GaugeMetricFamily(f"{base}_rate", f"{doc} (events/s, windowed)", labels=names)
        for labels, child in items:
            assert isinstance(child, MeterChild)
            values = list(labels.values())
            total.add_metric(values, child.total)
            rate.add_metric(values, child.rates()[0])
        yield total
        yield rate
    else:
        hist = HistogramMetricFamily(family.name, doc, labels=names)
        window = SummaryMetricFamily(
            f"{family.name}_window", f"{doc} (last window, quantiles)", labels=names
        )
        for labels, child in items:
            assert isinstance(child, HistogramChild)
            values = list(labels.values())
            buckets, _count, total_sum = child.cumulative()
            hist.add_metric(values, buckets, total_sum)
            recent = child.window(quantiles)
            points = recent["quantiles"]
            assert isinstance(points, dict)
            for q in quantiles:
                value = points[str(q)]
                window.add_sample(
                    window.name,
                    {**labels, "quantile": repr(float(q))},
                    float("nan") if value is None else value,
                )
            window.add_metric(values, cast(int, recent["count"]), float(cast(float, recent["sum"])))
        yield hist
        yield window


def prometheus_registry(
    metrics: MetricsCollector | None = None,
    *,
    primitives: Registry | None = None,
    include_primitives: bool | None = None,
) -> CollectorRegistry:
    """Return a new ``CollectorRegistry`` holding one :class:`RebellionPrometheusCollector`.

    Args:
        metrics: application metrics to expose, or None for primitives only.
        primitives: registry of primitives (default: the collector's or the global one).
        include_primitives: expose primitives (default: the collector's setting).
    """
    target = CollectorRegistry()
    target.register(
        RebellionPrometheusCollector(
            metrics, primitives=primitives, include_primitives=include_primitives
        )
    )
    return target


def prometheus_text(metrics: MetricsCollector | None = None) -> str:
    """Return the text exposition of ``metrics`` and the global primitives."""
    from prometheus_client import generate_latest

    return generate_latest(prometheus_registry(metrics)).decode("utf-8")
