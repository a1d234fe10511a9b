"""Events the rate limiters emit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, final

from ..._events import Event

__all__ = ["RateChanged", "RateLimitExceeded", "RateLimiterDegraded", "RateLimiterRecovered"]


@final
@dataclass(frozen=True, slots=True)
class RateLimitExceeded(Event):
    """A request for ``requested`` tokens was refused (``key`` for keyed limiters)."""

    policy_kind: ClassVar[str] = "rate_limiter"

    requested: int
    retry_after: float
    key: str | None = None


@final
@dataclass(frozen=True, slots=True)
class RateChanged(Event):
    """``set_rate`` changed the limit at run time."""

    policy_kind: ClassVar[str] = "rate_limiter"

    old_rate: float
    rate: float
    old_burst: float
    burst: float


@final
@dataclass(frozen=True, slots=True)
class RateLimiterDegraded(Event):
    """The shared (Redis) limiter lost its backend and enforces a local share instead."""

    policy_kind: ClassVar[str] = "rate_limiter"

    reason: str
    local_rate: float


@final
@dataclass(frozen=True, slots=True)
class RateLimiterRecovered(Event):
    """The shared (Redis) limiter reached its backend again after ``downtime`` seconds."""

    policy_kind: ClassVar[str] = "rate_limiter"

    downtime: float
