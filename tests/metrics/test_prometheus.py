"""Prometheus exposition through prometheus_client, parsed back with its parser."""

from __future__ import annotations

from collections.abc import Iterable

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from rebellion import CircuitBreaker, CircuitOpenError, ConfigError, Registry, Retry
from rebellion.metrics import (
    MetricsCollector,
    MetricsConfig,
    RebellionPrometheusCollector,
    prometheus_registry,
    prometheus_text,
)
from rebellion.testing import FlakyCallable, ManualClock


def parse(text: str) -> dict[str, tuple[str, list[Sample]]]:
    return {f.name: (f.type, list(f.samples)) for f in text_string_to_metric_families(text)}


def value(samples: Iterable[Sample], sample_name: str, /, **labels: str) -> float:
    matches = [s.value for s in samples if s.name == sample_name and s.labels == labels]
    assert len(matches) == 1, (sample_name, labels, list(samples))
    return matches[0]


def test_every_instrument_type_round_trips_through_the_parser() -> None:
    clock = ManualClock()
    collector = MetricsCollector("app", clock=clock, primitives=Registry())
    collector.inc("requests_total", 3, {"endpoint": "/api/data"})
    collector.set("active_connections", 150, {"pool": "main"})
    for v in (0.02, 0.2, 2.0, 20.0):
        collector.record_time("request_duration_seconds", v)
    collector.get_histogram("response_size_bytes", help="Body size", buckets=[100, 1000])
    collector.observe("response_size_bytes", 1024)
    collector.mark("events", 5)
    clock.advance(10.0)
    families = parse(collector.prometheus_text())

    kind, samples = families["requests"]
    assert kind == "counter"
    assert value(samples, "requests_total", endpoint="/api/data") == 3.0
    kind, samples = families["active_connections"]
    assert (kind, value(samples, "active_connections", pool="main")) == ("gauge", 150.0)

    kind, samples = families["request_duration_seconds"]
    assert kind == "histogram"
    assert value(samples, "request_duration_seconds_bucket", le="0.025") == 1.0
    assert value(samples, "request_duration_seconds_bucket", le="2.5") == 3.0
    assert value(samples, "request_duration_seconds_bucket", le="+Inf") == 4.0
    assert value(samples, "request_duration_seconds_count") == 4.0
    assert value(samples, "request_duration_seconds_sum") == pytest.approx(22.22)

    kind, samples = families["request_duration_seconds_window"]
    assert kind == "summary"
    assert value(samples, "request_duration_seconds_window", quantile="0.5") == pytest.approx(1.1)
    assert value(samples, "request_duration_seconds_window_count") == 4.0

    kind, samples = families["response_size_bytes"]
    assert value(samples, "response_size_bytes_bucket", le="1000.0") == 0.0
    assert value(samples, "response_size_bytes_bucket", le="+Inf") == 1.0

    assert value(families["events"][1], "events_total") == 5.0
    assert value(families["events_rate"][1], "events_rate") == pytest.approx(0.5)


def test_real_breaker_and_retry_appear_automatically_with_their_state_and_counts() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker(name="payments", failure_threshold=2, clock=clock)
    retry = Retry(name="db", max_attempts=3, initial_delay=0.0, jitter="none", clock=clock)
    flaky = FlakyCallable([ConnectionError("a"), ConnectionError("b")], then="ok")
    assert retry.call(flaky) == "ok"
    for _ in range(2):
        with pytest.raises(ConnectionError):
            breaker.call(FlakyCallable([ConnectionError("down")]))
    with pytest.raises(CircuitOpenError):
        breaker.call(lambda: "never")

    families = parse(prometheus_text())  # the global registry: no wiring needed
    state = families["rebellion_circuit_breaker_state"][1]
    assert value(state, "rebellion_circuit_breaker_state", name="payments", state="OPEN") == 1.0
    assert value(state, "rebellion_circuit_breaker_state", name="payments", state="CLOSED") == 0.0
    calls = families["rebellion_circuit_breaker_calls"][1]
    name = "rebellion_circuit_breaker_calls_total"
    assert value(calls, name, name="payments", outcome="failure") == 2.0
    assert value(calls, name, name="payments", outcome="rejected") == 1.0
    assert families["rebellion_circuit_breaker_calls"][0] == "counter"
    retries = families["rebellion_retry_retries"][1]
    assert value(retries, "rebellion_retry_retries_total", name="db") == 2.0
    outcomes = families["rebellion_retry_calls"][1]
    assert value(outcomes, "rebellion_retry_calls_total", name="db", outcome="success") == 1.0


def test_typed_snapshots_export_by_what_each_field_measures() -> None:
    from rebellion.policies.bulkhead import Bulkhead

    clock = ManualClock()
    primitives = Registry()
    breaker = CircuitBreaker(name="typed", failure_threshold=1, reset_timeout=30, clock=clock)
    bulkhead = Bulkhead("typed-pool", max_concurrent=3)
    retry = Retry(name="typed-retry", max_attempts=1, clock=clock)
    for primitive in (breaker, bulkhead, retry):
        primitives.register(primitive)
    with pytest.raises(ConnectionError):
        breaker.call(FlakyCallable([ConnectionError("down")]))
    with pytest.raises(Exception, match="gave up"):
        retry.call(FlakyCallable([ConnectionError("down")]))
    text = generate_latest(prometheus_registry(primitives=primitives)).decode()
    families = parse(text)
    # Durations end in _seconds; ratios are fractions; counters are counters.
    until = families["rebellion_circuit_breaker_time_until_half_open_seconds"]
    assert until[0] == "gauge"
    assert value(until[1], until[1][0].name, name="typed") == 30.0
    assert families["rebellion_circuit_breaker_transitions"][0] == "counter"
    assert families["rebellion_bulkhead_in_flight"][0] == "gauge"
    assert families["rebellion_bulkhead_rejections"][0] == "counter"
    gave_up = families["rebellion_retry_gave_up"][1]
    assert value(gave_up, "rebellion_retry_gave_up_total", name="typed-retry", reason="attempts")
    # Settings are not metrics, and no name doubles its suffix.
    for setting in ("max_concurrent", "max_queue", "max_attempts", "initial_delay"):
        assert not any(name.endswith(setting) for name in families)
    assert not any("_total_total" in line for line in text.splitlines())


