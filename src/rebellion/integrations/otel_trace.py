"""One OpenTelemetry span per pipeline execution; what happened inside are its events.

:meth:`OTelListener.instrument <rebellion.integrations.OTelListener.instrument>` puts a
:class:`PipelineSpan` outermost and an :class:`AttemptMarker` innermost; they also record
the pipeline and attempt duration histograms. The span is
named ``pipeline <name>`` (kind ``INTERNAL``) and is the current span while the
callee runs, so spans the callee starts (an HTTP client's) are its children. Its events:

* ``attempt``: each time the callee ran, with ``rebellion.attempt.number``,
  ``rebellion.attempt.outcome`` (``success``/``failure``), ``rebellion.attempt.duration``
  (seconds) and ``error.type``;
* every event a primitive emits during the execution, named by its class
  (``RetryScheduled``, ``CallRejected``, ``CircuitStateChanged``...), with
  ``rebellion.policy.kind``, ``rebellion.policy.name`` and the event's fields as
  ``rebellion.event.<field>`` — delivered by the listener, so subscribe it.

When the execution ends the span gets ``rebellion.pipeline.attempts`` and
``rebellion.pipeline.outcome`` (``success``, ``failure``, ``rejected`` when a policy
refused the call, ``cancelled``); a failure sets the status to ``ERROR``, records the
exception and sets ``error.type``.

>>> from opentelemetry.sdk.trace import TracerProvider
>>> from opentelemetry.sdk.trace.export import SimpleSpanProcessor
>>> from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
>>> from rebellion import Pipeline, Retry, subscribe_all
>>> from rebellion.integrations import OTelListener
>>> spans = InMemorySpanExporter()
>>> tracing = TracerProvider()
>>> tracing.add_span_processor(SimpleSpanProcessor(spans))
>>> otel = OTelListener(tracer_provider=tracing, include_stats=False)
>>> unsubscribe = subscribe_all(otel)
>>> pipeline = otel.instrument(Pipeline(Retry(3, initial_delay=0, name="db"), name="orders"))
>>> outcomes = iter([ConnectionError("reset"), "row"])
>>> def query():
...     outcome = next(outcomes)
...     if isinstance(outcome, Exception):
...         raise outcome
...     return outcome
>>> pipeline.call(query)
'row'
>>> [span] = spans.get_finished_spans()
>>> span.name, span.attributes["rebellion.pipeline.attempts"]
('pipeline orders', 2)
>>> [event.name for event in span.events]
['attempt', 'RetryScheduled', 'attempt', 'RetrySucceeded']
>>> unsubscribe()
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields
from inspect import isawaitable
from types import CoroutineType
from typing import Any, ClassVar, TypeVar, final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.metrics import Histogram
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

from .._clock import Clock
from .._events import Event
from .._policy import Policy
from ..errors import RejectedError

__all__ = ["AttemptMarker", "PipelineSpan", "span_event_attributes"]

T = TypeVar("T")
AttributeValue = str | bool | int | float


@dataclass(slots=True)
class _Execution:
    """One running pipeline execution: its span and attempt counter."""

    owner: object
    span: Span
    numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    attempts: int = 0


_current: ContextVar[_Execution | None] = ContextVar("rebellion_pipeline_span", default=None)


def current_execution(owner: object) -> _Execution | None:
    """Return the execution of ``owner``'s pipeline running in this context, if any."""
    execution = _current.get()
    if execution is None or execution.owner is not owner:
        return None
    return execution


def _scalar(value: object) -> AttributeValue | None:
    if isinstance(value, str | bool | int | float):
        return value
    if value is None:
        return None
    return str(value)


def span_event_attributes(event: Event, kind: str) -> dict[str, AttributeValue]:
    """Return the span-event attributes of a primitive's ``event``."""
    attributes: dict[str, AttributeValue] = {
        "rebellion.policy.kind": kind,
        "rebellion.policy.name": event.source,
    }
    if hasattr(event, "__dataclass_fields__"):
        for f in fields(event):
            if f.name in ("source", "at"):
                continue
            value = _scalar(getattr(event, f.name))
            if value is not None:
                attributes[f"rebellion.event.{f.name}"] = value
    return attributes


def _outcome(error: BaseException) -> str:
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        return "cancelled"
    return "rejected" if isinstance(error, RejectedError) else "failure"


