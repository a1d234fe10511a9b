"""The template of policies that judge a call: admit it, then record how it ended.

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
from collections.abc import Awaitable, Callable
from inspect import isawaitable
from types import CoroutineType, TracebackType
from typing import Any, Protocol, Self, TypeVar

from .._policy import Policy

__all__ = ["Gate", "Gated"]

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
