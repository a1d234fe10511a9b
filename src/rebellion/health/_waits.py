"""Waiting on the injectable clock: a timeout that never hangs, and a kickable sleep.

``within`` runs an awaitable as a task and stops waiting when the clock says the time
is up: the task is cancelled and abandoned (never awaited again), so user code that
swallows cancellation cannot hang the caller. ``Wakeup`` is a sleep that another task
can cut short.

>>> import asyncio
>>> from rebellion.testing import ManualClock
>>> async def answer():
...     return 42
>>> asyncio.run(within(ManualClock(), answer(), 1.0, "demo"))
42
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar, final

from .._clock import Clock
from ..errors import TimeoutExceededError

__all__ = ["Wakeup", "within"]

T = TypeVar("T")
_abandoned: set[asyncio.Task[Any]] = set()


def _settle(future: asyncio.Future[None], *_: object) -> None:
    if not future.done():
        future.set_result(None)


async def within(
    clock: Clock,
    awaitable: Awaitable[T],
    timeout: float,  # noqa: ASYNC109 - on the injectable clock
    label: str,
) -> T:
    """Return the result of ``awaitable``, or raise after ``timeout`` clock seconds.

    Raises:
        TimeoutExceededError: the time ran out (``policy`` is ``label``).
    """
    loop = asyncio.get_running_loop()
    # A coroutine becomes the task itself: cancelled before it starts, it is closed
    # cleanly (a wrapper would leave it never awaited).
    coroutine = awaitable if asyncio.iscoroutine(awaitable) else _as_coroutine(awaitable)
    task: asyncio.Task[T] = loop.create_task(coroutine)
    done: asyncio.Future[None] = loop.create_future()
    task.add_done_callback(lambda _: _settle(done))
    timer = clock.call_later(timeout, lambda: _settle(done))
    try:
        await done
    except asyncio.CancelledError:
        task.cancel()
        raise
    finally:
        timer.cancel()
    if not task.done():
        task.cancel()
        _abandoned.add(task)
        task.add_done_callback(_forget)
        raise TimeoutExceededError(label, timeout)
    return task.result()


def _forget(task: asyncio.Task[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled():
        task.exception()


async def _as_coroutine(awaitable: Awaitable[T]) -> T:
    return await awaitable


@final
class Wakeup:
    """A sleep on the clock that :meth:`kick` ends early (at most one sleeper)."""

    __slots__ = ("_future", "kicked")

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None
        self.kicked = False

    async def sleep(self, clock: Clock, seconds: float) -> bool:
        """Sleep ``seconds`` unless kicked; return whether a kick ended it (and clear it)."""
        if not self.kicked:
            future = asyncio.get_running_loop().create_future()
            self._future = future
            timer = clock.call_later(seconds, lambda: _settle(future))
            try:
                await future
            finally:
                timer.cancel()
                self._future = None
        kicked, self.kicked = self.kicked, False
        return kicked

    def kick(self) -> None:
        """End the current (or next) sleep now."""
        self.kicked = True
        if self._future is not None:
            _settle(self._future)
