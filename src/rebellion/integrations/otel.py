"""Export policy events and durations as OpenTelemetry metrics and traces (extra ``otel``).

Names follow Polly's ``resilience.polly.*`` instruments, under ``rebellion.``:

* ``rebellion.policy.events`` (counter, ``{event}``): every event of every primitive,
  with attributes ``event.name`` (``CircuitStateChanged``), ``policy.kind``
  (``circuit_breaker``), ``policy.name`` and, where the event has one, ``state``
  or ``reason``;
* ``rebellion.policy.attempt.duration`` (histogram, ``s``): each attempt inside an
  instrumented pipeline (``pipeline.name``, ``attempt.outcome``, ``error.type``);
* ``rebellion.pipeline.duration`` (histogram, ``s``): each whole pipeline execution;
* ``rebellion.policy.stat`` (observable gauge): the numeric fields of every
  registered primitive's ``stats()`` (``stat.name``), read at collection time;
* ``rebellion.policy.calls`` (observable counter, ``{call}``): calls through every
  primitive by ``outcome`` (``success``, ``failure``, ``rejected``, ``fallback``,
  ``timeout``, ``ignored``), from the same snapshots, cumulative;
* ``rebellion.policy.state`` (observable gauge): 1 for the current ``state`` of every
  primitive that has one, 0 for a circuit breaker's other states.

An instrumented pipeline is also traced: one span per execution, with its attempts,
retries, rejections and state changes as span events (see
:mod:`rebellion.integrations.otel_trace`). Host metrics under the ``system.*``
conventions are in :mod:`rebellion.integrations.otel_host`; exporting all of it over
OTLP is :func:`rebellion.integrations.start_otlp`.

>>> from opentelemetry.sdk.metrics import MeterProvider
>>> from opentelemetry.sdk.metrics.export import InMemoryMetricReader
>>> from rebellion import Pipeline, Retry, subscribe_all
>>> reader = InMemoryMetricReader()
>>> otel = OTelListener(MeterProvider(metric_readers=[reader]), include_stats=False)
>>> unsubscribe = subscribe_all(otel)
>>> pipeline = otel.instrument(Pipeline(Retry(2, initial_delay=0), name="orders"))
>>> pipeline.call(lambda: "ok")
'ok'
>>> sorted(m.name for rm in reader.get_metrics_data().resource_metrics
...        for sm in rm.scope_metrics for m in sm.metrics)
['rebellion.pipeline.duration', 'rebellion.policy.attempt.duration']
>>> unsubscribe()
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import fields
from typing import Any, TypeVar, final

from opentelemetry import metrics, trace
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation
from opentelemetry.trace import TracerProvider

from .._clock import Clock
from .._events import Event
from .._registry import registry
from .._validate import check_clock
from ..errors import ConfigError
from ..policies.pipeline import Pipeline
from .otel_trace import AttemptMarker, PipelineSpan, current_execution, span_event_attributes

__all__ = ["OTelListener"]

T = TypeVar("T")
_KINDS = {
    "_retry_core": "retry",
    "adaptive": "adaptive_limiter",
    "ratelimit": "rate_limiter",
    "flow": "backpressure",
    "queue": "request_queue",
}
_DETAIL = ("new_state", "state", "reason")


def _kind_of(event_type: type) -> str:
    parts = [p for p in event_type.__module__.split(".")[1:] if p not in ("policies", "_events")]
    for part in reversed(parts):
        if part in _KINDS:
            return _KINDS[part]
    return parts[-1].lstrip("_") if parts else "unknown"


@final
class OTelListener:
    """Record events and durations as OpenTelemetry metrics; subscribe it to events.

    Args:
        meter_provider: where the instruments live (default: the global provider).
        tracer_provider: where the spans of instrumented pipelines go (default: the
            global provider, which records nothing until one is configured).
        include_stats: also observe every registered primitive's numeric stats.
        clock: time source of the duration histograms.

    Raises:
        ConfigError: a parameter is of the wrong kind; it is named.
    """

    def __init__(
        self,
        meter_provider: MeterProvider | None = None,
        *,
        tracer_provider: TracerProvider | None = None,
        include_stats: bool = True,
        clock: Clock | None = None,
    ) -> None:
        if meter_provider is not None and not isinstance(meter_provider, MeterProvider):
            raise ConfigError("meter_provider", "an opentelemetry MeterProvider", meter_provider)
        if tracer_provider is not None and not isinstance(tracer_provider, TracerProvider):
            raise ConfigError("tracer_provider", "an opentelemetry TracerProvider", tracer_provider)
        if not isinstance(include_stats, bool):
            raise ConfigError("include_stats", "True or False", include_stats)
        self._clock = check_clock(clock)
        provider = meter_provider or metrics.get_meter_provider()
        meter = provider.get_meter("rebellion")
        self._tracer = (tracer_provider or trace.get_tracer_provider()).get_tracer("rebellion")
        self._events = meter.create_counter(
            "rebellion.policy.events", unit="{event}", description="Events emitted by policies"
        )
        self.attempt_duration = meter.create_histogram(
            "rebellion.policy.attempt.duration", unit="s", description="Duration of attempts"
        )
        self.pipeline_duration = meter.create_histogram(
            "rebellion.pipeline.duration", unit="s", description="Duration of pipelines"
        )
        if include_stats:
            meter.create_observable_gauge(
                "rebellion.policy.stat",
                callbacks=[self._observe],
                description="Numeric statistics of every registered primitive",
            )
            meter.create_observable_counter(
                "rebellion.policy.calls",
                callbacks=[self._observe_calls],
                unit="{call}",
                description="Calls through every registered primitive, by outcome",
            )
            meter.create_observable_gauge(
                "rebellion.policy.state",
                callbacks=[self._observe_states],
                description="Current state of every registered primitive (1 = current)",
            )
        self._kinds: dict[type, tuple[str, tuple[str, ...]]] = {}

    def __call__(self, event: Event) -> None:
        """Count ``event``; add it to the span of the running pipeline execution, if any.

        A listener: ``subscribe_all(listener)``.
        """
        known = self._kinds.get(type(event))
        if known is None:
            names = (
                {f.name for f in fields(event)} if hasattr(event, "__dataclass_fields__") else ()
            )
            kind = type(event).policy_kind or _kind_of(type(event))
            known = (kind, tuple(d for d in _DETAIL if d in names))
            self._kinds[type(event)] = known
        kind, details = known
        attributes: dict[str, str] = {
            "event.name": type(event).__name__,
            "policy.kind": kind,
            "policy.name": event.source,
        }
        for detail in details:
            attributes["state" if detail == "new_state" else detail] = str(getattr(event, detail))
        self._events.add(1, attributes)
        execution = current_execution(self)
        if execution is not None:
            # Dispatch is synchronous, so "now" is the event's time on the span's own
            # clock (an injected policy clock may not be wall time).
            execution.span.add_event(type(event).__name__, span_event_attributes(event, kind))

    def instrument(self, pipeline: Pipeline) -> Pipeline:
        """Return ``pipeline`` timed and traced: its whole duration and each attempt's.

        The result is a new pipeline over the same policy objects, with a span policy
        outermost (one span per execution, the pipeline duration) and an attempt marker
        innermost (each attempt's duration, an ``attempt`` span event).

        Raises:
            ConfigError: ``pipeline`` is not a :class:`Pipeline`.
        """
        if not isinstance(pipeline, Pipeline):
            raise ConfigError("pipeline", "a Pipeline", pipeline)
        span = PipelineSpan(self._tracer, self, pipeline, self.pipeline_duration, self._clock)
        marker = AttemptMarker(self, pipeline.name, self.attempt_duration, self._clock)
        return Pipeline(span, *pipeline.policies, marker, name=pipeline.name, warn=False)

    def _observe(self, options: CallbackOptions) -> Iterable[Observation]:
        for entry in registry.snapshot():
            base = {"policy.kind": str(entry["kind"]), "policy.name": str(entry["name"])}
            for key, value in _numbers(entry["stats"]):
                yield Observation(value, {**base, "stat.name": key})

    def _observe_calls(self, options: CallbackOptions) -> Iterable[Observation]:
        for entry in registry.snapshot():
            stats, measures = entry["stats"], entry.get("measures") or {}
            for key, outcome in _OUTCOMES.items():
                value = stats.get(key)
                if (
                    isinstance(value, int)
                    and not isinstance(value, bool)
                    and measures.get(key, "counter") == "counter"
                ):
                    attributes = {
                        "policy.kind": str(entry["kind"]),
                        "policy.name": str(entry["name"]),
                        "outcome": outcome,
                    }
                    yield Observation(value, attributes)

    def _observe_states(self, options: CallbackOptions) -> Iterable[Observation]:
        for entry in registry.snapshot():
            state = entry["stats"].get("state")
            if not isinstance(state, str):
                continue
            kind = str(entry["kind"])
            base = {"policy.kind": kind, "policy.name": str(entry["name"])}
            known = _STATES.get(kind, ())
            for name in known if state in known else (*known, state):
                yield Observation(1 if name == state else 0, {**base, "state": name})


_OUTCOMES = {
    "successes": "success",
    "failures": "failure",
    "rejections": "rejected",
    "fallbacks": "fallback",
    "timeouts": "timeout",
    "ignored": "ignored",
}
_STATES = {
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


def _numbers(stats: Mapping[str, Any]) -> Iterable[tuple[str, float]]:
    for key, value in stats.items():
        # bool is an int: True/False export as 1/0; NaN and infinities are left out.
        if isinstance(value, int | float) and math.isfinite(value):
            yield key, float(value)
