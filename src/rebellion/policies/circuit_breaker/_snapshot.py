"""The circuit breaker's typed statistics snapshot.

>>> from rebellion.policies.circuit_breaker import CircuitBreaker
>>> snap = CircuitBreaker("doc").stats()
>>> snap.state, snap.calls, snap.failure_rate, snap["successful_calls"]
('CLOSED', 0, 0.0, 0)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, final

from ..._snapshot import Snapshot, counter, gauge, info, ratio, seconds

__all__ = ["BreakerSnapshot"]


@final
@dataclass(frozen=True, slots=True)
class BreakerSnapshot(Snapshot):
    """State, lifetime counts and window rates of one breaker.

    ``calls == successes + failures + ignored`` (completed calls); ``rejections``
    never ran. Rates are fractions of the window's calls.
    """

    kind: str = info()
    name: str = info()
    state: str = info()
    shadow_state: str | None = info()
    calls: int = counter()
    successes: int = counter()
    failures: int = counter()
    rejections: int = counter()
    ignored: int = counter()
    slow: int = counter()
    shadow_rejections: int = counter()
    transitions: int = counter()
    in_flight: int = gauge()
    consecutive_failures: int = gauge()
    window_calls: int = gauge()
    window_failures: int = gauge()
    failure_rate: float = ratio()
    slow_call_rate: float = ratio()
    open_level: int = gauge()
    time_until_half_open: float | None = seconds()

    legacy: ClassVar[Mapping[str, str]] = {
        "successful_calls": "successes",
        "failed_calls": "failures",
        "rejected_calls": "rejections",
        "ignored_calls": "ignored",
        "slow_calls": "slow",
        "shadow_rejected_calls": "shadow_rejections",
    }
