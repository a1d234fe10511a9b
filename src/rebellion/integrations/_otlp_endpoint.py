"""Where OTLP goes: the standard variables and the endpoint check (no OpenTelemetry import).

>>> check_endpoint("http://127.0.0.1:4318/")
'http://127.0.0.1:4318'
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from ..errors import ConfigError

__all__ = ["ENDPOINT_VARIABLES", "check_endpoint", "endpoint_in_environment"]

ENDPOINT_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
)
"""The standard variables that name where OTLP goes (any one of them is enough)."""


def endpoint_in_environment() -> bool:
    """Return whether one of :data:`ENDPOINT_VARIABLES` is set (and not empty)."""
    return any(os.environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


def check_endpoint(endpoint: object, parameter: str = "endpoint") -> str:
    """Return ``endpoint`` without a trailing slash if it is an OTLP/HTTP base URL.

    Raises:
        ConfigError: not an ``http``/``https`` URL with a host; ``parameter`` is named.
    """
    rule = "an http:// or https:// URL with a host (OTLP over HTTP, e.g. http://127.0.0.1:4318)"
    if not isinstance(endpoint, str):
        raise ConfigError(parameter, rule, endpoint)
    text = endpoint.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        raise ConfigError(parameter, rule, endpoint) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(parameter, rule, endpoint)
    return text.rstrip("/")
