"""Send policy metrics, pipeline traces and host metrics to an OTLP/HTTP receiver.

:func:`start_otlp` builds the standard OpenTelemetry SDK pipelines: a
``MeterProvider`` with a ``PeriodicExportingMetricReader`` over an
``OTLPMetricExporter`` (``<endpoint>/v1/metrics``), a ``TracerProvider`` with a
``BatchSpanProcessor`` over an ``OTLPSpanExporter`` (``<endpoint>/v1/traces``), both
under one ``Resource`` (``service.name``, ``host.name``, plus ``OTEL_SERVICE_NAME`` /
``OTEL_RESOURCE_ATTRIBUTES``). It subscribes an :class:`OTelListener` to every
primitive's events and, when asked, observes the host (:class:`OTelHostMetrics`).

Without ``endpoint`` the exporters follow the standard variables
(``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT``,
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``OTEL_EXPORTER_OTLP_HEADERS``...), and the
export interval follows ``OTEL_METRIC_EXPORT_INTERVAL`` (milliseconds, default 60 s).

>>> start_otlp("grpc://collector:4317")
Traceback (most recent call last):
...
rebellion.errors.ConfigError: endpoint must be an http:// or https:// URL with a host \
(OTLP over HTTP, e.g. http://127.0.0.1:4318), got 'grpc://collector:4317'
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from typing import final

from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from .. import __version__
from .._events import subscribe_all
from ..errors import ConfigError
from ..policies.pipeline import Pipeline
from ._otlp_endpoint import ENDPOINT_VARIABLES, check_endpoint, endpoint_in_environment
from .otel import OTelListener
from .otel_host import HostSource, OTelHostMetrics

__all__ = ["ENDPOINT_VARIABLES", "OTLPExport", "check_endpoint", "start_otlp"]


def _resource(service_name: str) -> Resource:
    detected = Resource.create({})  # the SDK defaults plus OTEL_* variables
    attributes: dict[str, str] = {"host.name": socket.gethostname()}
    if str(detected.attributes.get("service.name", "")).startswith("unknown_service"):
        attributes["service.name"] = service_name
        attributes["service.version"] = __version__
    return detected.merge(Resource(attributes))


@final
class OTLPExport:
    """The running OTLP pipelines: providers, the events listener, the host observer.

    Attributes:
        meter_provider: the SDK meter provider (exports every ``export_interval``).
        tracer_provider: the SDK tracer provider (batches spans).
        listener: the :class:`OTelListener` subscribed to every primitive's events.
        host: the host observer, or None when not asked for.
    """

    def __init__(
        self,
        meter_provider: MeterProvider,
        tracer_provider: TracerProvider,
        listener: OTelListener,
        host: OTelHostMetrics | None,
    ) -> None:
        self.meter_provider = meter_provider
        self.tracer_provider = tracer_provider
        self.listener = listener
        self.host = host
        self._unsubscribe = subscribe_all(listener)
        self._closed = False

    def instrument(self, pipeline: Pipeline) -> Pipeline:
        """Return ``pipeline`` timed and traced (see :meth:`OTelListener.instrument`)."""
        return self.listener.instrument(pipeline)

    def force_flush(self, timeout: float = 10.0) -> bool:
        """Export everything recorded so far now; return whether both exports finished."""
        millis = max(1, int(timeout * 1000))
        traces = self.tracer_provider.force_flush(millis)
        metrics = self.meter_provider.force_flush(millis)
        return bool(traces and metrics)

    def shutdown(self) -> None:
        """Unsubscribe, export what is left and stop the exporters (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._unsubscribe()
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()

    def __enter__(self) -> OTLPExport:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.shutdown()


def start_otlp(
    endpoint: str | None = None,
    *,
    service_name: str = "rebellion",
    host: HostSource | bool = False,
    export_interval: float | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 10.0,
) -> OTLPExport:
    """Start exporting policy metrics, pipeline traces and (optionally) host metrics.

    Args:
        endpoint: the receiver's base URL (``http://collector:4318``); ``/v1/metrics``
            and ``/v1/traces`` are appended. None: the standard ``OTEL_EXPORTER_OTLP_*``
            variables decide.
        service_name: ``service.name`` unless ``OTEL_SERVICE_NAME`` or
            ``OTEL_RESOURCE_ATTRIBUTES`` set one.
        host: observe host metrics: True samples the host itself, a callable returns
            the latest sample values (a running monitor's); False: none.
        export_interval: seconds between metric exports (None:
            ``OTEL_METRIC_EXPORT_INTERVAL``, default 60).
        headers: extra HTTP headers (authentication) for both exporters.
        timeout: seconds each export may take.

    Returns:
        The running export; call :meth:`OTLPExport.shutdown` (or use it as a context
        manager) to flush and stop it.

    Raises:
        ConfigError: a bad endpoint, interval, timeout or header map, or no endpoint
            given nor set in the environment; the parameter is named.
    """
    metrics_url = traces_url = None
    if endpoint is not None:
        base = check_endpoint(endpoint)
        metrics_url, traces_url = f"{base}/v1/metrics", f"{base}/v1/traces"
    elif not endpoint_in_environment():
        raise ConfigError("endpoint", f"given or set in {ENDPOINT_VARIABLES[0]}", None)
    if not isinstance(service_name, str) or not service_name.strip():
        raise ConfigError("service_name", "a non-empty string", service_name)
    if not isinstance(host, bool) and not callable(host):
        raise ConfigError("host", "True, False or a callable returning sample values", host)
    interval_ms: float | None = None
    if export_interval is not None:
        if (
            isinstance(export_interval, bool)
            or not isinstance(export_interval, int | float)
            or not 0.05 <= export_interval <= 86400
        ):
            raise ConfigError("export_interval", "seconds in [0.05, 86400]", export_interval)
        interval_ms = export_interval * 1000
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 600:
        raise ConfigError("timeout", "seconds in (0, 600]", timeout)
    if headers is not None and (
        not isinstance(headers, Mapping)
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items())
    ):
        raise ConfigError("headers", "a mapping of str to str", headers)
    header_map = dict(headers) if headers is not None else None
    resource = _resource(service_name.strip())
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=metrics_url, headers=header_map, timeout=timeout),
        export_interval_millis=interval_ms,
        export_timeout_millis=timeout * 1000,
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        BatchSpanProcessor(
            OTLPSpanExporter(endpoint=traces_url, headers=header_map, timeout=timeout)
        )
    )
    listener = OTelListener(meter_provider, tracer_provider=tracer_provider)
    observer = None
    if host is not False:
        source = None if host is True else host
        observer = OTelHostMetrics(meter_provider, source=source)
    return OTLPExport(meter_provider, tracer_provider, listener, observer)
