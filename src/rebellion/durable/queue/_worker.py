"""The worker side shared by every backend: claim, run the handler, ack or retry.

A backend supplies five durable steps (claim, ack, fail, release, extend); this module
turns them into ``process_queue(concurrency=N)``, ``process_available()``, a graceful
``stop()`` and the manual ``claim``/``ack``/``nack`` for custom workers. Handlers run
with their delivery in a context variable (:func:`._delivery.current_delivery`).

>>> WorkerLoop.kind
'durable_queue'
"""

from __future__ import annotations

import asyncio
import inspect
import random
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from ..._clock import Clock
from ..._events import EventStream
from ...policies._backoff import Backoff
from ...policies._counter import AtomicCounter
from ._delivery import CURRENT, DeliveryContext, describe
from ._model import (
    QUARANTINED,
    Delivery,
    RequestCompleted,
    RequestDeadLettered,
    RequestQuarantined,
    RequestRetryScheduled,
)
from ._request import resolve_path

__all__ = ["WorkerLoop"]


class WorkerLoop(ABC):
    """Processing logic over a backend's durable steps (subclassed by each queue)."""

    kind = "durable_queue"
    name: str
    _clock: Clock
    _backoff: Backoff
    _lease_timeout: float
    _poll_interval: float
    _events: EventStream
    _enqueued: AtomicCounter
    _duplicates: AtomicCounter

    def _counted(self, request_id: str, created: bool) -> str:
        """Count a stored enqueue (new, or an idempotent duplicate) and wake workers."""
        if created:
            self._enqueued.increment()
            self._notify()
        else:
            self._duplicates.increment()
        return request_id

    def _init_worker(self) -> None:
        self._handlers: dict[str, Callable[..., Any]] = {}
        self._paths: dict[str, Callable[..., Any]] = {}
        self._rng = random.Random()
        self._processing = False
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._idle_workers = 0
        self._done_waiters: list[asyncio.Future[None]] = []
        self._gather: asyncio.Future[list[None]] | None = None
        self._processed = AtomicCounter()
        self._failed = AtomicCounter()
        self._retried = AtomicCounter()
        self._dead_lettered = AtomicCounter()
        self._lost = AtomicCounter()
        self._store_errors = AtomicCounter()
        self._quarantined = AtomicCounter()

    # -- the backend's durable steps --------------------------------------------------
    @abstractmethod
    async def _claim(
        self, lease: float
    ) -> tuple[list[Delivery], list[tuple[str, int, str]], float | None]:
        """Lease one due request.

        Returns:
            ``(deliveries, dead-lettered on the way, when the next request is due)``;
            the last is only computed when nothing was delivered (``None``: empty).
        """

    @abstractmethod
    async def _ack(self, delivery: Delivery) -> bool: ...

    @abstractmethod
    async def _fail(self, delivery: Delivery, delay: float | None, error: str) -> str: ...

    @abstractmethod
    async def _release(self, delivery: Delivery) -> bool: ...

    @abstractmethod
    async def _extend(self, delivery: Delivery, until: float) -> bool: ...

    # -- handlers ---------------------------------------------------------------------
    def register_handler(self, name: str, fn: Callable[..., Any]) -> None:
        """Run ``fn`` (sync or async) for requests whose ``operation_func`` is ``name``.

        Raises:
            ConfigError: ``name`` is empty or contains ``":"`` (reserved for import
                paths), or ``fn`` is not callable.
        """
        from ..._validate import check_callable, check_name
        from ...errors import ConfigError

        check_name("name", name)
        if ":" in name:
            raise ConfigError("name", "a handler name without ':' (used by import paths)", name)
        check_callable("fn", fn)
        self._handlers[name] = fn

    def _resolve(self, operation: str) -> Callable[..., Any]:
        fn = self._handlers.get(operation) or self._paths.get(operation)
        if fn is not None:
            return fn
        if ":" not in operation:
            raise LookupError(f"no handler registered as {operation!r}")
        fn = resolve_path(operation)
        self._paths[operation] = fn
        return fn

    # -- leases -----------------------------------------------------------------------
    async def extend_lease(self, delivery: Delivery, seconds: float) -> bool:
        """Keep ``delivery``'s lease for ``seconds`` more from now.

        Returns:
            ``False`` if the lease had already expired and the request moved on.
        """
        from ..._validate import check_number

        seconds = check_number("seconds", seconds, minimum=0.0, exclusive_minimum=True)
        return await self._extend(delivery, self._clock.wall() + seconds)

    # -- manual workers ---------------------------------------------------------------
    async def claim(self, lease: float | None = None) -> Delivery | None:
        """Lease the next due request yourself (custom workers); ``None`` if none is due.

        Finish it with :meth:`ack` or :meth:`nack`, or :meth:`extend_lease` it.
        """
        from ..._validate import check_number

        seconds = self._lease_timeout
        if lease is not None:
            seconds = check_number("lease", lease, minimum=0.001, maximum=86_400.0 * 365)
        deliveries, dead, _ = await self._claim(seconds)
        self._count_dead(dead)
        return deliveries[0] if deliveries else None

    async def ack(self, delivery: Delivery) -> bool:
        """Mark a claimed delivery done; ``False`` if its lease had expired meanwhile."""
        done = await self._ack(delivery)
        (self._processed if done else self._lost).increment()
        return done

    async def nack(self, delivery: Delivery, error: BaseException | str) -> None:
        """Record a failed attempt of a claimed delivery (retry with backoff, or dead)."""
        failure = error if isinstance(error, Exception) else RuntimeError(str(error))
        await self._on_failure(delivery, failure)

    # -- running ----------------------------------------------------------------------
    async def process_queue(self, concurrency: int = 1) -> None:
        """Run ``concurrency`` workers until :meth:`stop`; at-least-once delivery.

        Calling it while it already runs in this queue returns at once, so the seed's
        habit of starting it after every enqueue is harmless.

        Raises:
            ConfigError: ``concurrency`` is not an integer in [1, 10000].
        """
        from ..._validate import check_int

        check_int("concurrency", concurrency, minimum=1, maximum=10_000)
        if self._processing:
            return
        self._processing = True
        self._stopping = False
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._gather = asyncio.gather(*(self._work() for _ in range(concurrency)))
        try:
            await self._gather
        except asyncio.CancelledError:
            if not self._stopping:
                raise  # our caller was cancelled, not stop(timeout=...)
        finally:
            self._gather = None
            self._processing = False
            self._wake = None
            waiters, self._done_waiters = self._done_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)

    async def stop(self, grace: float | None = None) -> None:
        """Stop processing: in-flight handlers finish and are acked, no new work starts.

        A request leased but not started yet is released at once (visible again, and
        that delivery does not count as an attempt). Returns once every worker is done.

        Args:
            grace: real seconds to wait for in-flight handlers (``None``: as long as
                they take); after it they are cancelled and their requests come back
                when their leases expire.
        """
        self._stopping = True
        if not self._processing:
            return
        if self._wake is not None:
            self._wake.set()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._done_waiters.append(waiter)
        if grace is None:
            await waiter
            return
        try:
            await asyncio.wait_for(asyncio.shield(waiter), grace)
        except TimeoutError:
            if self._gather is not None:
                self._gather.cancel()
            await waiter

    async def process_available(self, limit: int | None = None) -> int:
        """Process due requests one at a time until none is due (or ``limit`` ran).

        Returns:
            How many deliveries ran (completed or failed).
        """
        ran = 0
        while limit is None or ran < limit:
            deliveries, dead, _ = await self._claim(self._lease_timeout)
            self._count_dead(dead)
            if not deliveries:
                if dead:
                    continue
                return ran
            await self._run(deliveries[0])
            ran += 1
        return ran

    async def _work(self) -> None:
        while not self._stopping:
            try:
                deliveries, dead, due = await self._claim(self._lease_timeout)
            except Exception:
                # The store is unreachable or failing: keep the worker alive and retry
                # after an idle wait; nothing is lost (the request stays in the store).
                self._store_errors.increment()
                await self._idle(None)
                continue
            self._count_dead(dead)
            if not deliveries:
                if not dead:
                    await self._idle(due)
                continue
            try:
                if self._stop_requested():
                    await self._release(deliveries[0])
                    return
                await self._run(deliveries[0])
            except Exception:
                # Ack/retry bookkeeping failed: the lease will expire and the request is
                # delivered again (at-least-once).
                self._store_errors.increment()

    async def _idle(self, due: float | None) -> None:
        wake = self._wake
        assert wake is not None
        if wake.is_set():
            wake.clear()
            return
        timeout = self._poll_interval
        if due is not None:
            timeout = min(timeout, max(0.0, due - self._clock.wall()))
            if timeout <= 0.0:
                return
        if self._stop_requested():
            return
        sleeper = asyncio.ensure_future(self._clock.sleep_async(timeout))
        waiter = asyncio.ensure_future(wake.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waiter.cancel()
        if wake.is_set():
            wake.clear()

    def _stop_requested(self) -> bool:
        # A method, not the attribute: stop() flips it while we await.
        return self._stopping

    def _notify(self) -> None:
        """Wake idle workers after an enqueue (from any thread)."""
        wake, loop = self._wake, self._loop
        if wake is None or loop is None:
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            wake.set()
        else:
            try:
                loop.call_soon_threadsafe(wake.set)
            except RuntimeError:
                pass  # the processing loop has closed

    async def _run(self, delivery: Delivery) -> None:
        try:
            fn = self._resolve(delivery.operation)
            token = CURRENT.set(DeliveryContext(self, delivery))
            try:
                if inspect.iscoroutinefunction(fn):
                    result = await fn(*delivery.args, **delivery.kwargs)
                else:
                    # Sync handlers (blocking I/O, usually) run off the event loop.
                    result = await asyncio.to_thread(fn, *delivery.args, **delivery.kwargs)
                    if inspect.isawaitable(result):
                        result = await result
            finally:
                CURRENT.reset(token)
        except Exception as error:
            await self._on_failure(delivery, error)
            return
        if await self._ack(delivery):
            self._processed.increment()
            if self._events:
                self._events.emit(
                    RequestCompleted(self.name, self._clock.wall(), delivery.id, delivery.attempt)
                )
        else:
            self._lost.increment()

    async def _on_failure(self, delivery: Delivery, error: Exception) -> None:
        self._failed.increment()
        text = describe(error)
        attempt = delivery.attempt
        delay = None
        if attempt <= delivery.max_retries:
            delay = self._backoff.delay(attempt, None, self._rng)
        outcome = await self._fail(delivery, delay, text)
        if outcome == "retry":
            self._retried.increment()
            if self._events:
                self._events.emit(
                    RequestRetryScheduled(
                        self.name, self._clock.wall(), delivery.id, attempt, delay or 0.0, text
                    )
                )
        elif outcome == "dead":
            self._count_dead([(delivery.id, attempt, text)])
        else:
            self._lost.increment()

    def _count_dead(self, dead: list[tuple[str, int, str]]) -> None:
        for rid, attempt, reason in dead:
            self._dead_lettered.increment()
            event = RequestDeadLettered
            if reason.startswith(QUARANTINED):
                self._quarantined.increment()
                event = RequestQuarantined
            if self._events:
                self._events.emit(event(self.name, self._clock.wall(), rid, attempt, reason))

    def _worker_stats(self) -> dict[str, Any]:
        return {
            "processed": self._processed.value,
            "failed": self._failed.value,
            "retried": self._retried.value,
            "dead_lettered": self._dead_lettered.value,
            "lost_leases": self._lost.value,
            "store_errors": self._store_errors.value,
            "quarantined": self._quarantined.value,
            "processing": self._processing,
        }
