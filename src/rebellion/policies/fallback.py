"""Answer from an alternative when the primary call fails.

The fallback function receives the same arguments as the primary:

>>> class ServiceUnavailable(Exception): ...
>>> def cached_price(item, **kwargs):
...     return 9.99
>>> price_with_fallback = Fallback(cached_price, should_fallback_on=[ServiceUnavailable])
>>> @price_with_fallback
... def live_price(item, **kwargs):
...     raise ServiceUnavailable(item)
>>> live_price("book", currency="EUR")
9.99
>>> Fallback.value([])(lambda: 1 / 0)()
[]

An async primary may have a sync or an async fallback; a sync primary needs a sync one.
Cancellation and interrupts never trigger the fallback. An error raised by the fallback
itself propagates, with the primary's error as its ``__context__``.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from inspect import isawaitable
from types import CoroutineType
from typing import Any, ClassVar, TypeVar, final

from .._clock import Clock
from .._events import Event, EventStream, Listener
from .._policy import Policy, is_async_callable
from .._registry import registry
from .._validate import check_clock, check_exception_types, check_name
from ..errors import ConfigError
from ._counter import AtomicCounter
from .classify import FailureClassifier, FailureKind
from .snapshots import FallbackSnapshot

__all__ = ["FALLBACK_KINDS", "Fallback", "FallbackUsed"]

T = TypeVar("T")
_Coro = CoroutineType

FALLBACK_KINDS = frozenset(FailureKind) - {FailureKind.CANCELLED, FailureKind.PERMANENT}
"""Kinds that trigger the fallback when a classifier is given: a programming error
(``PERMANENT``) is not masked, and cancellation always propagates."""


@final
@dataclass(frozen=True, slots=True)
class FallbackUsed(Event):
    """The fallback answered: after ``error_type``, or a rejected result if ``None``."""

    policy_kind: ClassVar[str] = "fallback"

    error_type: str | None


@final
class Fallback(Policy):
    """Call ``fallback_function(*args, **kwargs)`` when the primary call fails.

    Args:
        fallback_function: the alternative; gets the primary's arguments.
        should_fallback_on: exception classes that trigger it (default ``[Exception]``).
        fallback_if_result: predicate on the primary's result; true means "fall back".
        classifier: a :class:`FailureClassifier`; an exception then also needs a kind in
            :data:`FALLBACK_KINDS`, and a result its result rule to flag a failure.
        name: name for events, statistics and the registry.
        clock: time source for event timestamps.
        listeners: event listeners (:class:`FallbackUsed`).

    Raises:
        ConfigError: a parameter is of the wrong kind; also when an ``async def``
            fallback decorates a sync function.
    """

    kind: ClassVar[str] = "fallback"

    def __init__(
        self,
        fallback_function: Callable[..., Any],
        should_fallback_on: type[BaseException] | Iterable[type[BaseException]] | None = None,
        fallback_if_result: Callable[[Any], bool] | None = None,
        classifier: FailureClassifier | None = None,
        *,
        name: str = "fallback",
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        if not callable(fallback_function):
            raise ConfigError("fallback_function", "a callable", fallback_function)
        self.fallback_function = fallback_function
        self._fallback_is_async = is_async_callable(fallback_function)
        on = check_exception_types(
            "should_fallback_on", [Exception] if should_fallback_on is None else should_fallback_on
        )
        for kind in on:
            if not issubclass(kind, Exception):
                raise ConfigError("should_fallback_on", "Exception subclasses", kind)
        self.should_fallback_on = on
        if fallback_if_result is not None and not callable(fallback_if_result):
            raise ConfigError("fallback_if_result", "a callable or None", fallback_if_result)
        self._if_result = fallback_if_result
        if classifier is not None and not isinstance(classifier, FailureClassifier):
            raise ConfigError("classifier", "a FailureClassifier or None", classifier)
        self._classifier = classifier
        self._checks_results = fallback_if_result is not None or (
            classifier is not None and classifier.has_result_rule
        )
        self.name = check_name("name", name)
        self._clock = clock = check_clock(clock)
        self._events = EventStream(self.name, listeners)
        self._primary_successes = AtomicCounter()
        self._lock = threading.Lock()
        self._failures = 0  # the primary failed and the fallback was not used
        self._by_error: dict[str, int] = {}
        self._on_result = 0
        registry.track(self)

    @classmethod
    def value(
        cls,
        value: object,
        /,
        should_fallback_on: type[BaseException] | Iterable[type[BaseException]] | None = None,
        fallback_if_result: Callable[[Any], bool] | None = None,
        classifier: FailureClassifier | None = None,
        *,
        name: str = "fallback",
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> Fallback:
        """Return a fallback that answers the constant ``value``."""

        def constant(*args: object, **kwargs: object) -> object:
            return value

        return cls(
            constant,
            should_fallback_on,
            fallback_if_result,
            classifier,
            name=name,
            clock=clock,
            listeners=listeners,
        )

    # -- decisions ---------------------------------------------------------------------

    def _should_fall_back(self, error: BaseException) -> bool:
        if not isinstance(error, self.should_fallback_on):
            return False
        if self._classifier is not None:
            return self._classifier.classify(error).kind in FALLBACK_KINDS
        return True

    def _rejects(self, result: object) -> bool:
        if self._if_result is not None and self._if_result(result):
            return True
        if self._classifier is not None:
            return self._classifier.classify_result(result) is not None
        return False

    def _used(self, error: BaseException | None) -> None:
        with self._lock:
            if error is None:
                self._on_result += 1
            else:
                key = type(error).__name__
                self._by_error[key] = self._by_error.get(key, 0) + 1
        if self._events:
            error_type = None if error is None else type(error).__name__
            self._events.emit(FallbackUsed(self.name, self._clock.wall(), error_type))

    def _not_used(self) -> None:
        with self._lock:
            self._failures += 1

    # -- drivers -----------------------------------------------------------------------

    def _check_sync_fallback(self, fn: object) -> None:
        if self._fallback_is_async:
            raise ConfigError(
                "fallback_function", "a plain function when the guarded function is sync", fn
            )

    def _fallback_sync(self, error: BaseException | None, args: Any, kwargs: Any) -> Any:
        self._used(error)
        result = self.fallback_function(*args, **kwargs)
        if isawaitable(result):
            close = getattr(result, "close", None)
            if close is not None:
                close()
            raise TypeError(
                f"fallback_function of {self.name!r} returned an awaitable for a sync call; "
                "use a plain function, or guard an async function"
            )
        return result

    def _sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        self._check_sync_fallback(fn)
        try:
            result = fn(*args, **kwargs)
        except Exception as error:
            if not self._should_fall_back(error):
                self._not_used()
                raise
            return self._fallback_sync(error, args, kwargs)  # type: ignore[no-any-return]
        except BaseException:
            self._not_used()
            raise
        if self._checks_results and self._rejects(result):
            return self._fallback_sync(None, args, kwargs)  # type: ignore[no-any-return]
        self._primary_successes.increment()
        return result

    def _wrap_sync(self, fn: Callable[..., T]) -> Callable[..., T]:
        self._check_sync_fallback(fn)
        should = self._should_fall_back
        fallback = self._fallback_sync
        rejects = self._rejects if self._checks_results else None
        tick = self._primary_successes.increment
        not_used = self._not_used

        def guarded(*args: Any, **kwargs: Any) -> T:
            try:
                result = fn(*args, **kwargs)
            except Exception as error:
                if not should(error):
                    not_used()
                    raise
                return fallback(error, args, kwargs)  # type: ignore[no-any-return]
            except BaseException:
                not_used()
                raise
            if rejects is not None and rejects(result):
                return fallback(None, args, kwargs)  # type: ignore[no-any-return]
            tick()
            return result

        return guarded

    async def _fallback_async(self, error: BaseException | None, args: Any, kwargs: Any) -> Any:
        self._used(error)
        result = self.fallback_function(*args, **kwargs)
        if type(result) is _Coro or isawaitable(result):
            result = await result
        return result

    async def _async(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        try:
            result = fn(*args, **kwargs)
            if type(result) is _Coro or isawaitable(result):
                result = await result
        except Exception as error:
            if not self._should_fall_back(error):
                self._not_used()
                raise
            return await self._fallback_async(error, args, kwargs)
        except BaseException:
            self._not_used()
            raise
        if self._checks_results and self._rejects(result):
            return await self._fallback_async(None, args, kwargs)
        self._primary_successes.increment()
        return result

    def _wrap_async(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        should = self._should_fall_back
        fallback = self._fallback_async
        rejects = self._rejects if self._checks_results else None
        tick = self._primary_successes.increment
        not_used = self._not_used

        async def guarded(*args: Any, **kwargs: Any) -> T:
            try:
                result: Any = fn(*args, **kwargs)
                if type(result) is _Coro or isawaitable(result):
                    result = await result
            except Exception as error:
                if not should(error):
                    not_used()
                    raise
                return await fallback(error, args, kwargs)  # type: ignore[no-any-return]
            except BaseException:
                not_used()
                raise
            if rejects is not None and rejects(result):
                return await fallback(None, args, kwargs)  # type: ignore[no-any-return]
            tick()
            return result  # type: ignore[no-any-return]

        return guarded

    # -- observation -------------------------------------------------------------------

    def stats(self) -> FallbackSnapshot:
        """Return a snapshot of counters (completed calls only).

        ``calls == successes + fallbacks + failures``: ``successes`` answered by the
        primary, ``fallbacks`` by the fallback function (``by_error`` per exception
        type, ``on_result`` after a rejected result), ``failures`` propagated an error
        the fallback does not handle.
        """
        successes = self._primary_successes.value
        with self._lock:
            by_error = dict(sorted(self._by_error.items()))
            on_result, failures = self._on_result, self._failures
            fallbacks = sum(by_error.values()) + on_result
        return FallbackSnapshot(
            kind=self.kind,
            name=self.name,
            calls=successes + fallbacks + failures,
            successes=successes,
            fallbacks=fallbacks,
            failures=failures,
            by_error=by_error,
            on_result=on_result,
        )

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add an event listener; returns a function that removes it."""
        return self._events.subscribe(listener)

    def __repr__(self) -> str:
        kinds = ", ".join(k.__name__ for k in self.should_fallback_on)
        return f"Fallback({self.fallback_function!r}, should_fallback_on=[{kinds}])"
