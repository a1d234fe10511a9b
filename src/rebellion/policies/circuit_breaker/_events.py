"""Events a circuit breaker emits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, final

from ..._events import Event

__all__ = ["CallRejected", "CircuitFailureRecorded", "CircuitStateChanged"]


@final
@dataclass(frozen=True, slots=True)
class CircuitStateChanged(Event):
    """The breaker moved from ``old_state`` to ``new_state``.

    ``shadow`` is true in METRICS_ONLY mode: the transition is the one the breaker
    *would* have made, and no call was affected.
    """

    policy_kind: ClassVar[str] = "circuit_breaker"

    old_state: str
    new_state: str
    reason: str
    shadow: bool = False


@final
@dataclass(frozen=True, slots=True)
class CallRejected(Event):
    """A call was refused without running (``would_have`` in shadow mode: it ran)."""

    policy_kind: ClassVar[str] = "circuit_breaker"

    state: str
    retry_after: float | None
    shadow: bool = False


@final
@dataclass(frozen=True, slots=True)
class CircuitFailureRecorded(Event):
    """A call counted as a failure (``error`` is the exception type, or ``"result"``)."""

    policy_kind: ClassVar[str] = "circuit_breaker"

    state: str
    error: str
    duration: float | None
    slow: bool = False
