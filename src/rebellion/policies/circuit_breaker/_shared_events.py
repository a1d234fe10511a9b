"""Events of the Redis-shared breaker's connection to its shared state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, final

from ..._events import Event

__all__ = ["SharedStateRestored", "SharedStateUnavailable"]


@final
@dataclass(frozen=True, slots=True)
class SharedStateUnavailable(Event):
    """Redis could not be reached: this process now decides with a local breaker."""

    policy_kind: ClassVar[str] = "circuit_breaker"

    error: str


@final
@dataclass(frozen=True, slots=True)
class SharedStateRestored(Event):
    """Redis answered again: the process shares state again (``state`` as found there)."""

    policy_kind: ClassVar[str] = "circuit_breaker"

    state: str
