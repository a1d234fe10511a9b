"""Events an adaptive limiter emits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, final

from ..._events import Event

__all__ = ["CallShed", "LimitChanged"]


@final
@dataclass(frozen=True, slots=True)
class LimitChanged(Event):
    """The concurrency limit moved from ``old_limit`` to ``new_limit``.

    Throttled: at most one event per ``event_interval`` seconds, carrying the limit at
    that moment and the last value reported (intermediate steps are not reported).
    ``reason`` is ``"algorithm"`` or ``"max_limit"`` (an operator changed the cap).
    """

    policy_kind: ClassVar[str] = "adaptive_limiter"

    old_limit: int
    new_limit: int
    reason: str


@final
@dataclass(frozen=True, slots=True)
class CallShed(Event):
    """A call was refused: ``reason`` is ``"limit"``, ``"backlog"`` or ``"max_wait"``."""

    policy_kind: ClassVar[str] = "adaptive_limiter"

    partition: str | None
    reason: str
    limit: int
    inflight: int
