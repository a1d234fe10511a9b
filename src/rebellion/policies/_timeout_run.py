"""The three ways a :class:`~rebellion.policies.timeout.Timeout` bounds a call.

* :meth:`Runner.inline` / :meth:`Runner.wrap_inline`: cooperative; the callee runs on
  the caller's thread with the deadline published, and a late finish is a timeout.
* :meth:`Runner.in_thread`: the callee runs in the policy's own threads and the caller
  waits at most ``seconds`` (real time).
* :meth:`Runner.wrap_async`: a cancel scope on the current task (one shared timer per
  event loop). It publishes no deadline: cancellation already ends every wait inside
  it (sleeps, queues, the callee's awaits) exactly on time, and the hot path stays as
  cheap as before.

The runner reads the policy's settings and counters through :class:`TimeoutOwner`.

>>> from rebellion.policies.timeout import Timeout
>>> from rebellion.testing import ManualClock
>>> clock = ManualClock()
>>> Runner(Timeout(5, clock=clock)).inline(lambda a, b: a + b, (1, 2), {})
3
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from inspect import isawaitable
from types import CoroutineType
from typing import Any, Protocol, TypeVar, final

from .._clock import Clock
from ..errors import TimeoutCapacityError, TimeoutExceededError
from ._counter import AtomicCounter
from ._deadlines import DeadlineQueue
from ._workers import Job, Workers
from .deadline import get as get_deadline
from .deadline import looser, publish, withdraw

__all__ = ["Runner", "TimeoutOwner", "offloader"]

T = TypeVar("T")
_Coro = CoroutineType


class TimeoutOwner(Protocol):
    """What a runner needs from its policy."""

    name: str
    seconds: float
    _clock: Clock
    _calls: AtomicCounter
    _cache: tuple[object, DeadlineQueue]

    def _timed_out(self) -> TimeoutExceededError: ...
    def refused(self, error: TimeoutCapacityError) -> TimeoutCapacityError: ...
    def workers(self) -> Workers: ...
    def queue_for(self, loop: asyncio.AbstractEventLoop) -> DeadlineQueue: ...


@final
class Runner:
    """The sync and async drivers of one timeout policy."""

    __slots__ = ("_owner",)

    def __init__(self, owner: TimeoutOwner) -> None:
        self._owner = owner

    # -- cooperative: inline, deadline published ---------------------------------------

    def inline(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        """Run ``fn`` on this thread under the deadline; a late finish is a timeout."""
        return self.wrap_inline(fn)(*args, **kwargs)

    def wrap_inline(self, fn: Callable[..., T]) -> Callable[..., T]:
        """Return ``fn`` bounded cooperatively (see :meth:`inline`)."""
        owner = self._owner
        clock, seconds, name = owner._clock, owner.seconds, owner.name
        monotonic = clock.monotonic
        tick = owner._calls.increment
        timed_out = owner._timed_out

        def guarded(*args: Any, **kwargs: Any) -> T:
            tick()
            start = monotonic()
            outer = get_deadline()
            token = (
                publish((start + seconds, clock, name, seconds))
                if outer is None or looser(outer, seconds)
                else None
            )
            try:
                result = fn(*args, **kwargs)
            except Exception as error:
                if monotonic() - start >= seconds:
                    raise timed_out() from error
                raise
            finally:
                if token is not None:
                    withdraw(token)
            if monotonic() - start >= seconds:
                raise timed_out()
            return result

        return guarded

    # -- thread: the policy's own workers, real time -----------------------------------

    def in_thread(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        """Run ``fn`` in one of the policy's threads; walk away after ``seconds``."""
        owner = self._owner
        owner._calls.increment()
        clock, seconds = owner._clock, owner.seconds
        workers = owner.workers()
        # The worker copies this context: inner policies see the deadline too.
        outer = get_deadline()
        token = None
        if outer is None or looser(outer, seconds):
            token = publish((clock.monotonic() + seconds, clock, owner.name, seconds))
        try:
            job = workers.submit(fn, args, kwargs, None)
        except TimeoutCapacityError as error:
            raise owner.refused(error) from None
        finally:
            if token is not None:
                withdraw(token)
        if not job.wait(seconds) and workers.abandon(job):
            raise owner._timed_out()
        result: T = job.outcome()
        return result

    # -- async: a cancel scope on the current task --------------------------------------

    def wrap_async(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        """Return ``fn`` bounded by a cancel scope that expires after ``seconds``."""
        owner = self._owner
        seconds = owner.seconds
        tick = owner._calls.increment
        current_task = asyncio.current_task
        running_loop = asyncio.get_running_loop
        queue_for = owner.queue_for
        timed_out = owner._timed_out

        async def guarded(*args: Any, **kwargs: Any) -> T:
            task = current_task()
            if task is None:
                raise RuntimeError("Timeout needs to run inside an asyncio task")
            loop = running_loop()
            cached = owner._cache
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


def _settle(future: asyncio.Future[None], job: Job) -> None:
    if not future.done():
        future.set_result(None)


def offloader(owner: TimeoutOwner, fn: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """Return an async function running ``fn`` in ``owner``'s threads (loop stays free)."""

    async def offloaded(*args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def notify(job: Job) -> None:
            loop.call_soon_threadsafe(_settle, future, job)

        workers = owner.workers()
        try:
            job = workers.submit(fn, args, kwargs, notify)
        except TimeoutCapacityError as error:
            raise owner.refused(error) from None
        try:
            await future
        except BaseException:
            workers.abandon(job)  # cancelled (the scope expired): the thread runs on
            raise
        result: T = job.outcome()
        return result

    return offloaded
