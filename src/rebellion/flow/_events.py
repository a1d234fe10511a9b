"""Events of the flow-control primitives (backpressure buffers, batch processors).

Drops are reported in aggregate (:class:`ItemsDropped` carries a count), never one
event per item, so a flood of dropped items costs no event traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

from .._events import Event

__all__ = [
    "BatchCompleted",
    "BatchFailed",
    "ItemsDeadLettered",
    "ItemsDropped",
    "PressureChanged",
]


@final
@dataclass(frozen=True, slots=True)
class ItemsDropped(Event):
    """``count`` items were dropped for ``reason`` since the previous report."""

    reason: str
    count: int


@final
@dataclass(frozen=True, slots=True)
class PressureChanged(Event):
    """Adaptive sampling now keeps every ``stride``-th item (1: keep all) at ``fill``."""

    stride: int
    fill: float


@final
@dataclass(frozen=True, slots=True)
class BatchCompleted(Event):
    """A batch of ``size`` items succeeded after ``attempts`` attempts in ``duration``."""

    size: int
    attempts: int
    duration: float


@final
@dataclass(frozen=True, slots=True)
class BatchFailed(Event):
    """An attempt at a batch of ``size`` items raised ``error`` (the exception type)."""

    size: int
    attempt: int
    error: str


@final
@dataclass(frozen=True, slots=True)
class ItemsDeadLettered(Event):
    """``count`` items gave up and went to the dead-letter queue."""

    count: int
    error: str
