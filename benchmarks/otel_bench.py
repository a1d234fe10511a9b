"""What tracing and timing a pipeline costs per call, against hand-written OpenTelemetry.

Contenders, all around the same ``Pipeline(Retry, CircuitBreaker)`` and a callee that
returns at once, in interleaved rounds (drift hits all alike):

* ``bare``: the pipeline alone;
* ``by hand, minimal``: ``tracer.start_as_current_span`` and one ``histogram.record``
  around the call (for scale);
* ``by hand, same telemetry``: what we record, written by hand: the span, an
  ``attempt`` event and an attempt histogram around the callee, the outcome attributes
  and the pipeline histogram around the pipeline;
* ``OTelListener.instrument``: the same telemetry from ``instrument()``, with the
  listener subscribed to every event.

The traced contenders use the SDK with a ``BatchSpanProcessor`` over an exporter that
drops the batch, so export I/O is not measured. Prints the median us per call and the
ratio of ours over the same telemetry by hand (target <= 1.25: the price of the
abstraction, not of OpenTelemetry).

    .venv/bin/python benchmarks/otel_bench.py [--smoke] [--rounds N] [--calls N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

TARGET = 1.25


def build() -> tuple[dict[str, Callable[[], object]], Callable[[], None]]:
    """Return the contenders (name -> one call) and a function that tears them down."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    from rebellion import CircuitBreaker, Pipeline, Retry, subscribe_all
    from rebellion.integrations import OTelListener

    class Dropping(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    tracing = TracerProvider()
    tracing.add_span_processor(BatchSpanProcessor(Dropping(), max_queue_size=1 << 16))
    meters = MeterProvider(metric_readers=[InMemoryMetricReader()])
    pipeline = Pipeline(
        Retry(3, initial_delay=0, name="bench.retry"),
        CircuitBreaker("bench.breaker", failure_threshold=1000),
        name="bench",
    )
    otel = OTelListener(meters, tracer_provider=tracing, include_stats=False)
    unsubscribe = subscribe_all(otel)
    ours = otel.instrument(pipeline)
    tracer = tracing.get_tracer("by-hand")
    histogram = meters.get_meter("by-hand").create_histogram("by_hand.duration", unit="s")
    attributes = {"pipeline.name": "bench"}

    def callee() -> str:
        return "ok"

    def by_hand() -> object:
        started = time.perf_counter()
        with tracer.start_as_current_span("pipeline bench"):
            result = pipeline.call(callee)
        histogram.record(time.perf_counter() - started, attributes)
        return result

    ok = {"pipeline.name": "bench", "attempt.outcome": "success"}
    attempts = meters.get_meter("by-hand").create_histogram("by_hand.attempt", unit="s")
    policies = tuple(f"{p.kind}:{p.name}" for p in pipeline.policies)

    def same_telemetry() -> object:
        started = time.perf_counter()
        with tracer.start_as_current_span(
            "pipeline bench",
            attributes={
                "rebellion.pipeline.name": "bench",
                "rebellion.pipeline.policies": policies,
            },
        ) as span:
            counter = [0]

            def attempt() -> str:
                begun = time.perf_counter()
                value = callee()
                took = time.perf_counter() - begun
                attempts.record(took, ok)
                counter[0] += 1
                span.add_event(
                    "attempt",
                    {
                        "rebellion.attempt.number": counter[0],
                        "rebellion.attempt.outcome": "success",
                        "rebellion.attempt.duration": took,
                    },
                )
                return value

            result = pipeline.call(attempt)
            span.set_attributes(
                {"rebellion.pipeline.outcome": "success", "rebellion.pipeline.attempts": counter[0]}
            )
        histogram.record(time.perf_counter() - started, ok)
        return result

    def close() -> None:
        unsubscribe()
        tracing.shutdown()
        meters.shutdown()

    contenders: dict[str, Callable[[], object]] = {
        "bare": lambda: pipeline.call(callee),
        "by hand, minimal": by_hand,
        "by hand, same telemetry": same_telemetry,
        "OTelListener.instrument": lambda: ours.call(callee),
    }
    return contenders, close


def per_call_ns(fn: Callable[[], object], calls: int) -> float:
    started = time.perf_counter_ns()
    for _ in range(calls):
        fn()
    return (time.perf_counter_ns() - started) / calls


def run(rounds: int, calls: int) -> dict[str, float]:
    """Return the median ns per call of each contender over interleaved rounds."""
    contenders, close = build()
    try:
        for fn in contenders.values():
            per_call_ns(fn, max(10, calls // 10))  # warm caches and the span processor
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(rounds):
            for name, fn in contenders.items():
                samples[name].append(per_call_ns(fn, calls))
    finally:
        close()
    return {name: statistics.median(values) for name, values in samples.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny run for tests")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args(argv)
    rounds, calls = (2, 50) if args.smoke else (args.rounds, args.calls)
    medians = run(rounds, calls)
    print(f"pipeline tracing overhead ({rounds} interleaved rounds x {calls} calls)")
    for name, ns in medians.items():
        print(f"  {name:<26} {ns / 1000:8.2f} us/call")
    ratio = medians["OTelListener.instrument"] / medians["by hand, same telemetry"]
    verdict: Any = "met" if ratio <= TARGET else "MISSED"
    print(
        f"ratio OTelListener.instrument/by hand, same telemetry: {ratio:.2f} "
        f"(target <= {TARGET}: {verdict})"
    )
    added = medians["OTelListener.instrument"] - medians["bare"]
    print(f"added per call over the bare pipeline: {added / 1000:.2f} us")
    return 0


if __name__ == "__main__":
    sys.exit(main())
