"""Events a tiered cache emits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

from .._events import Event

__all__ = ["CacheTierFailed", "CacheTierRecovered", "StaleValueServed"]


@final
@dataclass(frozen=True, slots=True)
class CacheTierFailed(Event):
    """A tier raised instead of answering (``error`` is the exception type name).

    The operation went on with the remaining tiers; the caller saw no exception.
    """

    tier: str
    operation: str
    error: str


@final
@dataclass(frozen=True, slots=True)
class CacheTierRecovered(Event):
    """A tier that had failed answered again."""

    tier: str


@final
@dataclass(frozen=True, slots=True)
class StaleValueServed(Event):
    """A loader failed and an expired value, still within its grace period, was returned."""

    namespace: str
    key: str
    age: float
    error: str
