"""Events the rate limiters emit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import final

from ..._events import Event

__all__ = ["RateChanged", "RateLimitExceeded", "RateLimiterDegraded", "RateLimiterRecovered"]


@final
@dataclass(frozen=True, slots=True)
class RateLimitExceeded(Event):
    """A request for ``requested`` tokens was refused (``key`` for keyed limiters)."""

    requested: int
    retry_after: float
    key: str | None = None


@final
@dataclass(frozen=True, slots=True)
class RateChanged(Event):
    """``set_rate`` changed the limit at run time."""

    old_rate: float
    rate: float
    old_burst: float
    burst: float


@final
@dataclass(frozen=True, slots=True)
class RateLimiterDegraded(Event):
    """The shared (Redis) limiter lost its backend and enforces a local share instead."""

    reason: str
    local_rate: float


@final
@dataclass(frozen=True, slots=True)
class RateLimiterRecovered(Event):
    """The shared (Redis) limiter reached its backend again after ``downtime`` seconds."""

    downtime: float
