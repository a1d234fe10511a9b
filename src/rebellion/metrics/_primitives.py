"""Map ``registry.snapshot()`` entries to ``rebellion_*`` Prometheus metric families.

Known kinds get well-named families: calls by outcome
(``rebellion_circuit_breaker_calls_total{name,outcome}``), state as a one-hot gauge
(``rebellion_circuit_breaker_state{name,state}``), counters such as retries, rejections
and drops as ``..._total``. Every other numeric statistic of any kind (including kinds
written later) is exported generically as a gauge ``rebellion_<kind>_<stat>{name}``;
a dict of numbers becomes one family with a ``key`` label (or a better-named one).
Booleans export as 0/1; strings other than ``state`` and nested lists are skipped.

>>> fams = primitive_families([{"kind": "retry", "name": "db", "stats": {"retries": 2}}])
>>> [(f.name, f.type, f.samples[0].value) for f in fams]
[('rebellion_retry_retries', 'counter', 2.0)]
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

__all__ = ["primitive_families"]

# kind -> stat -> outcome label of rebellion_<kind>_calls_total
_OUTCOMES: dict[str, dict[str, str]] = {
    "circuit_breaker": {
        "successes": "success",
        "failures": "failure",
        "rejections": "rejected",
        "ignored": "ignored",
    },
    "retry": {"successes": "success", "failures": "failure"},
    "fallback": {"successes": "success", "fallbacks": "fallback", "failures": "failure"},
    "bulkhead": {"admitted": "admitted", "rejected": "rejected"},
    "rate_limiter": {"allowed": "allowed", "admitted": "allowed", "rejected": "rejected"},
    "timeout": {},
}
# Stats that only ever grow (any kind): exported as counters ``..._total``.
_COUNTERS = frozenset(
    {
        "calls",
        "retries",
        "timeouts",
        "transitions",
        "slow_calls",
        "shadow_rejected_calls",
        "rejected",
        "rejections",
        "rejected_calls",
        "dropped",
        "drops",
        "withdrawn",
        "refused",
        "gave_up",
        "by_error",
        "total_errors",
        "recovered",
        "unrecovered",
        "enqueued",
        "dequeued",
        "processed",
        "failed",
        "acked",
        "nacked",
        "dead_lettered",
        "hits",
        "misses",
        "evictions",
        "expired",
        "submitted",
        "batches",
        "errors",
        "successes",
        "failures",
        "fallbacks",
        "accepted",
        "completed",
        "allowed",
        "admitted",
        "received",
        "delivered",
        "dropped_by_reason",
        "rejected_queue_full",
        "rejected_timeout",
        "cancelled",
        "waited",
        "passed",
        "injected_latency",
        "injected_errors",
        "injected_results",
    }
)
# Labels for dict-valued stats: (kind or "*", stat) -> label name.
_DICT_LABELS: dict[tuple[str, str], str] = {
    ("*", "gave_up"): "reason",
    ("*", "by_error"): "error",
    ("*", "by_component"): "component",
    ("*", "by_operation"): "operation",
    ("*", "by_severity"): "severity",
    ("*", "by_error_type"): "error",
    ("*", "by_strategy"): "strategy",
    ("*", "dropped_by_reason"): "reason",
}
_STATES: dict[str, tuple[str, ...]] = {
    "circuit_breaker": (
        "CLOSED",
        "OPEN",
        "HALF_OPEN",
        "DEGRADED",
        "FORCED_OPEN",
        "ISOLATED",
        "DISABLED",
        "METRICS_ONLY",
    ),
}
_SKIP = frozenset({"kind", "name"})
_BAD = re.compile(r"[^a-zA-Z0-9_]")


def _clean(text: str) -> str:
    cleaned = _BAD.sub("_", text).strip("_").lower() or "unnamed"
    return cleaned if not cleaned[0].isdigit() else "_" + cleaned


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None


class _Families:
    """Families by full name, created on first use with their type and label names."""

    def __init__(self) -> None:
        self.by_name: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}

    def add(self, name: str, counter: bool, doc: str, labels: dict[str, str], value: float) -> None:
        family = self.by_name.get(name)
        if family is None:
            family = (CounterMetricFamily if counter else GaugeMetricFamily)(
                name, doc, labels=list(labels)
            )
            self.by_name[name] = family
        elif (family.type == "counter") != counter or family._labelnames != tuple(labels):
            return  # the same stat name used differently by another kind: keep the first
        family.add_metric(list(labels.values()), value)


def primitive_families(snapshot: Iterable[Mapping[str, Any]]) -> list[Metric]:
    """Return the Prometheus families of every primitive in a ``registry.snapshot()``.

    Primitives sharing a kind and name get ``#2``, ``#3``... appended to the ``name``
    label so no series is duplicated.
    """
    out = _Families()
    seen: dict[tuple[str, str], int] = {}
    for entry in snapshot:
        kind = _clean(str(entry.get("kind", "primitive")))
        name = str(entry.get("name", ""))
        seen[kind, name] = n = seen.get((kind, name), 0) + 1
        if n > 1:
            name = f"{name}#{n}"
        stats = entry.get("stats") or {}
        measures = entry.get("measures")
        if measures:
            _typed(out, kind, name, stats, measures)
        else:
            _one(out, kind, name, stats)
    return list(out.by_name.values())


def _typed(
    out: _Families,
    kind: str,
    name: str,
    stats: Mapping[str, Any],
    measures: Mapping[str, str],
) -> None:
    """Export a typed snapshot: each statistic as what its field says it measures."""
    prefix = f"rebellion_{kind}"
    outcomes = _OUTCOMES.get(kind, {})
    for stat, value in stats.items():
        measure = measures.get(stat, "gauge")
        if (stat == "state" and isinstance(value, str)) or (
            isinstance(value, Mapping) and measure != "info"
        ):
            _one(out, kind, name, {stat: value})  # one-hot state; a count per label
            continue
        if measure == "info" or (stat == "calls" and outcomes):
            continue  # labels and settings are not metrics; calls is the outcomes' sum
        number = _number(value)
        if number is None:
            continue
        key = _clean(stat)
        if stat in outcomes:
            out.add(
                f"{prefix}_calls",
                True,
                f"Calls through each {kind}, by outcome.",
                {"name": name, "outcome": outcomes[stat]},
                number,
            )
        elif measure == "counter":
            out.add(f"{prefix}_{key}", True, f"{kind} count {stat!r}.", {"name": name}, number)
        elif measure == "seconds":
            doc = f"{kind} duration {stat!r} in seconds."
            out.add(f"{prefix}_{key}_seconds", False, doc, {"name": name}, number)
        else:
            doc = f"{kind} {'ratio (0-1)' if measure == 'ratio' else 'value'} {stat!r}."
            out.add(f"{prefix}_{key}", False, doc, {"name": name}, number)


def _one(out: _Families, kind: str, name: str, stats: Mapping[str, Any]) -> None:
    prefix = f"rebellion_{kind}"
    outcomes = _OUTCOMES.get(kind, {})
    for stat, value in stats.items():
        if not isinstance(stat, str) or stat in _SKIP:
            continue
        key = _clean(stat)
        if stat == "calls" and outcomes:
            continue  # the sum of the outcome series
        if stat in outcomes:
            number = _number(value)
            if number is not None:
                out.add(
                    f"{prefix}_calls",
                    True,
                    f"Calls through each {kind}, by outcome.",
                    {"name": name, "outcome": outcomes[stat]},
                    number,
                )
            continue
        if stat == "state" and isinstance(value, str):
            states = _STATES.get(kind, ())
            for state in (*states, *(() if value in states else (value,))):
                out.add(
                    f"{prefix}_state",
                    False,
                    f"Current state of each {kind} (1 = current).",
                    {"name": name, "state": state},
                    1.0 if state == value else 0.0,
                )
            continue
        counter = stat in _COUNTERS
        if isinstance(value, Mapping):
            label = _DICT_LABELS.get((kind, stat)) or _DICT_LABELS.get(("*", stat), "key")
            for sub, subvalue in value.items():
                number = _number(subvalue)
                if number is not None:
                    out.add(
                        f"{prefix}_{key}",
                        counter,
                        f"{kind} statistic {stat!r} by {label}.",
                        {"name": name, label: str(sub)},
                        number,
                    )
            continue
        number = _number(value)
        if number is not None:
            out.add(
                f"{prefix}_{key}", counter, f"{kind} statistic {stat!r}.", {"name": name}, number
            )
