"""Hand notifications to callbacks in order, outside the manager's lock.

Notifications are appended to an outbox under the manager's lock; whichever thread
finds the outbox non-empty and nobody draining it delivers the whole batch, then looks
again. So callbacks see notifications in the order they were made, one at a time, even
when many threads observe at once, and never while the manager's lock is held (a
callback may call back into the manager). A callback that returns an awaitable (an
``async def``) is scheduled as a task: on the running loop, or, from a thread without
one, on the loop the manager was bound to (:meth:`Dispatcher.bind_loop`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Awaitable, Callable
from inspect import isawaitable
from typing import Any, final

from ._model import Notification

__all__ = ["Callback", "Dispatcher"]

logger = logging.getLogger("rebellion.alerting")

Callback = Callable[[Notification], object]
"""A notification receiver; it may be ``async def`` (or return an awaitable)."""


@final
class Dispatcher:
    """The ordered outbox and the callbacks of one alert manager."""

    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock
        self.callbacks: tuple[Callback, ...] = ()
        self.outbox: list[Notification] = []
        self._draining = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: set[asyncio.Future[Any] | concurrent.futures.Future[Any]] = set()
        self._reported: set[int] = set()
        self.delivered = 0
        self.errors = 0

    def bind_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Run async callbacks from loop-less threads on ``loop``."""
        self._loop = loop

    def drain(self) -> None:
        """Deliver queued notifications unless another thread is already doing it."""
        while True:
            with self._lock:
                if self._draining or not self.outbox:
                    return
                self._draining = True
                batch, self.outbox = self.outbox, []
            try:
                for note in batch:
                    for callback in self.callbacks:
                        self._call(callback, note)
            finally:
                with self._lock:
                    self._draining = False

    def _call(self, callback: Callback, note: Notification) -> None:
        try:
            outcome = callback(note)
        except Exception:
            self._failed(callback)
            return
        self.delivered += 1
        if isawaitable(outcome):
            self._schedule(callback, outcome)

    def _schedule(self, callback: Callback, awaitable: Awaitable[object]) -> None:
        async def runner() -> None:
            try:
                await awaitable
            except Exception:
                self._failed(callback)

        future: asyncio.Future[Any] | concurrent.futures.Future[Any]
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:
            future = loop.create_task(runner())
        elif self._loop is not None and not self._loop.is_closed():
            future = asyncio.run_coroutine_threadsafe(runner(), self._loop)
        else:
            close = getattr(awaitable, "close", None)
            if close is not None:
                close()
            self._failed(callback, "returned an awaitable but no event loop can run it")
            return
        with self._lock:
            self._pending.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: asyncio.Future[Any] | concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _failed(self, callback: Callback, why: str = "raised") -> None:
        with self._lock:
            self.errors += 1
            first = id(callback) not in self._reported
            self._reported.add(id(callback))
        if first:
            logger.error(
                "alert callback %r %s; it is skipped (reported once)",
                callback,
                why,
                exc_info=why == "raised",
            )

    async def wait(self) -> None:
        """Wait until every scheduled async callback has finished."""
        while True:
            with self._lock:
                pending = list(self._pending)
            if not pending:
                return
            await asyncio.gather(*(asyncio.wrap_future(f) for f in pending), return_exceptions=True)
