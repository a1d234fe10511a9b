"""A span per pipeline execution, with attempts and policy events (SDK in-memory exporter)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from rebellion import (
    Bulkhead,
    CircuitBreaker,
    ConfigError,
    Fallback,
    Pipeline,
    Retry,
    Timeout,
    subscribe_all,
)
from rebellion.errors import CircuitOpenError, RetryExhaustedError
from rebellion.integrations import OTelListener
from rebellion.testing import FlakyCallable, ManualClock


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def otel(spans: InMemorySpanExporter) -> Iterator[OTelListener]:
    tracing = TracerProvider()
    tracing.add_span_processor(SimpleSpanProcessor(spans))
    listener = OTelListener(
        MeterProvider(metric_readers=[InMemoryMetricReader()]),
        tracer_provider=tracing,
        include_stats=False,
        clock=ManualClock(),
    )
    unsubscribe = subscribe_all(listener)
    yield listener
    unsubscribe()


def events(span: ReadableSpan) -> list[tuple[str, dict[str, Any]]]:
    return [(event.name, dict(event.attributes or {})) for event in span.events]


def test_a_successful_execution_is_one_span_with_one_attempt(
    otel: OTelListener, spans: InMemorySpanExporter
) -> None:
    pipeline = otel.instrument(Pipeline(Retry(3, initial_delay=0, name="t-ok"), name="orders"))
    assert pipeline.call(lambda: 42) == 42
    [span] = spans.get_finished_spans()
    assert span.name == "pipeline orders"
    assert span.kind is trace.SpanKind.INTERNAL
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes is not None
    assert span.attributes["rebellion.pipeline.name"] == "orders"
    assert span.attributes["rebellion.pipeline.policies"] == ("retry:t-ok",)
    assert span.attributes["rebellion.pipeline.outcome"] == "success"
    assert span.attributes["rebellion.pipeline.attempts"] == 1
    [(name, attributes)] = events(span)
    assert name == "attempt"
    assert attributes["rebellion.attempt.number"] == 1
    assert attributes["rebellion.attempt.outcome"] == "success"
    assert attributes["rebellion.attempt.duration"] >= 0


def test_retries_and_attempts_are_events_in_order(
    otel: OTelListener, spans: InMemorySpanExporter
) -> None:
    retry = Retry(3, initial_delay=0, name="t-retry", clock=ManualClock())
    pipeline = otel.instrument(Pipeline(retry, name="retried"))
    with pytest.raises(RetryExhaustedError):
        pipeline.call(FlakyCallable([], then=ConnectionError("down")))
    [span] = spans.get_finished_spans()
    names = [name for name, _ in events(span)]
    assert names == [
        "attempt",
        "RetryScheduled",
        "attempt",
        "RetryScheduled",
        "attempt",
        "RetryGaveUp",
        "exception",  # the recorded error, last
    ]
    attempts = [a for n, a in events(span) if n == "attempt"]
    assert [a["rebellion.attempt.number"] for a in attempts] == [1, 2, 3]
    assert {a["error.type"] for a in attempts} == {"ConnectionError"}
    scheduled = next(a for n, a in events(span) if n == "RetryScheduled")
    assert scheduled["rebellion.policy.kind"] == "retry"
    assert scheduled["rebellion.policy.name"] == "t-retry"
    assert scheduled["rebellion.event.attempt"] == 1
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["rebellion.pipeline.outcome"] == "failure"
    assert span.attributes["rebellion.pipeline.attempts"] == 3
    assert span.attributes["error.type"] == "RetryExhaustedError"


def test_state_changes_and_rejections_are_events(
    otel: OTelListener, spans: InMemorySpanExporter
) -> None:
    breaker = CircuitBreaker("t-breaker", failure_threshold=1, reset_timeout=600)
    pipeline = otel.instrument(Pipeline(breaker, name="guarded"))
    with pytest.raises(ConnectionError):
        pipeline.call(FlakyCallable([ConnectionError()]))
    with pytest.raises(CircuitOpenError):
        pipeline.call(lambda: "never runs")
    opened, rejected = spans.get_finished_spans()
    changed = dict(events(opened))["CircuitStateChanged"]
    assert changed["rebellion.event.old_state"] == "CLOSED"
    assert changed["rebellion.event.new_state"] == "OPEN"
    assert changed["rebellion.policy.kind"] == "circuit_breaker"
    assert [n for n, _ in events(rejected)] == ["CallRejected", "exception"]  # never ran
    assert rejected.attributes is not None
    assert rejected.attributes["rebellion.pipeline.outcome"] == "rejected"
    assert rejected.attributes["rebellion.pipeline.attempts"] == 0


async def test_async_executions_get_their_own_spans(
    otel: OTelListener, spans: InMemorySpanExporter
) -> None:
    bulkhead = Bulkhead(max_concurrent=1, max_queue=0, name="t-bulk")
    pipeline = otel.instrument(Pipeline(Fallback(lambda: "fallback"), bulkhead, name="async"))
    gate = asyncio.Event()

    async def slow() -> str:
        await gate.wait()
        return "done"

    first = asyncio.create_task(pipeline.execute(slow))
    await asyncio.sleep(0)
    while bulkhead.stats()["in_flight"] != 1:
        await asyncio.sleep(0.001)
    assert await pipeline.execute(slow) == "fallback"  # refused, then the fallback answers
    gate.set()
    assert await first == "done"
    by_outcome = {
        span.attributes["rebellion.pipeline.outcome"]: span
        for span in spans.get_finished_spans()
        if span.attributes is not None
    }
    assert set(by_outcome) == {"success"}
    refused = [s for s in spans.get_finished_spans() if "BulkheadRejected" in dict(events(s))]
    assert len(refused) == 1
    assert "FallbackUsed" in dict(events(refused[0]))
    assert "attempt" not in dict(events(refused[0]))


async def test_a_sync_callee_offloaded_by_a_timeout_still_marks_its_attempt(
    otel: OTelListener, spans: InMemorySpanExporter
) -> None:
    pipeline = otel.instrument(Pipeline(Timeout(30, name="t-timeout"), name="offloaded"))
    assert await pipeline.execute(lambda: "sync") == "sync"
    [span] = spans.get_finished_spans()
    assert [n for n, _ in events(span)] == ["attempt"]


def test_the_span_is_current_so_the_callee_spans_are_children(
    otel: OTelListener, spans: InMemorySpanExporter
) -> None:
    tracer = otel._tracer
    pipeline = otel.instrument(Pipeline(Retry(2, initial_delay=0, name="t-child"), name="outer"))

    def callee() -> str:
        with tracer.start_as_current_span("http GET"):
            return "ok"

    pipeline.call(callee)
    child, parent = spans.get_finished_spans()
    assert child.parent is not None
    assert parent.context is not None
    assert child.parent.span_id == parent.context.span_id


def test_nested_instrumented_pipelines_keep_events_in_their_own_span(
    otel: OTelListener, spans: InMemorySpanExporter
) -> None:
    inner = otel.instrument(Pipeline(Retry(2, initial_delay=0, name="t-inner"), name="inner"))
    outer = otel.instrument(Pipeline(Retry(2, initial_delay=0, name="t-outer"), name="outer"))
    flaky = FlakyCallable([ConnectionError(), "ok"])
    assert outer.call(lambda: inner.call(flaky)) == "ok"
    inner_span, outer_span = spans.get_finished_spans()
    assert inner_span.name == "pipeline inner"
    assert "RetryScheduled" in dict(events(inner_span))
    assert "RetryScheduled" not in dict(events(outer_span))
    assert inner_span.parent is not None
    assert outer_span.context is not None
    assert inner_span.parent.span_id == outer_span.context.span_id


def test_concurrent_threads_never_mix_their_events(
    otel: OTelListener, spans: InMemorySpanExporter
) -> None:
    pipeline = otel.instrument(
        Pipeline(Retry(3, initial_delay=0, name="t-threads", clock=ManualClock()), name="mt")
    )
    errors: list[BaseException] = []

    def worker(fails: int) -> None:
        try:
            for _ in range(20):
                pipeline.call(FlakyCallable([ConnectionError()] * fails, then="ok"))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(i % 3,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    finished = spans.get_finished_spans()
    assert len(finished) == 160
    for span in finished:
        attempts = [a for n, a in events(span) if n == "attempt"]
        scheduled = [n for n, _ in events(span) if n == "RetryScheduled"]
        assert span.attributes is not None
        assert len(attempts) == span.attributes["rebellion.pipeline.attempts"]
        assert len(scheduled) == len(attempts) - 1
        assert [a["rebellion.attempt.number"] for a in attempts] == list(
            range(1, len(attempts) + 1)
        )


def test_without_a_configured_provider_nothing_is_recorded() -> None:
    listener = OTelListener(include_stats=False)  # the global no-op tracer provider
    pipeline = listener.instrument(Pipeline(Retry(2, initial_delay=0, name="t-noop")))
    assert pipeline.call(lambda: "plain") == "plain"


def test_a_listener_ignores_the_spans_of_another_listener(spans: InMemorySpanExporter) -> None:
    tracing = TracerProvider()
    tracing.add_span_processor(SimpleSpanProcessor(spans))
    first = OTelListener(tracer_provider=tracing, include_stats=False)
    second = OTelListener(tracer_provider=tracing, include_stats=False)
    unsubscribe = [subscribe_all(first), subscribe_all(second)]
    try:
        pipeline = first.instrument(Pipeline(Retry(2, initial_delay=0, name="t-two"), name="p"))
        pipeline.call(FlakyCallable([ConnectionError(), "ok"]))
    finally:
        for undo in unsubscribe:
            undo()
    [span] = spans.get_finished_spans()
    assert [n for n, _ in events(span)].count("RetryScheduled") == 1


def test_bad_tracer_provider_is_refused() -> None:
    with pytest.raises(ConfigError, match="tracer_provider must be an opentelemetry"):
        OTelListener(tracer_provider="jaeger")  # type: ignore[arg-type]


async def test_an_async_failure_and_a_cancellation_end_their_spans(
    otel: OTelListener, spans: InMemorySpanExporter
) -> None:
    pipeline = otel.instrument(Pipeline(Timeout(30, name="t-async"), name="async-fail"))

    async def broken() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError):
        await pipeline.execute(broken)
    started = asyncio.Event()

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(pipeline.execute(forever))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    failed, cancelled = spans.get_finished_spans()
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.attributes is not None
    assert failed.attributes["error.type"] == "KeyError"
    assert cancelled.status.status_code is StatusCode.UNSET  # cancelling is not an error
    assert cancelled.attributes is not None
    assert cancelled.attributes["rebellion.pipeline.outcome"] == "cancelled"
    assert "error.type" not in cancelled.attributes
