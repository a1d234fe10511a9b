"""Bound how long a call may take: cancel async work, cut waits, or walk away.

>>> import asyncio
>>> from rebellion.testing import ManualClock
>>> clock = ManualClock()
>>> limit = Timeout(5, name="search", clock=clock)
>>> async def slow():
...     await clock.sleep_async(60)
>>> try:
...     asyncio.run(limit.execute(slow))
... except TimeoutError as error:
...     print(error)
'search' did not finish within 5s

**Async work** runs in the current task under a cancel scope, like
:func:`asyncio.timeout` but driven by the injected clock: when ``seconds`` have passed
the task is cancelled, and the resulting ``CancelledError`` becomes
:class:`~rebellion.errors.TimeoutExceededError`. A cancellation that comes from outside
is never swallowed (the task's cancel count is checked with ``uncancel()``). The scopes
of one policy share one ``clock.call_later`` timer per event loop (``_deadlines.py``).

**Sync work** cannot be interrupted in Python. Two modes:

* ``mode="cooperative"`` (the default): the callee runs inline on the caller's thread,
  and the deadline is published (:mod:`rebellion.policies.deadline`) so that policies
  inside it stop at it: a retry schedules no attempt past it, bulkhead and rate limiter
  waits are cut to it, and callees may read :func:`~rebellion.policies.deadline.remaining`
  as their own I/O timeout. A call that still finishes late raises
  :class:`~rebellion.errors.TimeoutExceededError` when it returns (its result is
  dropped), so both modes keep the same contract. It costs about as much as a function
  call, and runs nothing twice.
* ``mode="thread"``: the callee runs in one of the policy's **own** threads (at most
  ``max_threads``) and the caller walks away at the deadline, in real time whatever the
  clock. The abandoned thread runs on to completion and holds its slot meanwhile; when
  all are taken the next call is refused at once with
  :class:`~rebellion.errors.TimeoutCapacityError`, and other timeouts are unaffected.

From async code a plain callable always runs in the policy's own threads, so the event
loop stays free and the scope can expire.
"""

from __future__ import annotations

import asyncio
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, TypeVar, final

from .._clock import Clock
from .._driver import Scoped
from .._events import Event, EventStream, Listener
from .._registry import registry
from .._units import as_seconds
from .._validate import check_choice, check_clock, check_duration, check_int, check_name
from ..config import setting
from ..errors import TimeoutCapacityError, TimeoutExceededError
from ._counter import AtomicCounter
from ._deadlines import DeadlineQueue
from ._timeout_run import Runner, offloader
from ._workers import Workers
from .snapshots import TimeoutSnapshot

__all__ = ["MODES", "Timeout", "TimeoutOccurred"]

T = TypeVar("T")
MODES = ("cooperative", "thread")


@final
@dataclass(frozen=True, slots=True)
class TimeoutOccurred(Event):
    """A call did not finish within ``timeout`` seconds."""

    policy_kind: ClassVar[str] = "timeout"

    timeout: float


