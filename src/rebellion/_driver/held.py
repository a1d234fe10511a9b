"""The template of policies that hold a slot while the call runs (the bulkhead).

The policy's state (:class:`Slots`) takes a slot, waiting if needed, and gives it back;
:class:`Held` derives from it the sync and async drivers, the decorators, the ``with`` /
``async with`` blocks and the manual ``acquire``/``release`` permits. The uncontended
path (a free slot, nobody queued) is written here once, call-free and lock-free.

>>> from rebellion.policies.bulkhead import Bulkhead
>>> bulkhead = Bulkhead("db", max_concurrent=1)
>>> with bulkhead:
...     bulkhead.try_acquire()
False
>>> bulkhead.call(lambda: "ran"), bulkhead.stats().in_flight
('ran', 0)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sized
from inspect import isawaitable
from types import CoroutineType, TracebackType
from typing import Any, Protocol, Self, TypeVar

from .._clock import Clock
from .._policy import Policy

__all__ = ["Held", "Slots"]

T = TypeVar("T")
_Coro = CoroutineType


class Slots(Protocol):
    """A slot-holding policy's state: a count under a limit, a queue, the waits.

    The uncontended paths read and write the counters directly (call-free, see
    :mod:`rebellion.policies._atomic`), so the template needs these fields by name.
    """

    fast: bool
    """Whether the call-free paths are safe (a GIL build)."""
    active: int
    limit: int
    admitted: int

    @property
    def waiters(self) -> Sized:
        """The queue of callers waiting for a slot."""

    def acquire_sync(self) -> None:
        """Take a slot, blocking the thread in the queue; or raise a ``RejectedError``."""

    async def acquire_async(self) -> None:
        """Take a slot, waiting cancellably in the queue; or raise a ``RejectedError``."""

    def try_acquire(self) -> bool:
        """Take a free slot if nobody waits; never wait."""

    def release(self) -> None:
        """Give a slot back (to the first waiter, if any)."""

    def record(self, duration: float) -> None:
        """Fold the duration of a call that ran while every slot was taken."""


class Held(Policy):
    """A policy whose drivers, decorators and blocks all hold a slot of its ``_slots``.

    A free slot with nobody queued is taken and given back without a call or a lock;
    a call that takes the last slot (or waited for one) is timed, so that refusals can
    estimate when a slot frees up.
    """

    _slots: Slots
    _clock: Clock

    # -- drivers -------------------------------------------------------------------------

    def _sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        return self._wrap_sync(fn)(*args, **kwargs)

    async def _async(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        slots = self._slots
        if slots.fast and slots.active < slots.limit and not slots.waiters:
            slots.active += 1
            slots.admitted += 1
        else:
            await slots.acquire_async()
        try:
            result = fn(*args, **kwargs)
            if type(result) is _Coro or isawaitable(result):
                result = await result
            return result
        finally:
            slots.release()

    def _wrap_sync(self, fn: Callable[..., T]) -> Callable[..., T]:
        slots = self._slots
        fast = slots.fast
        acquire, release, record = slots.acquire_sync, slots.release, slots.record
        monotonic = self._clock.monotonic

        def guarded(*args: Any, **kwargs: Any) -> T:
            # Call-free check-and-take (see _atomic); a full policy takes the lock.
            if fast and slots.active < slots.limit and not slots.waiters:
                slots.active += 1
                slots.admitted += 1
                started = monotonic() if slots.active >= slots.limit else None
            else:
                acquire()
                started = monotonic()
            try:
                return fn(*args, **kwargs)
            finally:
                if started is not None:
                    record(monotonic() - started)
                if fast and not slots.waiters:
                    slots.active -= 1
                else:
                    release()

        return guarded

    def _wrap_async(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        slots = self._slots
        fast = slots.fast
        acquire, release, record = slots.acquire_async, slots.release, slots.record
        monotonic = self._clock.monotonic

        async def guarded(*args: Any, **kwargs: Any) -> T:
            if fast and slots.active < slots.limit and not slots.waiters:
                slots.active += 1
                slots.admitted += 1
                # Durations are sampled only while full: they feed retry_after estimates.
                started = monotonic() if slots.active >= slots.limit else None
            else:
                await acquire()
                started = monotonic()
            try:
                return await fn(*args, **kwargs)
            finally:
                if started is not None:
                    record(monotonic() - started)
                if fast and not slots.waiters:
                    slots.active -= 1
                else:
                    release()

        return guarded

    # -- manual permits and guarded blocks -------------------------------------------------

    def try_acquire(self) -> bool:
        """Take a slot if one is free and nobody waits; pair with :meth:`release`."""
        return self._slots.try_acquire()

    def acquire(self) -> None:
        """Take a slot, waiting if allowed; pair with :meth:`release`.

        Raises:
            RejectedError: no slot (the policy's own subclass of it).
        """
        slots = self._slots
        if slots.fast and slots.active < slots.limit and not slots.waiters:
            slots.active += 1
            slots.admitted += 1
        else:
            slots.acquire_sync()

    async def acquire_async(self) -> None:
        """Take a slot from async code, waiting cancellably if allowed.

        Raises:
            RejectedError: no slot (the policy's own subclass of it).
        """
        slots = self._slots
        if slots.fast and slots.active < slots.limit and not slots.waiters:
            slots.active += 1
            slots.admitted += 1
        else:
            await slots.acquire_async()

    def release(self) -> None:
        """Give back a slot taken with an ``acquire`` method."""
        self._slots.release()

    # The blocks repeat the uncontended take: a call (or a coroutine) more costs a third.
    def __enter__(self) -> Self:
        slots = self._slots
        if slots.fast and slots.active < slots.limit and not slots.waiters:
            slots.active += 1
            slots.admitted += 1
        else:
            slots.acquire_sync()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._slots.release()

    async def __aenter__(self) -> Self:
        slots = self._slots
        if slots.fast and slots.active < slots.limit and not slots.waiters:
            slots.active += 1
            slots.admitted += 1
        else:
            await slots.acquire_async()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._slots.release()
