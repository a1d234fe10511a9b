"""An asyncio event loop that runs on a :class:`~rebellion.testing.ManualClock`.

Everything that waits in the simulated world waits on the manual clock (the policies'
``clock.call_later`` and ``clock.sleep_async``) or on the loop's own timers, which read
the same clock. When no task can run, the loop's selector jumps virtual time to the
next due timer instead of sleeping, so an hour of simulated waiting costs nothing.
``run_in_executor`` (and so ``asyncio.to_thread``) runs the function inline: the
simulation has no threads, and the ready queue is FIFO, so one seed always gives one
interleaving.

>>> from rebellion.testing import ManualClock
>>> clock = ManualClock(auto_advance=False)
>>> async def nap():
...     await clock.sleep_async(3600)
...     return clock.monotonic()
>>> run(nap(), clock)
3600.0
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine
from concurrent.futures import Executor
from typing import Any, TypeVar, final

from ..testing import ManualClock

__all__ = ["Stalled", "VirtualLoop", "run"]

T = TypeVar("T")


class Stalled(RuntimeError):
    """Every task waits and nothing is scheduled: the simulated world is deadlocked."""


@final
class _VirtualSelector(selectors.DefaultSelector):
    """Poll real descriptors without blocking; when idle, jump virtual time instead."""

    def __init__(self, clock: ManualClock, horizon: float) -> None:
        super().__init__()
        self._clock = clock
        self._horizon = horizon

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events: list[tuple[selectors.SelectorKey, int]] = super().select(0)
        if events or (timeout is not None and timeout <= 0):
            return events
        clock = self._clock
        now = clock.monotonic()
        due = clock.next_due()
        if timeout is not None:
            due = now + timeout if due is None else min(due, now + timeout)
        if due is None or due > self._horizon:
            raise Stalled(f"every task waits and nothing is due before t={self._horizon:g}")
        clock.advance(max(0.0, due - now))
        return events


@final
class VirtualLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose time is ``clock`` and whose executor is inline.

    Args:
        clock: the manual clock (``auto_advance=False``) everything waits on.
        horizon: virtual time past which a wait means deadlock (raises :class:`Stalled`).
    """

    def __init__(self, clock: ManualClock, *, horizon: float = 1e7) -> None:
        super().__init__(_VirtualSelector(clock, horizon))
        self._clock = clock

    def time(self) -> float:
        return self._clock.monotonic()

    def run_in_executor(  # type: ignore[override]
        self, executor: Executor | None, func: Callable[..., T], *args: Any
    ) -> asyncio.Future[T]:
        future: asyncio.Future[T] = self.create_future()
        try:
            future.set_result(func(*args))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as error:
            future.set_exception(error)
        return future


def run(main: Coroutine[Any, Any, T], clock: ManualClock, *, horizon: float = 1e7) -> T:
    """Run ``main`` to completion on a fresh :class:`VirtualLoop`, then close the loop.

    Raises:
        Stalled: every task waits and nothing is scheduled before ``horizon``.
    """
    loop = VirtualLoop(clock, horizon=horizon)
    try:
        return loop.run_until_complete(main)
    finally:
        try:
            _cancel_all(loop)
        finally:
            loop.close()


def _cancel_all(loop: VirtualLoop) -> None:
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        try:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        except Stalled:
            pass