def test_unknown_kinds_and_nested_stats_are_exported_generically() -> None:
    class Widget:
        kind = "shiny-widget"

        def __init__(self, name: str) -> None:
            self.name = name

        def stats(self) -> dict[str, object]:
            return {
                "kind": self.kind,
                "name": self.name,
                "queue_depth": 7,
                "healthy": True,
                "mode": "fast",
                "dropped": 3,
                "by_error": {"TimeoutError": 2},
                "history": [1, 2],
            }

    primitives = Registry()
    # A second instance with the same name replaces the first (a rebuilt component):
    # one series, never a stale "w#2" beside it.
    widgets = [Widget("w"), Widget("w")]
    for widget in widgets:
        primitives.track(widget)
    text = generate_latest(prometheus_registry(primitives=primitives)).decode()
    families = parse(text)
    depth = families["rebellion_shiny_widget_queue_depth"][1]
    assert {s.labels["name"] for s in depth} == {"w"}
    assert families["rebellion_shiny_widget_dropped"][0] == "counter"
    assert (
        value(
            families["rebellion_shiny_widget_healthy"][1],
            "rebellion_shiny_widget_healthy",
            name="w",
        )
        == 1.0
    )
    errors = families["rebellion_shiny_widget_by_error"][1]
    assert (
        value(errors, "rebellion_shiny_widget_by_error_total", name="w", error="TimeoutError")
        == 2.0
    )
    assert "mode" not in text
    assert "history" not in text


def test_include_primitives_false_exports_only_application_metrics() -> None:
    breaker = CircuitBreaker(name="hidden")  # kept alive: the census is weak
    collector = MetricsCollector("app", MetricsConfig(include_primitives=False))
    collector.inc("only_total")
    names = set(parse(collector.prometheus_text()))
    assert names == {"only"}
    both = RebellionPrometheusCollector(collector, include_primitives=True)
    assert any(m.name.startswith("rebellion_circuit_breaker") for m in both.collect())
    assert both.describe() == []
    assert breaker.name == "hidden"


def test_empty_windows_export_nan_quantiles_that_still_parse() -> None:
    clock = ManualClock()
    collector = MetricsCollector("app", clock=clock, primitives=Registry())
    collector.observe("lat", 1.0)
    clock.advance(3600.0)
    samples = parse(collector.prometheus_text())["lat_window"][1]
    q = value(samples, "lat_window", quantile="0.5")
    assert q != q  # NaN
    assert value(samples, "lat_window_count") == 0.0


def test_prometheus_collector_rejects_bad_arguments() -> None:
    with pytest.raises(ConfigError, match=r"^metrics must be"):
        RebellionPrometheusCollector("app")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^primitives must be"):
        RebellionPrometheusCollector(primitives={})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^include_primitives must be"):
        RebellionPrometheusCollector(include_primitives=1)  # type: ignore[arg-type]


def _every_primitive_in_the_tree(clock: ManualClock) -> list[object]:
    """Build one of each primitive that exists in the tree (modules written later skip)."""
    import importlib
    import inspect

    recipes: list[tuple[str, str, dict[str, object]]] = [
        ("rebellion.policies.bulkhead", "Bulkhead", {"name": "pool", "max_concurrent": 2}),
        ("rebellion.policies.ratelimit", "RateLimiter", {"rate": 5.0, "name": "api"}),
        ("rebellion.flow", "BackpressureHandler", {"name": "ws"}),
        ("rebellion.policies.chaos", "Chaos", {"name": "faults"}),
        ("rebellion.policies.timeout", "Timeout", {"seconds": 1.0}),
        ("rebellion.policies.fallback", "Fallback", {"fallback_function": lambda *a: None}),
        ("rebellion.policies.budget", "RetryBudget", {}),
        ("rebellion.health", "PhiAccrualFailureDetector", {"name": "peer"}),
        ("rebellion.health", "SystemOperationMode", {}),
        ("rebellion.metrics", "MetricTransformer", {"name": "host"}),
    ]
    built: list[object] = [
        CircuitBreaker(name="payments", clock=clock),
        Retry(name="db", clock=clock),
    ]
    for module, name, kwargs in recipes:
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError):
            continue
        if "clock" in inspect.signature(cls).parameters:
            kwargs = {**kwargs, "clock": clock}
        built.append(cls(**kwargs))
    return built


def test_every_primitive_kind_in_the_tree_is_exported_without_duplicate_series() -> None:
    clock = ManualClock()
    primitives = _every_primitive_in_the_tree(clock)
    text = prometheus_text()
    families = parse(text)
    for primitive in primitives:
        kind = str(getattr(primitive, "kind", ""))
        prefix = "rebellion_" + kind.replace("-", "_")
        assert any(name.startswith(prefix) for name in families), kind
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for _kind, samples in families.values():
        for sample in samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in seen, key
            seen.add(key)
    assert len(primitives) >= 2
