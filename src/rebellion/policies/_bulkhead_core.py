"""The bulkhead's state: one slot count and one FIFO queue for threads and tasks alike.

A waiting thread blocks on its own lock; a waiting task awaits its own future. Both
sit in the same FIFO queue, and a released slot is *handed* to the head of the queue
(it never goes back to the pool while someone waits, so late arrivals cannot barge).
Whether a waiter got its slot is decided under the core lock (``granted``), never
read from the future's state: a task cancelled just after being granted still sees
``granted`` and gives the slot back, so no slot leaks.

The uncontended paths (a free slot, nobody queued; a release with nobody queued) are
call-free read-modify-writes (see :mod:`rebellion.policies._atomic`), so they take no
lock. Every other path takes the lock, and keeps each check-and-update of ``active``
call-free too, so the two never lose an update or overshoot the limit.

>>> from rebellion.testing import ManualClock
>>> core = BulkheadCore("db", 1, 0, None, ManualClock(), lambda event: None)
>>> core.acquire_sync()
>>> core.active, core.try_acquire()
(1, False)
>>> core.release()
>>> core.active
0
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from functools import partial
from typing import final

from .._clock import Clock, SystemClock, TimerHandle
from ..errors import BulkheadFullError
from ._atomic import GIL_ATOMIC
from .deadline import cap

__all__ = ["BulkheadCore", "Waiter"]

_EWMA = 0.2
"""Weight of the newest sampled call duration in the running mean."""


@final
class Waiter:
    """One queued caller: a blocked thread (``lock``) or a suspended task (``future``)."""

    __slots__ = ("future", "granted", "lock", "loop")

    def __init__(
        self,
        lock: threading.Lock | None,
        loop: asyncio.AbstractEventLoop | None,
        future: asyncio.Future[None] | None,
    ) -> None:
        self.lock = lock
        self.loop = loop
        self.future = future
        self.granted = False


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@final
class BulkheadCore:
    """Slots, queue, counters and the wait logic shared by the sync and async drivers."""

    __slots__ = (
        "active",
        "admitted",
        "cancelled",
        "clock",
        "fast",
        "limit",
        "lock",
        "max_queue",
        "max_wait",
        "mean_duration",
        "name",
        "on_reject",
        "rejected_full",
        "rejected_timeout",
        "waiters",
    )

    def __init__(
        self,
        name: str,
        max_concurrent: int,
        max_queue: int,
        max_wait: float | None,
        clock: Clock,
        on_reject: Callable[[str, float | None], None],
    ) -> None:
        self.name = name
        self.limit = max_concurrent
        self.max_queue = max_queue
        self.max_wait = max_wait
        self.clock = clock
        self.on_reject = on_reject
        self.fast = GIL_ATOMIC
        self.lock = threading.Lock()
        self.waiters: deque[Waiter] = deque()
        self.active = 0
        self.admitted = 0
        self.rejected_full = 0
        self.rejected_timeout = 0
        self.cancelled = 0
        self.mean_duration: float | None = None

    # -- estimates ---------------------------------------------------------------------

    def record(self, duration: float) -> None:
        """Fold a sampled call duration into the running mean (races only blur it)."""
        mean = self.mean_duration
        self.mean_duration = duration if mean is None else mean + _EWMA * (duration - mean)

    def retry_after(self) -> float | None:
        """Estimate when a slot frees up for a newcomer, from the mean call duration."""
        mean = self.mean_duration
        if mean is None:
            return None
        return mean * (len(self.waiters) // max(1, self.limit) + 1)

    # -- admission -----------------------------------------------------------------------

    def try_acquire(self) -> bool:
        """Take a free slot if nobody is queued; never wait."""
        with self.lock:
            if self.active < self.limit and not self.waiters:
                self.active += 1
                self.admitted += 1
                return True
        return False

    def _enqueue(self, waiter: Waiter) -> bool:
        """Queue ``waiter`` (lock held); return False (and count it) if it is refused."""
        if self.max_wait == 0 or len(self.waiters) >= self.max_queue:
            self.rejected_full += 1
            return False
        self.waiters.append(waiter)
        # A lock-free release may have freed a slot between our check and the append.
        self._drain()
        return True

    def _reject(self, reason: str) -> BulkheadFullError:
        retry_after = self.retry_after()
        self.on_reject(reason, retry_after)
        if reason == "queue_full":
            message = f"bulkhead {self.name!r} is full ({self.limit} running, queue full)"
        else:
            message = f"bulkhead {self.name!r}: no slot freed within {self.max_wait:g}s"
        return BulkheadFullError(self.name, message, retry_after)

    def acquire_sync(self) -> None:
        """Take a slot, waiting in the queue if allowed; raise :class:`BulkheadFullError`."""
        with self.lock:
            if self.active < self.limit and not self.waiters:
                self.active += 1
                self.admitted += 1
                return
            lock = threading.Lock()
            lock.acquire()
            waiter = Waiter(lock, None, None)
            if not self._enqueue(waiter):
                full = True
            elif waiter.granted:
                return
            else:
                full = False
        if full:
            raise self._reject("queue_full")
        max_wait = cap(self.max_wait)  # an enclosing timeout's deadline cuts the wait
        if max_wait is None:
            lock.acquire()
        elif max_wait <= 0:
            pass
        elif type(self.clock) is SystemClock:
            lock.acquire(timeout=max_wait)
        else:
            # A virtual clock: the deadline is a clock timer, fired when time is advanced.
            timer = self.clock.call_later(max_wait, partial(self._expire, waiter))
            lock.acquire()
            timer.cancel()
        with self.lock:
            if waiter.granted:
                return
            self._discard(waiter)
            self.rejected_timeout += 1
        raise self._reject("timeout")

    async def acquire_async(self) -> None:
        """Take a slot, waiting (cancellably) in the queue if allowed."""
        with self.lock:
            if self.active < self.limit and not self.waiters:
                self.active += 1
                self.admitted += 1
                return
            loop = asyncio.get_running_loop()
            waiter = Waiter(None, loop, loop.create_future())
            if not self._enqueue(waiter):
                full = True
            elif waiter.granted:
                return
            else:
                full = False
        if full:
            raise self._reject("queue_full")
        assert waiter.future is not None
        timer: TimerHandle | None = None
        max_wait = cap(self.max_wait)
        if max_wait is not None and max_wait <= 0:
            self._expire(waiter)
        elif max_wait is not None:
            timer = self.clock.call_later(max_wait, partial(self._expire, waiter))
        try:
            await waiter.future
        except BaseException:
            with self.lock:
                if waiter.granted:  # granted, then cancelled before it could run: pass it on
                    self.active -= 1
                    self._drain()
                else:
                    self._discard(waiter)
                self.admitted -= waiter.granted
                self.cancelled += 1
            raise
        finally:
            if timer is not None:
                timer.cancel()
        if not waiter.granted:
            with self.lock:
                self.rejected_timeout += 1
            raise self._reject("timeout")

    def _expire(self, waiter: Waiter) -> None:
        """Timer callback: end ``waiter``'s wait if it is still queued."""
        with self.lock:
            if waiter.granted or waiter not in self.waiters:
                return
            self.waiters.remove(waiter)
            self._wake(waiter)

    def _discard(self, waiter: Waiter) -> None:
        try:
            self.waiters.remove(waiter)
        except ValueError:
            pass  # already dropped by its timer

    # -- release -------------------------------------------------------------------------

    def release(self) -> None:
        """Give a slot back, handing it to the first queued caller if there is one."""
        if self.fast and not self.waiters:
            self.active -= 1
            return
        with self.lock:
            self.active -= 1
            self._drain()

    def _drain(self) -> None:
        """Hand free slots to queued callers in order (lock held)."""
        waiters = self.waiters
        while True:
            # Check and take the slot with no call in between (see _atomic).
            if not waiters or self.active >= self.limit:
                return
            self.active += 1
            self.admitted += 1
            waiter = waiters.popleft()
            waiter.granted = True
            if not self._wake(waiter):
                self.active -= 1  # its event loop is gone: the slot goes to the next one
                self.admitted -= 1

    @staticmethod
    def _wake(waiter: Waiter) -> bool:
        if waiter.lock is not None:
            waiter.lock.release()
            return True
        future, loop = waiter.future, waiter.loop
        assert future is not None
        assert loop is not None
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            _resolve(future)
            return True
        try:
            loop.call_soon_threadsafe(_resolve, future)
        except RuntimeError:
            return False
        return True

    def resize(self, max_concurrent: int, max_queue: int) -> None:
        """Change the limits; running calls are never interrupted, waiters never dropped."""
        with self.lock:
            self.limit = max_concurrent
            self.max_queue = max_queue
            self._drain()
