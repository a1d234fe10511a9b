"""RequestQueue: the one durable request queue, over any :class:`.QueueStore`.

The queue validates and builds requests, counts, emits events, runs workers, retries
with backoff and dead-letters (see :class:`._worker.WorkerLoop`); the store only stores.
``PersistentRequestQueue`` and ``RedisRequestQueue`` are this class with a SQLite or a
Redis store built from their familiar arguments.

An enqueue that raised a :class:`~rebellion.errors.StorageError` may still have been
stored (a lost reply, not a lost write), so the queue keeps that attempt's id, weakly,
for the request object: enqueueing the same :class:`RetryableRequest` again reuses it,
and a store that knows the id stores it once.

>>> import asyncio, os, tempfile
>>> from rebellion.durable.queue import SqliteQueueStore
>>> async def main():
...     store = SqliteQueueStore(os.path.join(tempfile.mkdtemp(), "q.db"))
...     async with RequestQueue(store, max_size=10) as queue:
...         await queue.enqueue(RetryableRequest("json:dumps", args=[[1]]))
...         return queue.stats()["pending"]
>>> asyncio.run(main())
1
"""

from __future__ import annotations

import os
import warnings
import weakref
from collections.abc import Iterable
from typing import Any, Self

from ..._clock import Clock
from ..._events import EventStream, Listener
from ..._registry import registry
from ..._validate import MAX_INT, check_clock, check_int, check_number
from ...errors import ConfigError, QueueFullError, StorageError
from ...policies._backoff import Backoff
from ...policies._counter import AtomicCounter
from ._model import DeadLetter, Delivery
from ._request import RetryableRequest
from ._store import CREATED, FULL, NewRequest, QueueStore
from ._worker import WorkerLoop

__all__ = ["DEFAULT_RETRY_BACKOFF", "RequestQueue"]

DEFAULT_RETRY_BACKOFF = Backoff(initial_delay=1.0, max_delay=300.0, backoff_factor=2.0)
"""Retry delays when none is given: 1 s doubling up to 5 min, full jitter."""


def _abandon(store: QueueStore, label: str) -> None:
    """Release a queue that was garbage-collected unclosed, and say so."""
    if store.abandon():
        warnings.warn(f"unclosed {label}: call close()", ResourceWarning, stacklevel=2)


