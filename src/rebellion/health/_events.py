"""Events of the health package: checks, operation mode, connections and pools.

>>> HealthCheckChanged(source="health", at=0.0, check="db", old_status="ok",
...                    new_status="critical", message="refused").new_status
'critical'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

from .._events import Event

__all__ = [
    "ComponentDegraded",
    "ComponentRecovered",
    "ConnectionStateChanged",
    "HealthCheckChanged",
    "OperationModeChanged",
    "PoolConnectionClosed",
    "PoolConnectionOpened",
    "PoolTargetResized",
    "ReconnectScheduled",
    "SystemHealthChanged",
]


@final
@dataclass(frozen=True, slots=True)
class HealthCheckChanged(Event):
    """Check ``check`` moved from ``old_status`` (``None`` at first) to ``new_status``."""

    check: str
    old_status: str | None
    new_status: str
    message: str


@final
@dataclass(frozen=True, slots=True)
class SystemHealthChanged(Event):
    """The aggregate status of a health registry changed."""

    old_status: str | None
    new_status: str


@final
@dataclass(frozen=True, slots=True)
class ComponentDegraded(Event):
    """``component`` was marked degraded (again) with ``reason`` and ``severity``."""

    component: str
    reason: str
    severity: str


@final
@dataclass(frozen=True, slots=True)
class ComponentRecovered(Event):
    """``component`` was marked recovered after ``degraded_for`` seconds."""

    component: str
    degraded_for: float


@final
@dataclass(frozen=True, slots=True)
class OperationModeChanged(Event):
    """The operation mode moved from ``old_mode`` to ``new_mode`` because of ``reason``."""

    old_mode: str
    new_mode: str
    reason: str
    component: str


@final
@dataclass(frozen=True, slots=True)
class ConnectionStateChanged(Event):
    """Managed connection ``connection`` moved from ``old_state`` to ``new_state``."""

    connection: str
    old_state: str
    new_state: str
    reason: str


@final
@dataclass(frozen=True, slots=True)
class ReconnectScheduled(Event):
    """Reconnect attempt ``attempt`` of ``connection`` starts after ``delay`` seconds."""

    connection: str
    attempt: int
    delay: float
    error_type: str | None


@final
@dataclass(frozen=True, slots=True)
class PoolConnectionOpened(Event):
    """The pool opened connection ``connection_id`` (``reason``: warm-up, demand, ...)."""

    connection_id: int
    reason: str


@final
@dataclass(frozen=True, slots=True)
class PoolConnectionClosed(Event):
    """The pool closed connection ``connection_id`` because of ``reason``."""

    connection_id: int
    reason: str


@final
@dataclass(frozen=True, slots=True)
class PoolTargetResized(Event):
    """Adaptive sizing moved the pool's target size (utilisation ``utilisation``)."""

    old_target: int
    new_target: int
    utilisation: float