class _Timed(Policy):
    """Time each call into a histogram (with its outcome) around :meth:`_around`."""

    kind: ClassVar[str] = "telemetry"

    def __init__(self, histogram: Histogram, pipeline_name: str, clock: Clock) -> None:
        self._histogram = histogram
        self._clock = clock
        self._base = {"pipeline.name": pipeline_name}
        self._ok = {**self._base, "attempt.outcome": "success"}

    def _timed(self, started: float, error: BaseException | None) -> None:
        elapsed = max(0.0, self._clock.monotonic() - started)
        if error is None:
            self._histogram.record(elapsed, self._ok)
        else:
            failed = {
                **self._base,
                "attempt.outcome": "failure",
                "error.type": type(error).__name__,
            }
            self._histogram.record(elapsed, failed)

    @contextmanager
    def _around(self) -> Iterator[None]:
        yield

    def _sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        with self._around():
            return fn(*args, **kwargs)

    async def _async(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        with self._around():
            result = fn(*args, **kwargs)
            if type(result) is CoroutineType or isawaitable(result):
                result = await result
            return result

    def stats(self) -> dict[str, Any]:
        """Return the policy's identity (its figures live in OpenTelemetry)."""
        return {"kind": self.kind, "name": self.name}


@final
class PipelineSpan(_Timed):
    """Run each execution inside a span and time it (outermost in an instrumented pipeline)."""

    def __init__(
        self,
        tracer: Tracer,
        owner: object,
        pipeline: Policy,
        histogram: Histogram,
        clock: Clock,
    ) -> None:
        super().__init__(histogram, pipeline.name, clock)
        self.name = f"otel-span:{pipeline.name}"
        self._tracer = tracer
        self._owner = owner
        self._span_name = f"pipeline {pipeline.name}"
        policies = getattr(pipeline, "policies", ())
        self._attributes: dict[str, AttributeValue | tuple[str, ...]] = {
            "rebellion.pipeline.name": pipeline.name,
            "rebellion.pipeline.policies": tuple(f"{p.kind}:{p.name}" for p in policies),
        }

    @contextmanager
    def _around(self) -> Iterator[None]:
        started = self._clock.monotonic()
        span = self._tracer.start_span(
            self._span_name, kind=SpanKind.INTERNAL, attributes=self._attributes
        )
        if not span.is_recording():
            try:
                yield
            except BaseException as error:
                self._timed(started, error)
                raise
            self._timed(started, None)
            return
        execution = _Execution(self._owner, span)
        attached = otel_context.attach(trace.set_span_in_context(span))
        marked = _current.set(execution)
        outcome = "success"
        try:
            yield
        except BaseException as error:
            self._timed(started, error)
            outcome = _outcome(error)
            if outcome != "cancelled":
                span.set_attribute("error.type", type(error).__name__)
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
            raise
        else:
            self._timed(started, None)
        finally:
            _current.reset(marked)
            otel_context.detach(attached)
            span.set_attributes(
                {
                    "rebellion.pipeline.outcome": outcome,
                    "rebellion.pipeline.attempts": execution.attempts,
                }
            )
            span.end()


@final
class AttemptMarker(_Timed):
    """Time each attempt and add an ``attempt`` event to the execution's span (innermost)."""

    def __init__(self, owner: object, pipeline_name: str, histogram: Histogram, clock: Clock):
        super().__init__(histogram, pipeline_name, clock)
        self.name = f"otel-attempt:{pipeline_name}"
        self._owner = owner

    def _record(self, started: float, error: BaseException | None) -> None:
        self._timed(started, error)
        execution = current_execution(self._owner)
        if execution is None:
            return
        number = next(execution.numbers)
        execution.attempts = max(execution.attempts, number)
        attributes: dict[str, AttributeValue] = {
            "rebellion.attempt.number": number,
            "rebellion.attempt.outcome": "success" if error is None else "failure",
            "rebellion.attempt.duration": max(0.0, self._clock.monotonic() - started),
        }
        if error is not None:
            attributes["error.type"] = type(error).__name__
        execution.span.add_event("attempt", attributes)

    @contextmanager
    def _around(self) -> Iterator[None]:
        started = self._clock.monotonic()
        try:
            yield
        except BaseException as error:
            self._record(started, error)
            raise
        self._record(started, None)
