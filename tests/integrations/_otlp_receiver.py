"""A real OTLP/HTTP receiver on a loopback port: decodes the exporters' protobuf POSTs."""

from __future__ import annotations

import gzip
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

__all__ = ["Receiver", "attributes_of", "receiving"]

_SIGNALS: dict[str, tuple[Any, Any]] = {
    "/v1/metrics": (ExportMetricsServiceRequest, ExportMetricsServiceResponse),
    "/v1/traces": (ExportTraceServiceRequest, ExportTraceServiceResponse),
}


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(v) for v in value.array_value.values)
    return getattr(value, kind) if kind else None


def attributes_of(pairs: Any) -> dict[str, Any]:
    """Return protobuf ``KeyValue`` attributes as a plain dict."""
    found: dict[str, Any] = {}
    for pair in pairs:
        assert isinstance(pair, KeyValue)
        found[pair.key] = _value(pair.value)
    return found


class Receiver:
    """What the receiver got: decoded requests per signal path, and refused POSTs."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.requests: dict[str, list[Any]] = {path: [] for path in _SIGNALS}
        self.content_types: set[str] = set()
        self.errors: list[str] = []
        self.lock = threading.Lock()

    def metrics(self) -> list[ExportMetricsServiceRequest]:
        with self.lock:
            return list(self.requests["/v1/metrics"])

    def traces(self) -> list[ExportTraceServiceRequest]:
        with self.lock:
            return list(self.requests["/v1/traces"])

    def metric_points(self) -> dict[str, list[tuple[dict[str, Any], Any, str]]]:
        """Return every data point received: name -> [(attributes, point, unit)]."""
        points: dict[str, list[tuple[dict[str, Any], Any, str]]] = {}
        for request in self.metrics():
            for rm in request.resource_metrics:
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        data = getattr(metric, metric.WhichOneof("data"))
                        for point in data.data_points:
                            points.setdefault(metric.name, []).append(
                                (attributes_of(point.attributes), point, metric.unit)
                            )
        return points

    def spans(self) -> list[tuple[dict[str, Any], Any]]:
        """Return every span received with its resource's attributes."""
        return [
            (attributes_of(rs.resource.attributes), span)
            for request in self.traces()
            for rs in request.resource_spans
            for ss in rs.scope_spans
            for span in ss.spans
        ]

    def wait_for(self, condition: Callable[[], bool], timeout: float = 60.0) -> None:
        """Poll ``condition`` until it holds (generous: the machine is busy)."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver never saw it; errors: {self.errors}")
            time.sleep(0.05)


@contextmanager
def receiving() -> Iterator[Receiver]:
    """Run an OTLP/HTTP receiver on a free loopback port until the block ends."""
    holder: list[Receiver] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            receiver = holder[0]
            signal = _SIGNALS.get(self.path)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            encoding = self.headers.get("Content-Encoding", "")
            if encoding == "gzip":
                body = gzip.decompress(body)
            elif encoding == "deflate":
                body = zlib.decompress(body)
            if signal is None:
                receiver.errors.append(f"unexpected path {self.path}")
                self.send_error(404)
                return
            request_type, response_type = signal
            request = request_type()
            try:
                request.ParseFromString(body)
            except Exception as error:  # a malformed export is the test's failure
                receiver.errors.append(f"{self.path}: {error!r}")
                self.send_error(400)
                return
            with receiver.lock:
                receiver.requests[self.path].append(request)
                receiver.content_types.add(self.headers.get("Content-Type", ""))
            answer = response_type().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    holder.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}"))
    thread = threading.Thread(target=server.serve_forever, name="otlp-receiver", daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=30)
