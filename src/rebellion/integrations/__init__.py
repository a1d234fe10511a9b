"""Integrations with the libraries services are built on: httpx, ASGI, OpenTelemetry, logging.

Each integration lives in its own module and imports its library only there, so
``import rebellion`` (and this package) needs none of them. The public names are
re-exported lazily: ``from rebellion.integrations import ResilientTransport`` imports
httpx at that moment, not before.

>>> import rebellion.integrations as integrations
>>> "ResilientTransport" in integrations.__all__
True
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "AsyncResilientTransport",
    "LoggingListener",
    "OTLPExport",
    "OTelHostMetrics",
    "OTelListener",
    "RequestRejectedError",
    "ResilienceMiddleware",
    "ResilientTransport",
    "http_classifier",
    "http_pipeline",
    "start_otlp",
]

_HOMES = {
    "AsyncResilientTransport": "http_transport",
    "RequestRejectedError": "_http_common",
    "ResilientTransport": "http_transport",
    "http_classifier": "_http_common",
    "http_pipeline": "_http_common",
    "ResilienceMiddleware": "asgi",
    "OTelListener": "otel",
    "OTelHostMetrics": "otel_host",
    "OTLPExport": "otlp",
    "start_otlp": "otlp",
    "LoggingListener": "log",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
