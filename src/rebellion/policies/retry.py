"""Retry with capped exponential backoff, jitter, a deadline, a budget and hooks.

>>> from rebellion.testing import FlakyCallable, ManualClock
>>> clock = ManualClock()
>>> retry = Retry(max_attempts=3, initial_delay=0.1, jitter="none", clock=clock)
>>> flaky = FlakyCallable([ConnectionError(), ConnectionError()], then="ok")
>>> retry.call(flaky)
'ok'
>>> clock.sleeps
[0.1, 0.2]
>>> retry.suspend()            # e.g. in an EMERGENCY operation mode: one attempt only
>>> retry.call(FlakyCallable([ConnectionError()], then="ok"))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
rebellion.errors.RetryExhaustedError: 'retry' gave up after 1 attempt(s): suspended exhausted
>>> retry.resume()

The first attempt is a bare ``try: fn(*args, **kwargs)``: no clock read, no allocation
(a budget adds one :meth:`RetryBudget.record_request`, a deadline one clock read). The
steps after a failure (``_retry_steps.py``) run only then; the decisions they act on
live in :class:`~rebellion.policies._retry_core.RetryCore`, shared by both.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Awaitable, Callable, Iterable
from datetime import timedelta
from inspect import isawaitable
from types import CoroutineType
from typing import Any, ClassVar, TypeVar, final

from .._clock import Clock
from .._events import EventStream, Listener
from .._policy import Policy
from .._registry import registry
from .._validate import check_clock, check_name
from ..errors import ConfigError
from ._backoff import Backoff
from ._retry_core import (
    Hook,
    RetryCore,
    RetryGaveUp,
    RetryScheduled,
    RetryState,
    RetrySucceeded,
)
from ._retry_steps import retry_async, retry_sync
from .budget import RetryBudget
from .classify import FailureClassifier
from .snapshots import RetrySnapshot

__all__ = [
    "Retry",
    "RetryGaveUp",
    "RetryScheduled",
    "RetryState",
    "RetrySucceeded",
    "get_retry_policy",
]

T = TypeVar("T")
_Coro = CoroutineType


@final
class Retry(Policy):
    """Run a callable again after retryable failures, with backoff between attempts.

    Every parameter left as ``None`` takes its ``REBELLION_RETRY_*`` environment default.

    Args:
        max_attempts: attempts in total, including the first (>= 1).
        initial_delay: seconds before the first retry (>= 0); durations may also be
            given as ``timedelta``.
        max_delay: cap on any backoff delay (>= ``initial_delay``); a retry-after hint
            larger than this stops retrying (reason ``"retry_after"``).
        backoff_factor: delay growth per retry (>= 1).
        jitter: ``"none" | "full" | "equal" | "decorrelated"``.
        deadline: seconds from the start of the first attempt; the policy never sleeps
            past it (reason ``"deadline"``). An enclosing :class:`Timeout`'s deadline
            is honoured the same way.
        retry_on: exception classes to retry (default ``Exception``; cancellation and
            interrupts are never retried).
        retry_if: predicate on the exception; it must also hold to retry.
        retry_if_result: predicate on a returned value; true means "retry".
        retry_rejected: retry when an inner policy refuses the call
            (:class:`~rebellion.errors.RejectedError`: breaker open, bulkhead full, rate
            limited...). Off by default: the rejection propagates at once, unchanged,
            instead of sleeping until its ``retry_after`` to be refused again.
        budget: a (shareable) :class:`RetryBudget`; when it is exhausted retrying stops
            (reason ``"budget"``).
        classifier: a :class:`FailureClassifier`; an exception is retried only if its
            classification is retryable (and a result if its result rule says so).
        before_sleep: hook called with a :class:`RetryState` before each backoff sleep.
        on_retry: hook called after that sleep, just before the next attempt.
        on_give_up: hook called before :class:`RetryExhaustedError` is raised.
        name: name for events, statistics and the registry.
        clock: time source (default: the system clock).
        seed: seed for the jitter's random generator (reproducible delays).
        rng: a :class:`random.Random` to draw jitter from (instead of ``seed``).
        listeners: event listeners (:class:`RetryScheduled`, :class:`RetrySucceeded`,
            :class:`RetryGaveUp`).

    Raises:
        ConfigError: a parameter is out of range or of the wrong kind; the message
            names it.

    ``retry_on``, ``retry_if`` and ``classifier`` must all agree for an exception to be
    retried. When retrying stops, :class:`~rebellion.errors.RetryExhaustedError` is
    raised from the last error (or with ``last_result`` when results were rejected); a
    non-retryable exception propagates unchanged. Hooks may be ``async def`` only when
    the guarded callable is async; an exception raised by a hook propagates.
    """

    kind: ClassVar[str] = "retry"

    def __init__(
        self,
        max_attempts: int | None = None,
        *,
        initial_delay: float | timedelta | None = None,
        max_delay: float | timedelta | None = None,
        backoff_factor: float | None = None,
        jitter: str | None = None,
        deadline: float | timedelta | None = None,
        retry_on: type[BaseException] | Iterable[type[BaseException]] | None = None,
        retry_if: Callable[[BaseException], bool] | None = None,
        retry_if_result: Callable[[Any], bool] | None = None,
        retry_rejected: bool = False,
        budget: RetryBudget | None = None,
        classifier: FailureClassifier | None = None,
        before_sleep: Hook | None = None,
        on_retry: Hook | None = None,
        on_give_up: Hook | None = None,
        name: str = "retry",
        clock: Clock | None = None,
        seed: int | None = None,
        rng: random.Random | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.name = check_name("name", name)
        self._clock = clock = check_clock(clock)
        self._events = EventStream(self.name, listeners)
        self._core = core = RetryCore(
            self.name,
            clock,
            self._events,
            max_attempts=max_attempts,
            initial_delay=initial_delay,
            max_delay=max_delay,
            backoff_factor=backoff_factor,
            jitter=jitter,
            deadline=deadline,
            retry_on=retry_on,
            retry_if=retry_if,
            retry_if_result=retry_if_result,
            budget=budget,
            classifier=classifier,
            before_sleep=before_sleep,
            on_retry=on_retry,
            on_give_up=on_give_up,
            seed=seed,
            rng=rng,
            retry_rejected=retry_rejected,
        )
        # Copied onto the policy: the entry points read them on every call.
        self._record_request = None if budget is None else budget.record_request
        self._deadline = core.deadline
        self._checks_results = core.checks_results
        self._tick = core.first_try_successes.increment
        registry.track(self)

    @property
    def max_attempts(self) -> int:
        """Attempts in total, including the first."""
        return self._core.max_attempts

    @property
    def backoff(self) -> Backoff:
        """The backoff schedule (initial and max delay, factor, jitter)."""
        return self._core.backoff

    @property
    def deadline(self) -> float | None:
        """Seconds from the first attempt after which no new attempt starts."""
        return self._core.deadline

    @property
    def suspended(self) -> bool:
        """Whether retrying is switched off (see :meth:`suspend`)."""
        return self._core.suspensions > 0

    def suspend(self) -> None:
        """Switch retrying off at run time: every call makes exactly one attempt.

        A retryable failure then ends the call with
        :class:`~rebellion.errors.RetryExhaustedError` (reason ``"suspended"``) raised from
        it, as a policy with ``max_attempts=1`` would; non-retryable errors propagate
        unchanged, and calls already between attempts stop at their next failure.
        Suspensions nest: each :meth:`suspend` needs one :meth:`resume`, so independent
        controllers (operation modes, operators) can hold one each. The success path does
        not read the switch: it costs nothing there.
        """
        self._core.suspend()

    def resume(self) -> None:
        """Release one :meth:`suspend`; retrying resumes when none is held."""
        self._core.resume()

    @property
    def budget(self) -> RetryBudget | None:
        """The retry budget this policy draws from, if any."""
        return self._core.budget

    # -- sync driver -------------------------------------------------------------------

    def _sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        if self._record_request is not None:
            self._record_request()
        started = None if self._deadline is None else self._clock.monotonic()
        try:
            result = fn(*args, **kwargs)
        except BaseException as exc:
            error = exc
        else:
            if self._checks_results:
                rejected, hint = self._core.judge_result(result)
                if rejected:
                    return retry_sync(self._core, fn, args, kwargs, None, result, hint, started)
            self._tick()
            return result
        return retry_sync(self._core, fn, args, kwargs, error, None, None, started)

    def _wrap_sync(self, fn: Callable[..., T]) -> Callable[..., T]:
        if self._core.async_hooks:
            hook = self._core.async_hooks[0]
            raise ConfigError(hook, "a plain function when the guarded function is sync", fn)
        tick = self._tick
        slow = functools.partial(retry_sync, self._core)
        if self._core.plain:

            def guarded(*args: Any, **kwargs: Any) -> T:
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    error = exc
                else:
                    tick()
                    return result
                return slow(fn, args, kwargs, error, None, None, None)

            return guarded

        # The same steps as _sync, bound once instead of looked up on every call.
        record = self._record_request
        monotonic = None if self._deadline is None else self._clock.monotonic
        judge = self._core.judge_result if self._checks_results else None

        def guarded_with_options(*args: Any, **kwargs: Any) -> T:
            if record is not None:
                record()
            started = None if monotonic is None else monotonic()
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                error = exc
            else:
                if judge is not None:
                    rejected, hint = judge(result)
                    if rejected:
                        return slow(fn, args, kwargs, None, result, hint, started)
                tick()
                return result
            return slow(fn, args, kwargs, error, None, None, started)

        return guarded_with_options

    # -- async driver ------------------------------------------------------------------

    async def _async(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if self._record_request is not None:
            self._record_request()
        started = None if self._deadline is None else self._clock.monotonic()
        try:
            result = fn(*args, **kwargs)
            if type(result) is _Coro or isawaitable(result):
                result = await result
        except BaseException as exc:
            error = exc
        else:
            if self._checks_results:
                rejected, hint = self._core.judge_result(result)
                if rejected:
                    return await retry_async(
                        self._core, fn, args, kwargs, None, result, hint, started
                    )
            self._tick()
            return result
        return await retry_async(self._core, fn, args, kwargs, error, None, None, started)

    def _wrap_async(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        if not self._core.plain:
            return super()._wrap_async(fn)
        tick = self._tick
        slow = functools.partial(retry_async, self._core)

        async def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                result: Any = fn(*args, **kwargs)
                if type(result) is _Coro or isawaitable(result):
                    result = await result
            except BaseException as exc:
                error = exc
            else:
                tick()
                return result
            return await slow(fn, args, kwargs, error, None, None, None)

        return guarded

    # -- observation -------------------------------------------------------------------

    def stats(self) -> RetrySnapshot:
        """Return a snapshot of counters (completed calls only) and settings.

        ``calls == successes + failures``; ``retries`` counts extra attempts;
        ``gave_up`` counts calls that ended in :class:`RetryExhaustedError`, by reason
        (``attempts``, ``deadline``, ``budget``, ``retry_after``, ``suspended``);
        ``suspended`` tells whether retrying is switched off; ``budget`` holds the
        budget's own snapshot when there is one.
        """
        return self._core.stats(self.kind)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add an event listener; returns a function that removes it."""
        return self._events.subscribe(listener)

    def __repr__(self) -> str:
        return (
            f"Retry(name={self.name!r}, max_attempts={self.max_attempts}, "
            f"backoff={self.backoff!r}, deadline={self.deadline!r})"
        )


def get_retry_policy(name: str, **settings: Any) -> Retry:
    """Return the retry policy registered as ``name``, creating it on first use.

    Args:
        name: the policy's name.
        **settings: :class:`Retry` parameters (used only when it is created).

    Returns:
        The one :class:`Retry` registered under ``name``.

    Raises:
        ConfigError: ``name`` exists with different settings, or a setting is invalid.
    """
    check_name("name", name)
    return registry.get_or_create("retry", name, lambda: Retry(name=name, **settings), settings)
