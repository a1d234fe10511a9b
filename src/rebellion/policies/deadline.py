"""The deadline of the call in progress, for inner policies and cooperative callees.

A :class:`~rebellion.policies.timeout.Timeout` around sync work publishes its deadline
in a context variable for as long as its call runs (the tightest one wins when
timeouts nest). Policies inside it read it: a retry schedules no attempt past it,
bulkhead and rate limiter waits are cut to it. A callee can honour it too, e.g. by
passing :func:`remaining` as its own I/O timeout, like a cancellation token. (Async
work needs none of this: the timeout's cancel scope ends every wait on time.)

>>> from rebellion.policies.timeout import Timeout
>>> from rebellion.testing import ManualClock
>>> clock = ManualClock()
>>> Timeout(5, clock=clock).call(remaining)
5.0
>>> remaining() is None
True
"""

from __future__ import annotations

import contextvars
from typing import final

from .._clock import Clock

__all__ = ["Deadline", "Published", "cap", "current", "cut", "looser", "remaining"]


@final
class Deadline:
    """A point in time on one clock, set by the timeout policy named ``policy``."""

    __slots__ = ("at", "clock", "policy", "seconds")

    def __init__(self, clock: Clock, at: float, policy: str, seconds: float) -> None:
        self.clock = clock
        self.at = at
        self.policy = policy
        self.seconds = seconds

    def remaining(self) -> float:
        """Return the seconds left (negative once the deadline has passed)."""
        return self.at - self.clock.monotonic()

    def __repr__(self) -> str:
        return f"Deadline(policy={self.policy!r}, remaining={self.remaining():.3f})"


Published = tuple[float, Clock, str, float]
"""What the context variable holds: ``(at, clock, policy, seconds)`` (a tuple is cheap)."""

_current: contextvars.ContextVar[Published | None] = contextvars.ContextVar(
    "rebellion_deadline", default=None
)
get = _current.get
publish = _current.set
withdraw = _current.reset


def current() -> Deadline | None:
    """Return the innermost deadline of the call in progress, if any."""
    held = _current.get()
    return None if held is None else Deadline(held[1], held[0], held[2], held[3])


def remaining() -> float | None:
    """Return the seconds left before the current deadline (>= 0), or ``None``."""
    held = _current.get()
    if held is None:
        return None
    return max(0.0, held[0] - held[1].monotonic())


def cap(wait: float | None) -> float | None:
    """Return ``wait`` cut to the current deadline (``None`` means no limit)."""
    held = _current.get()
    if held is None:
        return wait
    left = max(0.0, held[0] - held[1].monotonic())
    return left if wait is None or wait > left else wait


def cut(wait: float) -> float:
    """Return ``wait`` (seconds, ``inf`` for no limit) cut to the current deadline."""
    held = _current.get()
    if held is None:
        return wait
    return min(wait, max(0.0, held[0] - held[1].monotonic()))


def looser(outer: Published, seconds: float) -> bool:
    """Return whether ``outer`` leaves more than ``seconds``: a new deadline is tighter."""
    return outer[0] - outer[1].monotonic() > seconds
