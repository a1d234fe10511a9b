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
from .._counter import AtomicCounter
from ._config import CircuitState
from ._shared_core import SharedCore
from ._snapshot import BreakerSnapshot

__all__ = ["SharedBreakerSnapshot", "SharedCounts"]


@final
@dataclass(frozen=True, slots=True)
class SharedBreakerSnapshot(Snapshot):
    """State, this process's lifetime counts and the fleet's window rates.

    ``calls == successes + failures + ignored`` (completed calls, shared or decided
    locally while Redis was unreachable); ``rejections`` never ran. ``degraded_calls``
    were admitted without Redis (to the local breaker, or unjudged when failing open).
    Rates are fractions (0 to 1) of the shared window.
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


@final
class SharedCounts:
    """One process's lifetime counters (lock-free increments, exact under threads)."""

    __slots__ = ("degraded", "failure", "ignored", "rejected", "slow", "success")

    def __init__(self) -> None:
        self.success, self.failure, self.ignored = AtomicCounter(), AtomicCounter(), AtomicCounter()
        self.slow, self.rejected, self.degraded = AtomicCounter(), AtomicCounter(), AtomicCounter()

    def snapshot(
        self,
        *,
        kind: str,
        name: str,
        state: CircuitState,
        window_type: str,
        on_redis_down: str,
        core: SharedCore,
        local: BreakerSnapshot | None,
    ) -> SharedBreakerSnapshot:
        """Return the snapshot: these counts (plus ``local``'s) and the fleet's view."""
        successes = self.success.value + (local.successes if local else 0)
        failures = self.failure.value + (local.failures if local else 0)
        ignored = self.ignored.value + (local.ignored if local else 0)
        calls, failed, slow = core.window
        return SharedBreakerSnapshot(
            kind=kind,
            name=name,
            state=state.value,
            window_type=window_type,
            on_redis_down=on_redis_down,
            clock="redis" if core.server_time else "local",
            shared=not core.degraded,
            degraded=core.degraded,
            calls=successes + failures + ignored,
            successes=successes,
            failures=failures,
            rejections=self.rejected.value + (local.rejections if local else 0),
            ignored=ignored,
            slow=self.slow.value + (local.slow if local else 0),
            degraded_calls=self.degraded.value,
            redis_errors=core.redis_errors,
            transitions=core.transitions,
            in_flight=core.probes if core.state is CircuitState.HALF_OPEN else 0,
            consecutive_failures=core.failures,
            window_calls=calls,
            window_failures=failed,
            window_slow=slow,
            failure_rate=failed / calls if calls else 0.0,
            slow_call_rate=slow / calls if calls else 0.0,
            open_level=core.level,
            epoch=core.epoch,
            time_until_half_open=core.remaining_open() if state is CircuitState.OPEN else None,
            refresh_interval=core.refresh_interval,
            last_redis_error=core.last_error,
        )
