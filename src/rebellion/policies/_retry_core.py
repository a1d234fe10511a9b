"""The decisions and bookkeeping behind :class:`~rebellion.policies.retry.Retry`.

Nothing here sleeps or calls the guarded function: :class:`RetryCore` judges outcomes,
schedules the next delay, counts and emits events; the sync and async drivers in
``retry.py`` only act on its answers.

>>> from rebellion.testing import ManualClock
>>> from rebellion._events import EventStream
>>> core = RetryCore("demo", ManualClock(), EventStream("demo"), max_attempts=2,
...                  initial_delay=0.5, jitter="none")
>>> state, reason, _ = core.after_failure(1, ConnectionError(), None, None, 0.0, None)
>>> (state.delay, reason)
(0.5, None)
>>> core.after_failure(2, ConnectionError(), None, None, 0.5, 0.5)[1]
'attempts'
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar, TypeVar, final

from .._clock import Clock
from .._events import Event, EventStream
from .._policy import is_async_callable
from .._units import as_seconds
from .._validate import check_duration, check_exception_types, check_int
from ..config import setting
from ..errors import ConfigError, RejectedError, RetryExhaustedError
from ._backoff import Backoff
from ._counter import AtomicCounter
from .budget import RetryBudget
from .classify import FailureClassifier, retry_after_hint
from .deadline import remaining as remaining_time
from .snapshots import RetrySnapshot

__all__ = [
    "Hook",
    "RetryCore",
    "RetryGaveUp",
    "RetryScheduled",
    "RetryState",
    "RetrySucceeded",
    "check_callable",
]

T = TypeVar("T")
Hook = Callable[["RetryState"], object]
"""A hook receives a :class:`RetryState`; in async code it may return an awaitable."""

ACCEPTED: tuple[bool, float | None] = (False, None)
_HOOKS = ("before_sleep", "on_retry", "on_give_up")


@final
@dataclass(frozen=True, slots=True)
class RetryState:
    """What a hook sees: the attempt that just failed and what happens next.

    Attributes:
        attempt: number of the attempt that failed (1 for the first).
        delay: seconds the policy sleeps before the next attempt (0 when giving up).
        error: the exception of that attempt, or ``None`` if its result was rejected.
        result: the rejected result, or ``None``.
        elapsed: seconds since the first attempt started when a ``deadline`` is set,
            else since it failed (the success path never reads the clock).
    """

    attempt: int
    delay: float
    error: BaseException | None
    result: object
    elapsed: float


@final
@dataclass(frozen=True, slots=True)
class RetryScheduled(Event):
    """Attempt ``attempt`` failed; the next one starts after ``delay`` seconds."""

    policy_kind: ClassVar[str] = "retry"

    attempt: int
    delay: float
    error_type: str | None


@final
@dataclass(frozen=True, slots=True)
class RetrySucceeded(Event):
    """A call succeeded after ``attempts`` attempts (only emitted when ``attempts > 1``)."""

    policy_kind: ClassVar[str] = "retry"

    attempts: int
    elapsed: float


@final
@dataclass(frozen=True, slots=True)
class RetryGaveUp(Event):
    """Retrying stopped after ``attempts`` attempts because of ``reason``."""

    policy_kind: ClassVar[str] = "retry"

    attempts: int
    reason: str
    error_type: str | None
    elapsed: float


@final
class RetryCore:
    """Validated settings, decisions and counters of one retry policy (see ``Retry``)."""

    def __init__(
        self,
        name: str,
        clock: Clock,
        events: EventStream,
        *,
        max_attempts: int | None = None,
        initial_delay: float | timedelta | None = None,
        max_delay: float | timedelta | None = None,
        backoff_factor: float | None = None,
        jitter: str | None = None,
        deadline: float | timedelta | None = None,
        retry_on: type[BaseException] | Iterable[type[BaseException]] | None = None,
        retry_if: Callable[[BaseException], bool] | None = None,
        retry_if_result: Callable[[Any], bool] | None = None,
        budget: RetryBudget | None = None,
        classifier: FailureClassifier | None = None,
        before_sleep: Hook | None = None,
        on_retry: Hook | None = None,
        on_give_up: Hook | None = None,
        seed: int | None = None,
        rng: random.Random | None = None,
        retry_rejected: bool = False,
    ) -> None:
        self.name = name
        self.clock = clock
        self.events = events
        self.max_attempts = check_int(
            "max_attempts", _default(max_attempts, "max_attempts"), minimum=1
        )
        self.backoff = Backoff(
            initial_delay=as_seconds(_default(initial_delay, "initial_delay")),
            max_delay=as_seconds(_default(max_delay, "max_delay")),
            backoff_factor=_default(backoff_factor, "backoff_factor"),
            jitter=_default(jitter, "jitter"),
        )
        self.deadline = None
        deadline = as_seconds(deadline)
        if deadline is not None:
            self.deadline = check_duration("deadline", deadline, exclusive_minimum=True)
        self.retry_on = _check_retry_on(Exception if retry_on is None else retry_on)
        if not isinstance(retry_rejected, bool):
            raise ConfigError("retry_rejected", "True or False", retry_rejected)
        self.retry_rejected = retry_rejected
        self.retry_if = check_callable("retry_if", retry_if)
        self.retry_if_result = check_callable("retry_if_result", retry_if_result)
        if budget is not None and not isinstance(budget, RetryBudget):
            raise ConfigError("budget", "a RetryBudget or None", budget)
        self.budget = budget
        if classifier is not None and not isinstance(classifier, FailureClassifier):
            raise ConfigError("classifier", "a FailureClassifier or None", classifier)
        self.classifier = classifier
        self.before_sleep = check_callable("before_sleep", before_sleep)
        self.on_retry = check_callable("on_retry", on_retry)
        self.on_give_up = check_callable("on_give_up", on_give_up)
        hooks = (self.before_sleep, self.on_retry, self.on_give_up)
        self.async_hooks = [n for n, h in zip(_HOOKS, hooks, strict=True) if is_async_callable(h)]
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigError("seed", "an integer or None", seed)
        if rng is not None and not isinstance(rng, random.Random):
            raise ConfigError("rng", "a random.Random or None", rng)
        if rng is not None and seed is not None:
            raise ConfigError("seed", "None when rng is given (seed the rng instead)", seed)
        self.rng = rng if rng is not None else random.Random(seed)

        self.checks_results = retry_if_result is not None or (
            classifier is not None and classifier.has_result_rule
        )
        # Without budget, deadline or result checks the drivers use the tightest path.
        self.plain = budget is None and self.deadline is None and not self.checks_results
        self.first_try_successes = AtomicCounter()
        # > 0 while suspended: read only after a failure, so success paths never pay.
        self.suspensions = 0
        self._lock = threading.Lock()
        self._later_successes = 0
        self._failures = 0
        self._retries = 0
        self._gave_up: dict[str, int] = {}

    # -- decisions ---------------------------------------------------------------------

    def judge_error(self, error: BaseException) -> tuple[bool, float | None]:
        """Return ``(retryable, retry-after hint)`` for an exception."""
        if not isinstance(error, self.retry_on):
            return ACCEPTED  # includes cancellation: retry_on only holds Exception types
        if isinstance(error, RejectedError) and not self.retry_rejected:
            return ACCEPTED  # an inner policy refused: fail fast with its own error
        if self.retry_if is not None and not self.retry_if(error):
            return ACCEPTED
        if self.classifier is not None:
            classification = self.classifier.classify(error)
            return classification.retryable, classification.retry_after
        return True, retry_after_hint(error)

    def judge_result(self, result: object) -> tuple[bool, float | None]:
        """Return ``(retry, retry-after hint)`` for a returned value."""
        if self.retry_if_result is not None and self.retry_if_result(result):
            return True, None
        if self.classifier is not None and self.classifier.has_result_rule:
            classification = self.classifier.classify_result(result)
            if classification is not None and classification.retryable:
                return True, classification.retry_after
        return ACCEPTED

    def schedule(
        self, attempt: int, hint: float | None, elapsed: float, previous: float | None
    ) -> tuple[str | None, float, float | None]:
        """Return ``(stop reason or None, delay, backoff delay)`` after a failed attempt."""
        if attempt >= self.max_attempts:
            return "attempts", 0.0, previous
        if self.suspensions:
            return "suspended", 0.0, previous
        backoff = self.backoff.delay(attempt, previous, self.rng)
        delay = backoff
        if hint is not None:
            if hint > self.backoff.max_delay:
                return "retry_after", 0.0, backoff
            delay = max(delay, hint)
        if self.deadline is not None and elapsed + delay >= self.deadline:
            return "deadline", 0.0, backoff
        left = remaining_time()
        if left is not None and delay >= left:
            return "deadline", 0.0, backoff  # an enclosing timeout expires first
        # Last: a withdrawal is only made for a retry that will really happen.
        if self.budget is not None and not self.budget.try_withdraw():
            return "budget", 0.0, backoff
        return None, delay, backoff

    def after_failure(
        self,
        attempt: int,
        error: BaseException | None,
        result: object,
        hint: float | None,
        elapsed: float,
        previous: float | None,
    ) -> tuple[RetryState, str | None, float | None]:
        """Decide what follows a failed attempt: re-raise ``error``, stop, or retry.

        Returns:
            The hooks' state, the stop reason (``None`` to retry) and the backoff delay
            to pass back as ``previous`` next time.

        Raises:
            BaseException: ``error`` itself, unchanged, when it is not retryable.
        """
        if error is not None:
            retryable, hint = self.judge_error(error)
            if not retryable:
                raise error
        reason, delay, previous = self.schedule(attempt, hint, elapsed, previous)
        state = RetryState(attempt, delay, error, result, elapsed)
        if reason is None:
            with self._lock:
                self._retries += 1
            if self.events:
                self.events.emit(
                    RetryScheduled(self.name, self.clock.wall(), attempt, delay, _type(error))
                )
        return state, reason, previous

    def suspend(self) -> None:
        """Add one suspension: while any is held, a failed attempt is the last."""
        with self._lock:
            self.suspensions += 1

    def resume(self) -> None:
        """Release one suspension (no error if none is held)."""
        with self._lock:
            if self.suspensions:
                self.suspensions -= 1

    # -- outcomes ----------------------------------------------------------------------

    def give_up(self, state: RetryState, reason: str) -> RetryExhaustedError:
        """Count and announce giving up; return the error for the driver to raise."""
        with self._lock:
            self._gave_up[reason] = self._gave_up.get(reason, 0) + 1
        if self.events:
            self.events.emit(
                RetryGaveUp(
                    self.name,
                    self.clock.wall(),
                    state.attempt,
                    reason,
                    _type(state.error),
                    state.elapsed,
                )
            )
        return RetryExhaustedError(self.name, state.attempt, reason, state.result)

    def succeeded(self, attempts: int, started: float) -> None:
        """Announce a success on attempt ``attempts`` (> 1)."""
        if self.events:
            elapsed = self.clock.monotonic() - started
            self.events.emit(RetrySucceeded(self.name, self.clock.wall(), attempts, elapsed))

    def count(self, succeeded: bool) -> None:
        """Count a call that went through the retry loop, once it is over."""
        with self._lock:
            if succeeded:
                self._later_successes += 1
            else:
                self._failures += 1

    def stats(self, kind: str) -> RetrySnapshot:
        """Return a snapshot of the counters (completed calls only) and settings."""
        first = self.first_try_successes.value
        with self._lock:
            successes = first + self._later_successes
            failures, retries = self._failures, self._retries
            gave_up = dict(sorted(self._gave_up.items()))
            suspended = self.suspensions > 0
        backoff = self.backoff
        return RetrySnapshot(
            kind=kind,
            name=self.name,
            calls=successes + failures,
            successes=successes,
            failures=failures,
            retries=retries,
            gave_up=gave_up,
            suspended=suspended,
            max_attempts=self.max_attempts,
            initial_delay=backoff.initial_delay,
            max_delay=backoff.max_delay,
            backoff_factor=backoff.backoff_factor,
            jitter=backoff.jitter,
            deadline=self.deadline,
            budget=None if self.budget is None else self.budget.stats(),
        )


def _type(error: BaseException | None) -> str | None:
    return None if error is None else type(error).__name__


def _default(value: Any, key: str) -> Any:
    return setting("retry." + key) if value is None else value


def _check_retry_on(value: object) -> tuple[type[BaseException], ...]:
    types = check_exception_types("retry_on", value)
    for kind in types:
        if not issubclass(kind, Exception):
            # CancelledError, KeyboardInterrupt and SystemExit must always get through.
            raise ConfigError("retry_on", "Exception subclasses (never cancellation)", kind)
    return types


def check_callable(parameter: str, value: T | None) -> T | None:
    """Return ``value`` if it is ``None`` or callable, else raise naming ``parameter``."""
    if value is not None and not callable(value):
        raise ConfigError(parameter, "a callable or None", value)
    return value
