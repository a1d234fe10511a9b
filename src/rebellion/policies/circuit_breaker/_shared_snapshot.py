"""The Redis-shared breaker's typed statistics snapshot.

It uses the in-process breaker's vocabulary (``calls``, ``successes``, ``failures``,
``rejections``, ``slow``, ``failure_rate``...). Counters are this process's lifetime
counts; the window figures, ``state``, ``in_flight`` and ``transitions`` are the fleet's,
as last read from Redis.

>>> SharedBreakerSnapshot.measure("window_calls"), SharedBreakerSnapshot.measure("calls")
('gauge', 'counter')
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, final

from ..._snapshot import Snapshot, counter, gauge, info, ratio, seconds

__all__ = ["SharedBreakerSnapshot"]


@final
@dataclass(frozen=True, slots=True)
class SharedBreakerSnapshot(Snapshot):
    """State, this process's lifetime counts and the fleet's window rates.

    ``calls == successes + failures + ignored`` (completed calls, shared or decided
    locally while Redis was unreachable); ``rejections`` never ran. ``degraded_calls``
    ran while Redis was unreachable. Rates are fractions (0 to 1) of the shared window.
    """

    kind: str = info()
    name: str = info()
    state: str = info()
    window_type: str = info()
    on_redis_down: str = info()
    clock: str = info()
    shared: bool = gauge()
    degraded: bool = gauge()
    calls: int = counter()
    successes: int = counter()
    failures: int = counter()
    rejections: int = counter()
    ignored: int = counter()
    slow: int = counter()
    degraded_calls: int = counter()
    redis_errors: int = counter()
    transitions: int = counter()
    in_flight: int = gauge()
    consecutive_failures: int = gauge()
    window_calls: int = gauge()
    window_failures: int = gauge()
    window_slow: int = gauge()
    failure_rate: float = ratio()
    slow_call_rate: float = ratio()
    open_level: int = gauge()
    epoch: int = gauge()
    time_until_half_open: float | None = seconds()
    refresh_interval: float = info()
    last_redis_error: str | None = info()

    legacy: ClassVar[Mapping[str, str]] = {
        "successful_calls": "successes",
        "failed_calls": "failures",
        "rejected_calls": "rejections",
        "ignored_calls": "ignored",
        "slow_calls": "slow",
        "local_calls": "degraded_calls",
        "failure_count": "failure_count",
    }

    @property
    def failure_count(self) -> int:
        """Consecutive failures (consecutive mode) or failures in the shared window."""
        if self.window_type == "consecutive":
            return self.consecutive_failures
        return self.window_failures
