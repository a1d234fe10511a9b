"""The template of policies that pace calls: a turn before the call, nothing to give back.

A rate limiter (in-process, keyed, or shared through Redis) states one thing: how a
caller gets its turn (:meth:`Paced._turn_sync` / :meth:`Paced._turn_async` reserve it,
sleep until it comes, and refuse when it lies beyond the wait allowed). :class:`Paced`
makes the sync and async drivers, the decorators and the ``with`` / ``async with``
blocks from that. A policy with an in-process GCRA bucket names it as ``_pace``: the
not-limited path (one comparison and one store, see
:mod:`rebellion.policies.ratelimit._gcra`) is then written here once, call-free and
lock-free, for every such policy.

>>> from rebellion.policies.ratelimit import RateLimiter
>>> from rebellion.testing import ManualClock
>>> limiter = RateLimiter(rate=1, burst=1, max_wait=5, clock=(clock := ManualClock()))
>>> with limiter:
...     pass
>>> limiter.call(lambda: "ran"), clock.monotonic()     # waited one second for its turn
('ran', 1.0)
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Awaitable, Callable
from inspect import isawaitable
from types import CoroutineType, TracebackType
from typing import Any, Protocol, Self, TypeVar

from .._clock import Clock
from .._policy import Policy

__all__ = ["Bucket", "Paced"]

T = TypeVar("T")
_Coro = CoroutineType


class Bucket(Protocol):
    """An in-process GCRA bucket whose not-limited path the template inlines."""

    fast: bool
    """Whether the call-free path is safe (a GIL build, a bucket with no outer lock)."""
    tat: float
    admitted: int

    @property
    def interval(self) -> float:
        """Seconds per token."""

    @property
    def bound(self) -> float:
        """How far ahead of now ``tat`` may run (the burst tolerance plus float slack)."""


class Paced(Policy):
    """A policy whose drivers, decorators and blocks all wait for a turn first."""

    _pace: Bucket | None = None
    _clock: Clock

    @abstractmethod
    def _turn_sync(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """Block until the call with these arguments may run; or raise a ``RejectedError``."""

    @abstractmethod
    def _turn_async(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Awaitable[None]:
        """Return an awaitable that completes when the call may run (or raises)."""

    def _take_now(self) -> bool:
        """Take one token of ``_pace`` if it is there now (the call-free path)."""
        pace = self._pace
        if pace is None or not pace.fast:
            return False
        now = self._clock.monotonic()
        tat = pace.tat
        if tat < now:
            tat = now
        new = tat + pace.interval
        if new - now <= pace.bound:
            pace.tat = new
            pace.admitted += 1
            return True
        return False

    # -- drivers -------------------------------------------------------------------------

    def _sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        if not self._take_now():
            self._turn_sync(args, kwargs)
        return fn(*args, **kwargs)

    async def _async(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if not self._take_now():
            await self._turn_async(args, kwargs)
        result = fn(*args, **kwargs)
        if type(result) is _Coro or isawaitable(result):
            result = await result
        return result

    def _wrap_sync(self, fn: Callable[..., T]) -> Callable[..., T]:
        pace, turn = self._pace, self._turn_sync
        if pace is None or not pace.fast:

            def guarded(*args: Any, **kwargs: Any) -> T:
                turn(args, kwargs)
                return fn(*args, **kwargs)

            return guarded
        monotonic = self._clock.monotonic

        def paced(*args: Any, **kwargs: Any) -> T:
            # Call-free from the read of tat to its write (see _atomic).
            now = monotonic()
            tat = pace.tat
            if tat < now:
                tat = now
            new = tat + pace.interval
            if new - now <= pace.bound:
                pace.tat = new
                pace.admitted += 1
                return fn(*args, **kwargs)
            turn(args, kwargs)
            return fn(*args, **kwargs)

        return paced

    def _wrap_async(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        pace, turn = self._pace, self._turn_async
        if pace is None or not pace.fast:

            async def guarded(*args: Any, **kwargs: Any) -> T:
                await turn(args, kwargs)
                return await fn(*args, **kwargs)

            return guarded
        monotonic = self._clock.monotonic

        async def paced(*args: Any, **kwargs: Any) -> T:
            now = monotonic()
            tat = pace.tat
            if tat < now:
                tat = now
            new = tat + pace.interval
            if new - now <= pace.bound:
                pace.tat = new
                pace.admitted += 1
                return await fn(*args, **kwargs)
            await turn(args, kwargs)
            return await fn(*args, **kwargs)

        return paced

    # -- guarded blocks (the turn is asked with no arguments) ------------------------------

    def __enter__(self) -> Self:
        if not self._take_now():
            self._turn_sync((), {})
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    async def __aenter__(self) -> Self:
        if not self._take_now():
            await self._turn_async((), {})
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None
