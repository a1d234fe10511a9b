"""Events an alert manager emits (for the dashboard, exporters and tests)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

from ..._events import Event

__all__ = ["AlertNotified", "AlertStateChanged"]


@final
@dataclass(frozen=True, slots=True)
class AlertStateChanged(Event):
    """An alert moved from ``old_state`` to ``new_state`` (``inactive``/``pending``/...)."""

    rule: str
    fingerprint: str
    old_state: str
    new_state: str
    severity: str
    value: float | None


@final
@dataclass(frozen=True, slots=True)
class AlertNotified(Event):
    """A group notification was handed to the callbacks."""

    group_key: str
    status: str
    sequence: int
    alerts: int
    idempotency_key: str
