"""Wait for "space" or "data" from tasks on any loop, woken from any thread.

A :class:`Waiters` queue holds one future per suspended task. Wake-ups may come from
another thread (a producer thread feeding a consumer task), so they always go through
``loop.call_soon_threadsafe``. Timeouts use the injectable clock, so virtual time in
tests drives them like real time does in production.

>>> import asyncio
>>> from rebellion.testing import ManualClock
>>> async def demo():
...     waiters = Waiters(ManualClock(auto_advance=False))
...     waiter = asyncio.ensure_future(waiters.wait(None))
...     await asyncio.sleep(0)
...     waiters.wake(1)
...     return await waiter
>>> asyncio.run(demo())
True
"""

from __future__ import annotations

import asyncio
from collections import deque
from typing import final

from .._clock import Clock, TimerHandle

__all__ = ["Waiters"]


def _settle(future: asyncio.Future[bool], value: bool) -> None:
    if not future.done():
        future.set_result(value)


@final
class Waiters:
    """A FIFO of suspended tasks; :meth:`wake` resumes the oldest ``n`` of them."""

    __slots__ = ("_clock", "_queue")

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._queue: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[bool]]] = deque()

    def __len__(self) -> int:
        return len(self._queue)

    def __bool__(self) -> bool:
        return bool(self._queue)

    def wake(self, n: int) -> None:
        """Resume up to ``n`` waiters (oldest first); safe from any thread."""
        queue = self._queue
        while n > 0 and queue:
            try:
                loop, future = queue.popleft()
            except IndexError:  # another thread emptied it between the check and the pop
                return
            if future.done() or loop.is_closed():
                continue
            loop.call_soon_threadsafe(_settle, future, True)
            n -= 1

    def wake_all(self) -> None:
        """Resume every waiter."""
        self.wake(len(self._queue) + 1)

    async def wait(self, timeout: float | None) -> bool:  # noqa: ASYNC109 - clock-driven
        """Suspend until woken (True) or until ``timeout`` seconds pass (False).

        Callers re-check their condition after waking: a wake-up is a hint, not a grant.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bool] = loop.create_future()
        entry = (loop, future)
        self._queue.append(entry)
        timer: TimerHandle | None = None
        if timeout is not None:
            timer = self._clock.call_later(
                timeout, lambda: loop.call_soon_threadsafe(_settle, future, False)
            )
        try:
            return await future
        except asyncio.CancelledError:
            # A wake-up that raced with the cancellation must not be lost: pass it on.
            if future.done() and not future.cancelled() and future.result():
                self.wake(1)
            raise
        finally:
            if timer is not None:
                timer.cancel()
            try:
                self._queue.remove(entry)
            except ValueError:
                pass