@final
class Timeout(Scoped):
    """Fail a call with :class:`TimeoutExceededError` if it takes longer than ``seconds``.

    Args:
        seconds: the limit (> 0; a ``timedelta`` too); default ``REBELLION_TIMEOUT_SECONDS`` or 30.
        mode: how a plain function called from sync code is bounded:
            ``"cooperative"`` (inline, deadline propagated; the default) or
            ``"thread"`` (in this policy's own threads; the caller walks away).
        max_threads: the most threads this policy uses at once for plain functions,
            those still running after their caller walked away included.
        name: name for the error, events, statistics and the registry.
        clock: time source for async work (default: the system clock).
        listeners: event listeners (:class:`TimeoutOccurred`).

    Raises:
        ConfigError: a parameter is out of range or of the wrong kind.
    """

    kind: ClassVar[str] = "timeout"

    def __init__(
        self,
        seconds: float | timedelta | None = None,
        *,
        mode: str = "cooperative",
        max_threads: int = 32,
        name: str = "timeout",
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        if seconds is None:
            seconds = setting("timeout.seconds")
        seconds = as_seconds(seconds)
        self.seconds = check_duration("seconds", seconds, exclusive_minimum=True)
        self.mode = check_choice("mode", mode, MODES)
        self.max_threads = check_int("max_threads", max_threads, minimum=1, maximum=4096)
        self.name = check_name("name", name)
        self._clock = clock = check_clock(clock)
        self._events = EventStream(self.name, listeners)
        self._calls = AtomicCounter()
        self._timeouts = AtomicCounter()
        self._rejected = AtomicCounter()
        self._workers: Workers | None = None
        self._workers_lock = threading.Lock()
        # One deadline queue per event loop; the last one used is cached for the hot path.
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DeadlineQueue] = (
            weakref.WeakKeyDictionary()
        )
        self._queues_lock = threading.Lock()
        self._cache: tuple[object, DeadlineQueue] = (None, DeadlineQueue(clock))
        self._runner = Runner(self)
        registry.track(self)

    def _timed_out(self) -> TimeoutExceededError:
        self._timeouts.increment()
        if self._events:
            self._events.emit(TimeoutOccurred(self.name, self._clock.wall(), self.seconds))
        return TimeoutExceededError(self.name, self.seconds)

    def workers(self) -> Workers:
        """Return this policy's own worker threads (created on first use)."""
        workers = self._workers
        if workers is None:
            with self._workers_lock:
                if self._workers is None:
                    self._workers = Workers(self.name, self.max_threads)
                workers = self._workers
        return workers

    def refused(self, error: TimeoutCapacityError) -> TimeoutCapacityError:
        """Count a call refused for want of a thread; return the error to raise."""
        self._rejected.increment()
        return error

    # -- sync driver ---------------------------------------------------------------------

    def _sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        if self.mode == "thread":
            return self._runner.in_thread(fn, args, kwargs)
        return self._runner.inline(fn, args, kwargs)

    def _wrap_sync(self, fn: Callable[..., T]) -> Callable[..., T]:
        if self.mode == "thread":
            return super()._wrap_sync(fn)
        return self._runner.wrap_inline(fn)

    def offload_sync(self, fn: Callable[..., T]) -> Callable[..., Awaitable[T]]:
        """Return an async function that runs ``fn`` in this policy's own threads."""
        return offloader(self, fn)

    # -- async driver: a cancel scope on the current task (execute: see _driver.scoped) --

    def _wrap_async(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        return self._runner.wrap_async(fn)

    def queue_for(self, loop: asyncio.AbstractEventLoop) -> DeadlineQueue:
        """Return the deadline queue of ``loop`` (one per loop, cached)."""
        with self._queues_lock:
            queue = self._queues.get(loop)
            if queue is None:
                queue = self._queues[loop] = DeadlineQueue(self._clock)
        self._cache = (loop, queue)
        return queue

    # -- observation -------------------------------------------------------------------

    def stats(self) -> TimeoutSnapshot:
        """Return a snapshot: calls started, timeouts, refusals and thread use.

        ``threads`` counts this policy's worker threads, ``in_flight`` those running a
        callee, ``abandoned`` those still running one whose caller walked away;
        ``rejections`` counts calls refused because every thread was taken.
        """
        workers = self._workers
        return TimeoutSnapshot(
            kind=self.kind,
            name=self.name,
            seconds=self.seconds,
            mode=self.mode,
            max_threads=self.max_threads,
            calls=self._calls.value,
            timeouts=self._timeouts.value,
            rejections=self._rejected.value,
            threads=0 if workers is None else workers.threads,
            in_flight=0 if workers is None else workers.busy,
            abandoned=0 if workers is None else workers.abandoned,
        )

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add an event listener; returns a function that removes it."""
        return self._events.subscribe(listener)

    def __repr__(self) -> str:
        return f"Timeout(seconds={self.seconds:g}, mode={self.mode!r}, name={self.name!r})"
