"""Metrics collector groups: counter increment, hot-path handle vs prometheus_client.

Every contender adds 1 to an existing unlabelled counter, or to a counter child of an
existing label set; the prometheus_client counters live in a private registry.

>>> [g.name for g in groups()]
['metrics_counter_inc', 'metrics_labelled_counter_inc']
"""

from __future__ import annotations

from _common import Contender, Group
from _harness import Op, Runner
from _targets import at_most_times

__all__ = ["TARGETS", "groups"]


def _prometheus(labelled: bool) -> Contender:
    def build(runner: Runner) -> Op:
        from prometheus_client import CollectorRegistry, Counter

        if labelled:
            labels = Counter("bench", "bench", ["endpoint"], registry=CollectorRegistry()).labels
            return Op(fn=lambda amount: labels(endpoint="/api/data").inc(amount), args=(1,))
        plain = Counter("bench", "bench", registry=CollectorRegistry())
        inc = plain.inc
        return Op(fn=lambda _: inc(), args=(1,))

    name = (
        "prometheus_client counter.labels(endpoint=...).inc(1)"
        if labelled
        else "prometheus_client Counter.inc() via lambda"
    )
    return Contender(name, "prometheus_client", build)


def _prometheus_direct(labelled: bool) -> Contender:
    """The peer's bound method called directly, as the harness passes one argument."""

    def build(runner: Runner) -> Op:
        from prometheus_client import CollectorRegistry, Counter

        registry = CollectorRegistry()
        if labelled:
            inc = Counter("bench", "b", ["endpoint"], registry=registry).labels("/api/data").inc
        else:
            inc = Counter("bench", "b", registry=registry).inc
        return Op(fn=inc, args=(1,))

    name = "prometheus_client child.inc(1)" if labelled else "prometheus_client inc(1)"
    return Contender(name, "prometheus_client", build)


def _handle(labelled: bool) -> Contender:
    def build(runner: Runner) -> Op:
        from rebellion.metrics import MetricsCollector

        collector = MetricsCollector("bench")
        labels = {"endpoint": "/api/data"} if labelled else None
        inc = collector.counter("bench_total", labels).inc
        return Op(fn=inc, args=(1,))

    name = "rebellion handle.inc(1)"
    return Contender(name, "rebellion", build)


def _by_name(labelled: bool) -> Contender:
    def build(runner: Runner) -> Op:
        from rebellion.metrics import MetricsCollector

        collector = MetricsCollector("bench")
        labels = {"endpoint": "/api/data"} if labelled else None
        inc = collector.inc
        inc("bench_total", 1, labels)
        return Op(fn=lambda name, amount: inc(name, amount, labels), args=("bench_total", 1))

    return Contender("rebellion collector.inc(name, 1, labels)", "rebellion", build)


def groups() -> list[Group]:
    """Return the counter-increment groups (unlabelled, labelled)."""
    notes = [
        "The hot-path form is a handle bound once (`collector.counter(name, labels).inc`); "
        "`collector.inc(name, amount, labels)` looks the metric and label set up per call.",
        "`prometheus_client inc(1)`/`child.inc(1)` call the peer's bound `inc` exactly as "
        "the rebellion handle row does; `counter.labels(endpoint=...).inc(1)` looks the "
        "child up per call, like `collector.inc(name, 1, labels)`.",
    ]
    return [
        Group(
            "metrics_counter_inc",
            "Counter increment by 1, no labels",
            [_handle(False), _by_name(False), _prometheus_direct(False), _prometheus(False)],
            notes,
        ),
        Group(
            "metrics_labelled_counter_inc",
            "Counter increment by 1, one label set (endpoint)",
            [_handle(True), _by_name(True), _prometheus_direct(True), _prometheus(True)],
            notes,
        ),
    ]


TARGETS = [
    at_most_times(
        "metrics_counter_inc", "rebellion handle.inc(1)", "prometheus_client inc(1)", 1.5
    ),
    at_most_times(
        "metrics_labelled_counter_inc",
        "rebellion handle.inc(1)",
        "prometheus_client child.inc(1)",
        1.5,
    ),
]
"""Target: the hot-path counter increment within 1.5x of prometheus_client's."""
