"""One timer for many deadlines that share a duration: the package's one deadline queue.

A timer per call (``loop.call_later`` + ``cancel``) costs ~1.5 us, most of a timeout's
price. All scopes of one :class:`~rebellion.policies.timeout.Timeout` last the same
``seconds`` (and all first attempts of one :class:`~rebellion.policies.hedge.Hedge` wait
the same delay), so their deadlines arrive in the order they were opened: a FIFO queue
with a single armed timer for its head is enough. Adding an entry appends it; closing
marks it done. The timer, when it fires, drops finished entries, expires the overdue
ones and re-arms itself for the next live deadline, so it is re-armed about once per
``seconds``, not once per call. A timeout's entries are :class:`Scope` (expiring cancels
the task); a hedge's are its races (expiring launches the first hedge).

>>> from rebellion.testing import ManualClock
>>> clock = ManualClock()
>>> cancelled = []
>>> class Task:
...     def cancel(self): cancelled.append(clock.monotonic())
>>> queue = DeadlineQueue(clock)
>>> slow, quick = queue.open(Task(), 5.0), queue.open(Task(), 5.0)
>>> queue.close(quick)
>>> clock.advance(10)
>>> cancelled, slow.fired, quick.fired
([5.0], True, False)

Everything here runs on the event loop's thread, so no lock is needed.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Protocol, final

from .._clock import Clock, TimerHandle

__all__ = ["DeadlineQueue", "Expiring", "Scope"]

_COMPACT_AT = 64


class _Cancellable(Protocol):
    def cancel(self) -> object: ...


class Expiring(Protocol):
    """An entry of a :class:`DeadlineQueue`."""

    deadline: float
    done: bool

    def expire(self) -> object:
        """Act on the deadline having passed before the entry was closed."""


@final
class Scope:
    """One open cancel scope: its task, its deadline and whether it expired."""

    __slots__ = ("deadline", "done", "fired", "task")

    def __init__(self, task: _Cancellable, deadline: float) -> None:
        self.task = task
        self.deadline = deadline
        self.fired = False
        self.done = False

    def expire(self) -> None:
        """Cancel the task: its time is up."""
        self.fired = True
        self.task.cancel()


class DeadlineQueue:
    """Entries of equal duration on one event loop, in deadline order."""

    __slots__ = ("_clock", "_fire_later", "_live", "_queue", "_timer")

    def __init__(
        self, clock: Clock, hop: Callable[[Callable[[], None]], Callable[[], object]] | None = None
    ) -> None:
        """Args: ``hop`` wraps the timer callback (to run it on the loop's thread)."""
        self._clock = clock
        self._queue: deque[Expiring] = deque()
        self._timer: TimerHandle | None = None
        self._live = 0
        self._fire_later = self._fire if hop is None else hop(self._fire)

    def open(self, task: _Cancellable, seconds: float) -> Scope:
        """Start a scope that cancels ``task`` after ``seconds`` unless closed first."""
        scope = Scope(task, self._clock.monotonic() + seconds)
        self._queue.append(scope)
        self._live += 1
        if self._timer is None:
            self._timer = self._clock.call_later(seconds, self._fire_later)
        return scope

    def add(self, entry: Expiring, seconds: float) -> None:
        """Queue ``entry`` (its ``deadline`` set, ``seconds`` from now at most)."""
        self._queue.append(entry)
        self._live += 1
        if self._timer is None:
            self._timer = self._clock.call_later(seconds, self._fire_later)

    def close(self, scope: Expiring) -> None:
        """End ``scope``: its deadline no longer matters."""
        scope.done = True
        self._live -= 1
        queue = self._queue
        while queue and queue[0].done:
            queue.popleft()
        # A long call at the head keeps finished ones queued behind it: bound the waste.
        if len(queue) > _COMPACT_AT and len(queue) > 2 * self._live:
            self._queue = deque(s for s in queue if not s.done)

    def _fire(self) -> None:
        self._timer = None
        now = self._clock.monotonic()
        queue = self._queue
        while queue:
            head = queue[0]
            if head.done:
                queue.popleft()
            elif head.deadline <= now:
                queue.popleft()
                head.expire()
            else:
                self._timer = self._clock.call_later(head.deadline - now, self._fire_later)
                return

    def __len__(self) -> int:
        return self._live
