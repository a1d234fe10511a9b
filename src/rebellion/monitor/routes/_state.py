"""Where route handlers find the service and the app's settings: ``app.state``.

>>> settings = Settings()
>>> settings.metrics_text is None
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from starlette.requests import HTTPConnection

from ..service import MonitorService

__all__ = ["Settings", "service_of", "settings_of"]


@dataclass(frozen=True, slots=True)
class Settings:
    """Optional hooks given to ``create_app``."""

    extra_status: Callable[[], dict[str, Any]] | None = None
    metrics_text: Callable[[], tuple[bytes, str]] | None = None


def service_of(connection: HTTPConnection) -> MonitorService:
    """Return the monitor service of the app serving ``connection``."""
    return cast(MonitorService, connection.app.state.monitor)


def settings_of(connection: HTTPConnection) -> Settings:
    """Return the app's :class:`Settings`."""
    return cast(Settings, connection.app.state.settings)
