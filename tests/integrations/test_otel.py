"""OTelListener: events, durations and stats as OpenTelemetry metrics (InMemoryMetricReader)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from rebellion import CircuitBreaker, ConfigError, Pipeline, Retry, subscribe_all
from rebellion.errors import CircuitOpenError
from rebellion.integrations import OTelListener
from rebellion.testing import FlakyCallable, ManualClock


@pytest.fixture
def reader() -> InMemoryMetricReader:
    return InMemoryMetricReader()


@pytest.fixture
def otel(reader: InMemoryMetricReader) -> Iterator[OTelListener]:
    listener = OTelListener(MeterProvider(metric_readers=[reader]), clock=ManualClock())
    unsubscribe = subscribe_all(listener)
    yield listener
    unsubscribe()


def points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    assert data is not None
    return [
        point
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
        if metric.name == name
        for point in metric.data.data_points
    ]


def test_events_are_counted_with_semantic_attributes(
    otel: OTelListener, reader: InMemoryMetricReader
) -> None:
    breaker = CircuitBreaker("payments", failure_threshold=1)
    with pytest.raises(ConnectionError):
        breaker.call(FlakyCallable([ConnectionError()]))
    counted = {
        (p.attributes["event.name"], p.attributes.get("state")): p.value
        for p in points(reader, "rebellion.policy.events")
    }
    assert counted[("CircuitStateChanged", "OPEN")] == 1
    attributes = next(
        p.attributes
        for p in points(reader, "rebellion.policy.events")
        if p.attributes["event.name"] == "CircuitStateChanged"
    )
    assert attributes["policy.kind"] == "circuit_breaker"
    assert attributes["policy.name"] == "payments"


def test_retry_events_carry_the_retry_kind(
    otel: OTelListener, reader: InMemoryMetricReader
) -> None:
    retry = Retry(2, initial_delay=0, name="orders", clock=ManualClock())
    with pytest.raises(Exception, match="gave up"):
        retry.call(FlakyCallable([ConnectionError(), ConnectionError()]))
    kinds = {
        p.attributes["event.name"]: (p.attributes["policy.kind"], p.attributes.get("reason"))
        for p in points(reader, "rebellion.policy.events")
    }
    assert kinds["RetryScheduled"] == ("retry", None)
    assert kinds["RetryGaveUp"] == ("retry", "attempts")


def test_instrumented_pipelines_record_attempt_and_pipeline_durations(
    otel: OTelListener, reader: InMemoryMetricReader
) -> None:
    pipeline = otel.instrument(
        Pipeline(Retry(3, initial_delay=0, clock=ManualClock()), name="orders")
    )
    assert pipeline.call(FlakyCallable([ConnectionError()], then="ok")) == "ok"
    attempts = {
        (p.attributes["attempt.outcome"], p.attributes.get("error.type")): p.count
        for p in points(reader, "rebellion.policy.attempt.duration")
    }
    assert attempts == {("failure", "ConnectionError"): 1, ("success", None): 1}
    (whole,) = points(reader, "rebellion.pipeline.duration")
    assert (whole.count, whole.attributes["pipeline.name"]) == (1, "orders")


async def test_instrumented_pipelines_time_async_calls(
    otel: OTelListener, reader: InMemoryMetricReader
) -> None:
    pipeline = otel.instrument(Pipeline(Retry(2, initial_delay=0), name="async"))

    async def work() -> str:
        await asyncio.sleep(0)
        return "done"

    results = await asyncio.gather(*(pipeline.execute(work) for _ in range(20)))
    assert results == ["done"] * 20
    (whole,) = points(reader, "rebellion.pipeline.duration")
    assert whole.count == 20


def test_stats_of_registered_primitives_are_observed(
    otel: OTelListener, reader: InMemoryMetricReader
) -> None:
    breaker = CircuitBreaker("inventory", failure_threshold=1)
    with pytest.raises(ConnectionError):
        breaker.call(FlakyCallable([ConnectionError()]))
    stats = {
        p.attributes["stat.name"]: p.value
        for p in points(reader, "rebellion.policy.stat")
        if p.attributes["policy.name"] == "inventory"
    }
    assert stats["failures"] == 1
    assert stats["transitions"] == 1
    assert "state" not in stats  # text fields are not gauges


@pytest.mark.parametrize(
    ("parameter", "value"),
    [("meter_provider", "global"), ("include_stats", 1), ("clock", 3)],
)
def test_bad_input_names_the_parameter(parameter: str, value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        OTelListener(**{parameter: value})  # type: ignore[arg-type]
    assert caught.value.parameter == parameter


def test_instrument_needs_a_pipeline(otel: OTelListener) -> None:
    with pytest.raises(ConfigError, match="pipeline"):
        otel.instrument(Retry(1))  # type: ignore[arg-type]


def test_calls_by_outcome_are_cumulative_counters(
    otel: OTelListener, reader: InMemoryMetricReader
) -> None:
    breaker = CircuitBreaker("calls-by-outcome", failure_threshold=2, reset_timeout=600)
    breaker.call(lambda: "ok")
    with pytest.raises(ConnectionError):
        breaker.call(FlakyCallable([ConnectionError()]))
    with pytest.raises(ConnectionError):
        breaker.call(FlakyCallable([ConnectionError()]))
    with pytest.raises(CircuitOpenError):
        breaker.call(lambda: "refused")
    calls = {
        p.attributes["outcome"]: p.value
        for p in points(reader, "rebellion.policy.calls")
        if p.attributes["policy.name"] == "calls-by-outcome"
    }
    assert calls == {"success": 1, "failure": 2, "rejected": 1, "ignored": 0}
    # Observed again at the next collection: the counter is cumulative.
    with pytest.raises(CircuitOpenError):
        breaker.call(lambda: "refused")
    again = {
        p.attributes["outcome"]: p.value
        for p in points(reader, "rebellion.policy.calls")
        if p.attributes["policy.name"] == "calls-by-outcome"
    }
    assert again["rejected"] == 2


def test_states_are_one_hot(otel: OTelListener, reader: InMemoryMetricReader) -> None:
    breaker = CircuitBreaker("one-hot", failure_threshold=1, reset_timeout=600)
    with pytest.raises(ConnectionError):
        breaker.call(FlakyCallable([ConnectionError()]))
    states = {
        p.attributes["state"]: p.value
        for p in points(reader, "rebellion.policy.state")
        if p.attributes["policy.name"] == "one-hot"
    }
    assert states["OPEN"] == 1
    assert sum(states.values()) == 1
    assert {"CLOSED", "HALF_OPEN", "ISOLATED"} <= set(states)
