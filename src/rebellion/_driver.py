"""The one template that turns a policy's gate into every calling convention.

Two shapes of policy share it. :class:`Gated` is for policies that judge a call (the
breaker): admit, then record how it ended. :class:`Held` is for policies that hold a
slot while the call runs (the bulkhead): take a slot, waiting if needed, give it back.

A *gate* states a policy's decisions once, as three primitives (Resilience4j's
acquire permission / record success / record error, httpx's sans-I/O core):

* ``enter()`` returns a *token* for one call, or raises a
  :class:`~rebellion.errors.RejectedError`;
* ``exit_ok(token, result)`` records a call that returned;
* ``exit_error(token, error)`` records a call that raised.

:class:`Gated` derives from them the sync and async drivers, the ``@policy``
decorators, ``call``/``execute`` and ``with``/``async with`` blocks. The fast path lives
here too, once for every gate: while a gate's ``free_token`` is not ``None`` a call needs
no ``enter()`` at all, and a success costs one ``count_free()`` (a C-level counter).

>>> from rebellion.errors import RejectedError
>>> class Once:
...     free_token = None
...     def __init__(self): self.used, self.log = False, []
...     def enter(self):
...         if self.used:
...             raise RejectedError("once", "already used")
...         self.used = True
...         return "token"
...     def exit_ok(self, token, result): self.log.append(("ok", result))
...     def exit_error(self, token, error): self.log.append(("error", type(error).__name__))
...     def count_free(self): pass
>>> class OnlyOnce(Gated):
...     def __init__(self): self.name, self._gate = "once", Once()
...     def stats(self): return {}
>>> policy = OnlyOnce()
>>> policy.call(lambda: 42), policy._gate.log
(42, [('ok', 42)])
>>> policy.call(lambda: 43)
Traceback (most recent call last):
...
rebellion.errors.RejectedError: already used
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Sized
from inspect import isawaitable
from types import CoroutineType, TracebackType
from typing import Any, Protocol, Self, TypeVar

from ._clock import Clock
from ._policy import Policy

__all__ = ["Gate", "Gated", "Held", "Slots"]

T = TypeVar("T")
_Coro = CoroutineType

# Tokens of the ``with policy:`` blocks open in this thread or task, innermost last.
_blocks: contextvars.ContextVar[tuple[object, ...]] = contextvars.ContextVar(
    "rebellion_gate_blocks", default=()
)


class Gate(Protocol):
    """A policy's decisions: admit a call, then record how it ended."""

    @property
    def free_token(self) -> object | None:
        """A token to use without calling :meth:`enter`, or ``None`` (read on every call)."""

    def enter(self) -> object:
        """Admit one call: return its token, or raise a ``RejectedError``."""

    def exit_ok(self, token: Any, result: object) -> None:
        """Record that the call admitted with ``token`` returned ``result``."""

    def exit_error(self, token: Any, error: BaseException) -> None:
        """Record that the call admitted with ``token`` raised ``error``."""

    def count_free(self) -> object:
        """Record a success of a call that ran on ``free_token``."""


class Gated(Policy):
    """A policy whose drivers, decorators and blocks all come from its ``_gate``."""

    _gate: Gate

    # -- drivers -------------------------------------------------------------------------

    def _sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        gate = self._gate
        token = gate.free_token
        if token is not None:
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:
                gate.exit_error(token, error)
                raise
            gate.count_free()
            return result
        token = gate.enter()
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:
            gate.exit_error(token, error)
            raise
        gate.exit_ok(token, result)
        return result

    async def _async(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        gate = self._gate
        token = gate.free_token
        if token is None:
            token = gate.enter()
        try:
            result = fn(*args, **kwargs)
            if type(result) is _Coro or isawaitable(result):
                result = await result
        except BaseException as error:
            gate.exit_error(token, error)
            raise
        gate.exit_ok(token, result)
        return result

    def _wrap_sync(self, fn: Callable[..., T]) -> Callable[..., T]:
        gate = self._gate
        enter, exit_ok, exit_error = gate.enter, gate.exit_ok, gate.exit_error

        def guarded(*args: Any, **kwargs: Any) -> T:
            token = gate.free_token
            if token is not None:
                try:
                    result = fn(*args, **kwargs)
                except BaseException as error:
                    exit_error(token, error)
                    raise
                gate.count_free()  # read per call: a gate may swap it as its state moves
                return result
            token = enter()
            try:
                result = fn(*args, **kwargs)
            except BaseException as error:
                exit_error(token, error)
                raise
            exit_ok(token, result)
            return result

        return guarded

    def _wrap_async(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        gate = self._gate
        enter, exit_ok, exit_error = gate.enter, gate.exit_ok, gate.exit_error

        async def guarded(*args: Any, **kwargs: Any) -> T:
            token = gate.free_token
            if token is not None:
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as error:
                    exit_error(token, error)
                    raise
                gate.count_free()  # read per call: a gate may swap it as its state moves
                return result
            token = enter()
            try:
                result = await fn(*args, **kwargs)
            except BaseException as error:
                exit_error(token, error)
                raise
            exit_ok(token, result)
            return result

        return guarded

    # -- guarded blocks ------------------------------------------------------------------

    def __enter__(self) -> Self:
        token = self._gate.enter()
        _blocks.set((*_blocks.get(), token))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        blocks = _blocks.get()
        token = blocks[-1]
        _blocks.set(blocks[:-1])
        if exc is None:
            self._gate.exit_ok(token, None)
        else:
            self._gate.exit_error(token, exc)

    async def __aenter__(self) -> Self:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, traceback)


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

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._slots.release()

    async def __aenter__(self) -> Self:
        await self.acquire_async()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._slots.release()
