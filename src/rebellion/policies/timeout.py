"""Bound how long a call may take, and cancel async work that overruns.

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
:class:`~rebellion.errors.TimeoutExceededError`. The work is really cancelled. A
cancellation that comes from outside is never swallowed, even if it races the timer (the
task's cancel count is checked with ``uncancel()``). The scopes of one policy share one
``clock.call_later`` timer per event loop (see ``_deadlines.py``): a timer per call
would cost more than everything else a timeout does.

**Sync work** cannot be interrupted in Python, so it runs in a worker thread of a small
shared pool and the caller waits at most ``seconds`` (a *pessimistic* timeout). After
the timeout the thread cannot be killed: it keeps running to completion in the
background, holds its pool slot meanwhile, and the interpreter waits for it at exit.
This wait uses real time, whatever the clock. ``execute()`` with a sync callable runs it
in the same pool but waits on the injected clock, without blocking the event loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import os
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from inspect import isawaitable
from types import CoroutineType
from typing import Any, ClassVar, TypeVar, final

from .._clock import Clock
from .._events import Event, EventStream, Listener
from .._policy import Policy, is_async_callable
from .._registry import registry
from .._validate import check_clock, check_duration, check_name
from ..config import setting
from ..errors import TimeoutExceededError
from ._counter import AtomicCounter
from ._deadlines import DeadlineQueue

__all__ = ["Timeout", "TimeoutOccurred"]

T = TypeVar("T")
_Coro = CoroutineType

_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _worker_pool() -> ThreadPoolExecutor:
    """Return the shared pool for sync callees, creating it on first use."""
    global _pool
    pool = _pool
    if pool is None:
        with _pool_lock:
            if _pool is None:
                _pool = ThreadPoolExecutor(
                    max_workers=min(32, (os.cpu_count() or 1) + 4),
                    thread_name_prefix="rebellion-timeout",
                )
            pool = _pool
    return pool


async def _unset() -> None: ...


@final
@dataclass(frozen=True, slots=True)
class TimeoutOccurred(Event):
    """A call did not finish within ``timeout`` seconds."""

    timeout: float


@final
class Timeout(Policy):
    """Fail a call with :class:`TimeoutExceededError` if it takes longer than ``seconds``.

    Args:
        seconds: the limit (> 0); default ``REBELLION_TIMEOUT_SECONDS`` or 30.
        name: name for the error, events, statistics and the registry.
        clock: time source for async work (default: the system clock).
        listeners: event listeners (:class:`TimeoutOccurred`).

    Raises:
        ConfigError: a parameter is out of range or of the wrong kind.
    """

    kind: ClassVar[str] = "timeout"

    def __init__(
        self,
        seconds: float | None = None,
        *,
        name: str = "timeout",
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        if seconds is None:
            seconds = setting("timeout.seconds")
        self.seconds = check_duration("seconds", seconds, exclusive_minimum=True)
        self.name = check_name("name", name)
        self._clock = clock = check_clock(clock)
        self._events = EventStream(self.name, listeners)
        self._calls = AtomicCounter()
        self._timeouts = AtomicCounter()
        # One deadline queue per event loop; the last one used is cached for the hot path.
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DeadlineQueue] = (
            weakref.WeakKeyDictionary()
        )
        self._queues_lock = threading.Lock()
        self._cache: tuple[object, DeadlineQueue] = (None, DeadlineQueue(clock))
        # execute(fn) reuses the wrapper built for the last fn instead of one per call.
        self._last_wrapped: tuple[object, Callable[..., Awaitable[Any]]] = (None, _unset)
        registry.track(self)

    def _timed_out(self) -> TimeoutExceededError:
        self._timeouts.increment()
        if self._events:
            self._events.emit(TimeoutOccurred(self.name, self._clock.wall(), self.seconds))
        return TimeoutExceededError(self.name, self.seconds)

    # -- sync driver: a worker thread, real time ---------------------------------------

    def _sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        self._calls.increment()
        context = contextvars.copy_context()
        future = _worker_pool().submit(context.run, fn, *args, **kwargs)
        try:
            # exception() only raises TimeoutError for *our* wait; the callee's own
            # TimeoutError is returned, and re-raised by result() below.
            future.exception(self.seconds)
        except TimeoutError:
            future.cancel()  # drops it if it is still queued; a running thread goes on
            raise self._timed_out() from None
        return future.result()

    # -- async driver: a cancel scope on the current task --------------------------------

    async def _async(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if is_async_callable(fn):
            last_fn, guarded = self._last_wrapped
            if last_fn is not fn:
                guarded = self._wrap_async(fn)
                self._last_wrapped = (fn, guarded)
            return await guarded(*args, **kwargs)
        # A plain callable may block: run it off the loop, so the scope can expire.
        run = functools.partial(contextvars.copy_context().run, fn, *args, **kwargs)
        loop = asyncio.get_running_loop()
        return await self._wrap_async(lambda: loop.run_in_executor(_worker_pool(), run))()

    def _wrap_async(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        seconds = self.seconds
        tick = self._calls.increment
        current_task = asyncio.current_task
        running_loop = asyncio.get_running_loop
        queue_for = self._queue_for
        timed_out = self._timed_out

        async def guarded(*args: Any, **kwargs: Any) -> T:
            task = current_task()
            if task is None:
                raise RuntimeError("Timeout needs to run inside an asyncio task")
            loop = running_loop()
            cached = self._cache
            queue = cached[1] if cached[0] is loop else queue_for(loop)
            tick()
            cancelling = task.cancelling()
            scope = queue.open(task, seconds)
            result: Any
            try:
                result = fn(*args, **kwargs)
                if type(result) is _Coro or isawaitable(result):
                    result = await result
            except asyncio.CancelledError as cancelled:
                if scope.fired:
                    scope.fired = False
                    # Ours only if no other cancellation arrived meanwhile (as asyncio.timeout).
                    if task.uncancel() <= cancelling:
                        raise timed_out() from cancelled
                raise
            finally:
                queue.close(scope)
                if scope.fired:
                    # The scope expired but the work finished anyway: withdraw our request.
                    task.uncancel()
            return result  # type: ignore[no-any-return]

        return guarded

    def _queue_for(self, loop: asyncio.AbstractEventLoop) -> DeadlineQueue:
        with self._queues_lock:
            queue = self._queues.get(loop)
            if queue is None:
                queue = self._queues[loop] = DeadlineQueue(self._clock)
        self._cache = (loop, queue)
        return queue

    # -- observation -------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Return a snapshot: ``calls`` started, ``timeouts`` and the limit."""
        return {
            "kind": self.kind,
            "name": self.name,
            "seconds": self.seconds,
            "calls": self._calls.value,
            "timeouts": self._timeouts.value,
        }

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add an event listener; returns a function that removes it."""
        return self._events.subscribe(listener)

    def __repr__(self) -> str:
        return f"Timeout(seconds={self.seconds:g}, name={self.name!r})"
