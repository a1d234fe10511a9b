"""Time as a dependency: the only module that touches ``time`` and ``asyncio.sleep``.

Every policy takes a ``clock``; the default is :data:`SYSTEM_CLOCK`. Tests pass
:class:`rebellion.testing.ManualClock` so timeouts, backoff and recovery run instantly.

>>> clock = SystemClock()
>>> clock.monotonic() <= clock.monotonic()
True
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol, final, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "SystemClock", "TimerHandle"]


@runtime_checkable
class TimerHandle(Protocol):
    """A scheduled callback that can be cancelled."""

    def cancel(self) -> None: ...


@runtime_checkable
class Clock(Protocol):
    """What every time-aware primitive needs from time."""

    def monotonic(self) -> float:
        """Return seconds on a clock that never goes backwards (durations, deadlines)."""
        ...

    def wall(self) -> float:
        """Return seconds since the epoch (event timestamps, audit trails)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block the calling thread for ``seconds``; a non-positive delay returns at once."""
        ...

    async def sleep_async(self, seconds: float) -> None:
        """Suspend the calling task for ``seconds``; a non-positive delay returns at once."""
        ...

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        """Run ``callback`` on the running event loop after ``delay`` seconds."""
        ...


@final
class SystemClock:
    """The real clock: ``time.monotonic``, ``time.time`` and the running event loop."""

    __slots__ = ()

    # Bound straight to the C functions: one call, no Python frame on the hot path.
    monotonic = staticmethod(time.monotonic)
    wall = staticmethod(time.time)

    def sleep(self, seconds: float) -> None:
        # time.sleep(0) still costs tens of microseconds: never call it for nothing.
        if seconds > 0:
            time.sleep(seconds)

    async def sleep_async(self, seconds: float) -> None:
        if seconds > 0:
            await asyncio.sleep(seconds)

    def call_later(self, delay: float, callback: Callable[[], object]) -> TimerHandle:
        return asyncio.get_running_loop().call_later(max(0.0, delay), callback)

    def __repr__(self) -> str:
        return "SystemClock()"


SYSTEM_CLOCK: Clock = SystemClock()
"""The process-wide real clock, the default for every primitive."""