class RequestQueue(WorkerLoop):
    """A durable, prioritised, at-least-once request queue over a :class:`.QueueStore`.

    Args:
        store: where requests live (:class:`SqliteQueueStore`, :class:`RedisQueueStore`,
            or your own); the queue owns it and closes it.
        max_size: most requests waiting, delayed or leased; beyond it ``enqueue``
            raises :class:`~rebellion.errors.QueueFullError` (nothing is dropped silently).
        clock: time source for delays, leases and backoff (a ``ManualClock`` in tests).
        lease_timeout: seconds a worker holds a request before it is redelivered.
        retry_backoff: delays between attempts (default :data:`DEFAULT_RETRY_BACKOFF`).
        poll_interval: longest idle wait before looking for requests enqueued elsewhere
            (enqueues through this object wake its workers at once).
        idempotency_ttl: seconds an idempotency key is remembered (``inf``: forever).
        listeners: event listeners (``RequestCompleted``, ``RequestRetryScheduled``,
            ``RequestDeadLettered``, ``RequestQuarantined``).

    Raises:
        ConfigError: a parameter is invalid; the message names it.
    """

    def __init__(
        self,
        store: QueueStore,
        max_size: int = 1000,
        *,
        clock: Clock | None = None,
        lease_timeout: float = 30.0,
        retry_backoff: Backoff | None = None,
        poll_interval: float = 1.0,
        idempotency_ttl: float = 86_400.0,
        listeners: Iterable[Listener] = (),
    ) -> None:
        if not isinstance(store, QueueStore):
            raise ConfigError("store", "a QueueStore (SqliteQueueStore, RedisQueueStore)", store)
        try:
            self._setup(
                store, max_size, clock, lease_timeout, retry_backoff, poll_interval,
                idempotency_ttl, listeners,
            )  # fmt: skip
        except BaseException:
            store.close()  # the queue owns its store, even one it refused to run on
            raise

    def _setup(
        self,
        store: QueueStore,
        max_size: int,
        clock: Clock | None,
        lease_timeout: float,
        retry_backoff: Backoff | None,
        poll_interval: float,
        idempotency_ttl: float,
        listeners: Iterable[Listener],
    ) -> None:
        self.store = store
        self.name = store.name
        self.max_size = check_int("max_size", max_size, minimum=1, maximum=MAX_INT)
        self._clock = check_clock(clock)
        self._lease_timeout = check_number(
            "lease_timeout", lease_timeout, minimum=0.001, maximum=86_400.0 * 365
        )
        if retry_backoff is None:
            retry_backoff = DEFAULT_RETRY_BACKOFF
        elif not isinstance(retry_backoff, Backoff):
            raise ConfigError("retry_backoff", "a Backoff or None", retry_backoff)
        self._backoff = retry_backoff
        self._poll_interval = check_number(
            "poll_interval", poll_interval, minimum=0.0, exclusive_minimum=True
        )
        self._key_ttl = check_number(
            "idempotency_ttl", idempotency_ttl, minimum=0.0, allow_inf=True
        )
        self._max_priority = store.max_priority
        self._events = EventStream(self.name, listeners)
        self._init_worker()
        self._enqueued = AtomicCounter()
        self._duplicates = AtomicCounter()
        self._rejected = AtomicCounter()
        self._unsettled: weakref.WeakKeyDictionary[RetryableRequest, str] = (
            weakref.WeakKeyDictionary()
        )
        # Dropped without close(): release the store anyway (it must not refer back to
        # this object, or the queue would never be collected), and warn.
        self._finalizer = weakref.finalize(self, _abandon, store, repr(self))
        self._finalizer.atexit = False
        registry.track(self)

    # -- producing --------------------------------------------------------------------
    def _prepare(
        self, request: object, priority: object, delay: object, not_before: object
    ) -> NewRequest:
        if not isinstance(request, RetryableRequest):
            raise ConfigError("request", "a RetryableRequest", request)
        limit = self._max_priority
        if type(priority) is not int or not -limit <= priority <= limit:
            check_int("priority", priority, minimum=-limit, maximum=limit)
        now = self._clock.wall()
        if (type(delay) is float or type(delay) is int) and delay == 0:
            visible = now
        else:
            visible = now + check_number("delay", delay, minimum=0.0)
        if not_before is not None:
            visible = max(visible, check_number("not_before", not_before))
        # The id of an earlier attempt whose outcome is unknown, so it is stored once.
        request_id = (self._unsettled.get(request) if self._unsettled else None) or (
            os.urandom(16).hex()  # 128 random bits, without building a UUID object
        )
        return NewRequest(
            request_id,
            priority,  # type: ignore[arg-type]  # checked above
            request.operation,
            request.payload,
            request.max_retries,
            request.idempotency_key,
            now,
            visible,
        )

    def _outcome(self, request: RetryableRequest, reply: tuple[str, int]) -> str:
        if self._unsettled:
            self._unsettled.pop(request, None)
        request_id, outcome = reply
        if outcome == FULL:
            self._rejected.increment()
            raise QueueFullError(
                self.name, f"queue {self.name!r} holds max_size={self.max_size} requests"
            )
        return self._counted(request_id, outcome == CREATED)

    async def enqueue(
        self,
        request: RetryableRequest,
        priority: int = 0,
        *,
        delay: float = 0.0,
        not_before: float | None = None,
    ) -> str:
        """Store ``request`` durably; return once the store has it.

        Args:
            request: what to run.
            priority: higher runs first; FIFO among equal priorities.
            delay: seconds before the request may run.
            not_before: wall-clock time (``clock.wall()``) before which it may not run.

        Returns:
            The request id; for a known ``idempotency_key``, the first request's id.

        Raises:
            QueueFullError: ``max_size`` requests are already queued.
            StorageError: the store failed (damaged, full, unreachable); enqueueing the
                same request object again is safe (it is stored at most once).
            ConfigError: a bad argument (the message names it).
        """
        record = self._prepare(request, priority, delay, not_before)
        try:
            reply = await self.store.enqueue(record, self.max_size, self._key_ttl)
        except StorageError:
            self._unsettled[request] = record.id
            raise
        return self._outcome(request, reply)

    def enqueue_sync(
        self,
        request: RetryableRequest,
        priority: int = 0,
        *,
        delay: float = 0.0,
        not_before: float | None = None,
    ) -> str:
        """Blocking :meth:`enqueue` for threads without an event loop (same guarantees)."""
        record = self._prepare(request, priority, delay, not_before)
        try:
            reply = self.store.enqueue_sync(record, self.max_size, self._key_ttl)
        except StorageError:
            self._unsettled[request] = record.id
            raise
        return self._outcome(request, reply)

    # -- the durable steps workers use ------------------------------------------------
    async def _claim(
        self, lease: float
    ) -> tuple[list[Delivery], list[tuple[str, int, str]], float | None]:
        return await self.store.claim(self._clock.wall(), lease)

    async def _ack(self, delivery: Delivery) -> bool:
        return await self.store.ack(delivery)

    async def _fail(self, delivery: Delivery, delay: float | None, error: str) -> str:
        return await self.store.fail(delivery, self._clock.wall(), delay, error)

    async def _release(self, delivery: Delivery) -> bool:
        return await self.store.release(delivery, self._clock.wall())

    async def _extend(self, delivery: Delivery, until: float) -> bool:
        return await self.store.extend(delivery, until)

    # -- dead letters -----------------------------------------------------------------
    def dead_letters(self, limit: int = 1000) -> list[DeadLetter]:
        """Return up to ``limit`` dead-lettered requests, oldest failure first.

        A stored request that cannot be decoded is listed with ``damage`` set.
        """
        return self.store.dead_letters(check_int("limit", limit, minimum=1))

    async def replay_dead_letter(self, request_id: str) -> bool:
        """Put a dead-lettered request back in the queue with fresh attempts.

        Returns:
            ``False`` if no dead letter has that id.

        Raises:
            QueueFullError: the queue is full.
        """
        moved = await self.store.replay(request_id, self._clock.wall(), self.max_size)
        if moved < 0:
            raise QueueFullError(
                self.name, f"queue {self.name!r} holds max_size={self.max_size} requests"
            )
        return moved > 0

    async def replay_all(self) -> int:
        """Put every dead-lettered request back; return how many (stops when full)."""
        return max(0, await self.store.replay(None, self._clock.wall(), self.max_size))

    async def purge_dead_letters(self) -> int:
        """Delete every dead letter; return how many were deleted."""
        return await self.store.purge_dead_letters()

    # -- observing --------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Return a snapshot: queue contents, this process's counts, the store's figures."""
        return {
            "name": self.name,
            "kind": self.kind,
            "backend": self.store.backend,
            "max_size": self.max_size,
            **self.store.counts(self._clock.wall()),
            "enqueued": self._enqueued.value,
            "duplicates": self._duplicates.value,
            "rejected_full": self._rejected.value,
            **self._worker_stats(),
            **self.store.extra_stats(),
        }

    # -- lifetime ---------------------------------------------------------------------
    def close(self) -> None:
        """Finish queued writes and release the store (processing must be stopped)."""
        self._finalizer.detach()
        self.store.close()
        registry.retire(self)  # closed: off the dashboard's resilience view

    async def aclose(self) -> None:
        """Release the store from inside an event loop."""
        self._finalizer.detach()
        await self.store.aclose()
        registry.retire(self)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        await self.aclose()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.store!r}, max_size={self.max_size})"
