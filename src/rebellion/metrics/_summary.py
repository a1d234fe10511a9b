"""JSON-ready summaries of metric families (the collector's ``snapshot()`` body).

Windowed quantiles are keyed ``p50``, ``p95``, ``p99`` (``p99.9`` for 0.999).

>>> quantile_key(0.5), quantile_key(0.999)
('p50', 'p99.9')
"""

from __future__ import annotations

from typing import Any

from ._instruments import CounterChild, Family, GaugeChild, HistogramChild, MeterChild

__all__ = ["family_summary", "quantile_key"]


def quantile_key(q: float) -> str:
    """Return the summary key of quantile ``q`` (``0.95`` -> ``"p95"``)."""
    return f"p{q * 100:.10g}"


def family_summary(family: Family, quantiles: tuple[float, ...]) -> dict[str, Any]:
    """Return ``{"type", "help", "series": [...]}`` for one family."""
    series: list[dict[str, Any]] = []
    for labels, child in family.items():
        entry: dict[str, Any] = {"labels": labels}
        if isinstance(child, CounterChild | GaugeChild):
            entry["value"] = child.value
        elif isinstance(child, MeterChild):
            rate, mean_rate = child.rates()
            entry.update(total=child.total, rate=rate, mean_rate=mean_rate)
        elif isinstance(child, HistogramChild):
            window = child.window(quantiles)
            stats = {k: window[k] for k in ("count", "sum", "mean", "min", "max")}
            raw = window["quantiles"]
            assert isinstance(raw, dict)
            for q in quantiles:
                stats[quantile_key(q)] = raw[str(q)]
            entry.update(count=child.count, sum=child.sum, window=stats)
        series.append(entry)
    return {"type": family.type, "help": family.help, "series": series}
