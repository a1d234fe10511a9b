"""ErrorRecovery: map errors to strategies, run them, keep history and statistics.

>>> from rebellion.testing import FlakyCallable, ManualClock
>>> recovery = ErrorRecovery(clock=ManualClock())
>>> flaky = FlakyCallable([ConnectionError("again")], then="ok")
>>> try:
...     flaky()
... except ConnectionError as error:
...     recovery.handle_error_sync(error=error, component="db", operation="query",
...                                original_function=flaky)
'ok'
>>> recovery.get_error_statistics()["by_operation"]
{'db.query': 1}

Which strategies run, first match wins: the ``strategies`` of a decorator or of
:meth:`ErrorRecovery.configure` (exact); a rule added with
:meth:`ErrorRecovery.add_rule` for the error's class, then for its
:class:`~rebellion.policies.classify.FailureKind`; else the default for its kind
(retryable kinds → ``retry, fallback, notify``; ``CLIENT_ERROR`` → ``fallback, notify``;
``PERMANENT`` → ``notify``). ``CRITICAL`` severity puts ``circuit_break`` in front of
all but the exact lists. Strategies that do not apply (no fallback configured, no
function to retry, circuit open) are skipped; the first one returning a result wins.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, final

from ..._clock import Clock
from ..._events import EventStream, Listener
from ..._registry import registry
from ..._validate import check_callable, check_clock, check_int, check_name
from ...errors import ConfigError
from ..circuit_breaker import CircuitBreaker
from ..classify import FailureClassifier, FailureKind, default_classifier
from ..retry import Retry
from ._core import (
    BUILTIN_STRATEGIES,
    NOT_RECOVERED,
    OPEN_STATES,
    SKIPPED,
    RecoveryCore,
    Strategy,
    backoff_of,
    default_setting,
)
from ._history import ErrorHistory
from ._model import ErrorRecord, ErrorSeverity, RecoveryConfig, check_strategies
from ._run import Misuse

__all__ = ["ErrorRecovery"]


@final
class ErrorRecovery(RecoveryCore):
    """Recover from errors by strategy, per component and operation, and remember them.

    Args:
        clock: time source for backoff sleeps, breakers and records (tests: ManualClock).
        history_size: records kept for listings (counts are lifetime and exact).
        max_retries: re-invocations the ``retry`` strategy makes by default (>= 0).
        initial_delay: seconds before the first retry (default ``REBELLION_RETRY_*``).
        max_delay: cap on a retry delay; a larger retry-after hint stops retrying.
        backoff_factor: delay growth per retry (>= 1).
        jitter: ``"none" | "full" | "equal" | "decorrelated"``.
        classifier: decides each error's kind (default: the built-in classifier).
        breaker_threshold: unrecovered errors in a row that open a component's circuit.
        breaker_reset_timeout: seconds an open component circuit waits before probing.
        name: name for events, statistics and the registry census.
        seed: seed for retry jitter (reproducible delays).
        listeners: receive :class:`ErrorHandled` and :class:`RecoveryFailed` events.

    Raises:
        ConfigError: a parameter is out of range or of the wrong kind; the message
            names it.
    """

    kind: ClassVar[str] = "error_recovery"

    def __init__(
        self,
        clock: Clock | None = None,
        history_size: int = 1000,
        *,
        max_retries: int = 3,
        initial_delay: float | None = None,
        max_delay: float | None = None,
        backoff_factor: float | None = None,
        jitter: str | None = None,
        classifier: FailureClassifier | None = None,
        breaker_threshold: int | None = None,
        breaker_reset_timeout: float | None = None,
        name: str = "error_recovery",
        seed: int | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.name = check_name("name", name)
        self._clock = clock = check_clock(clock)
        self._history = ErrorHistory(check_int("history_size", history_size, minimum=1))
        defaults = RecoveryConfig(
            max_retries=check_int("max_retries", max_retries, minimum=0),
            initial_delay=default_setting(initial_delay, "retry.initial_delay"),
            max_delay=default_setting(max_delay, "retry.max_delay"),
            backoff_factor=default_setting(backoff_factor, "retry.backoff_factor"),
            jitter=default_setting(jitter, "retry.jitter"),
        )
        backoff_of(defaults)
        self._defaults = defaults
        if classifier is not None and not isinstance(classifier, FailureClassifier):
            raise ConfigError("classifier", "a FailureClassifier or None", classifier)
        self._classifier = classifier or default_classifier
        self._breaker_threshold = check_int(
            "breaker_threshold",
            default_setting(breaker_threshold, "circuit_breaker.failure_threshold"),
            minimum=1,
        )
        reset_timeout = default_setting(breaker_reset_timeout, "circuit_breaker.reset_timeout")
        if isinstance(reset_timeout, bool) or not isinstance(reset_timeout, int | float):
            raise ConfigError("breaker_reset_timeout", "a number > 0", reset_timeout)
        if not reset_timeout > 0 or reset_timeout == float("inf"):
            raise ConfigError("breaker_reset_timeout", "a finite number > 0", reset_timeout)
        self._breaker_reset_timeout = float(reset_timeout)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigError("seed", "an integer or None", seed)
        self._rng = random.Random(seed)
        self._events = EventStream(self.name, listeners)
        self._configs: dict[tuple[str, str | None], RecoveryConfig] = {}
        self._type_rules: tuple[tuple[type[BaseException], tuple[str, ...]], ...] = ()
        self._kind_rules: dict[FailureKind, tuple[str, ...]] = {}
        self._custom: dict[str, Strategy] = {}
        self._callbacks: tuple[Callable[[ErrorRecord], object], ...] = ()
        self._retries: dict[tuple[Any, ...], Retry] = {}
        registry.track(self)

    # -- configuration -----------------------------------------------------------------

    def register_strategy(self, name: str, fn: Strategy) -> None:
        """Register (or replace) the strategy ``name``.

        Args:
            name: the new strategy's name (not a built-in one).
            fn: called with a :class:`RecoveryContext`; returns the recovered result
                (or an awaitable of it) or raises to decline.

        Raises:
            ConfigError: ``name`` is empty or built-in, or ``fn`` is not callable.
        """
        check_name("name", name)
        if name in BUILTIN_STRATEGIES:
            raise ConfigError("name", "not a built-in strategy name", name)
        check_callable("fn", fn, "a callable taking a RecoveryContext")
        self._custom = {**self._custom, name: fn}

    def add_notification_callback(self, fn: Callable[[ErrorRecord], object]) -> Callable[[], None]:
        """Call ``fn(record)`` (sync or async) whenever the ``notify`` strategy runs.

        Returns:
            A function that removes the callback again.

        Raises:
            ConfigError: ``fn`` is not callable.
        """
        check_callable("fn", fn, "a callable taking an ErrorRecord")
        self._callbacks = (*self._callbacks, fn)
        return lambda: self.remove_notification_callback(fn)

    def remove_notification_callback(self, fn: Callable[[ErrorRecord], object]) -> None:
        """Remove a notification callback (no error if absent)."""
        self._callbacks = tuple(cb for cb in self._callbacks if cb is not fn)

    def add_rule(self, match: type[BaseException] | FailureKind, strategies: Iterable[str]) -> None:
        """Use ``strategies`` for errors of class ``match`` (or of that failure kind).

        Class rules are tried in the order added (re-adding a class replaces its rule),
        before kind rules and the defaults.

        Raises:
            ConfigError: ``match`` is neither an exception class nor a FailureKind, or a
                strategy name is unknown.
        """
        plan = check_strategies("strategies", strategies, self.strategies)
        if isinstance(match, FailureKind):
            self._kind_rules = {**self._kind_rules, match: plan}
        elif isinstance(match, type) and issubclass(match, BaseException):
            rules = tuple(rule for rule in self._type_rules if rule[0] is not match)
            self._type_rules = (*rules, (match, plan))
        else:
            raise ConfigError("match", "an exception class or a FailureKind", match)

    def configure(
        self,
        component: str,
        operation: str | None = None,
        *,
        strategies: Iterable[str] | None = None,
        max_retries: int | None = None,
        fallback: Callable[..., Any] | None = None,
        reset: Callable[[], Any] | None = None,
        initial_delay: float | None = None,
        max_delay: float | None = None,
        backoff_factor: float | None = None,
        jitter: str | None = None,
    ) -> None:
        """Override how errors of ``component`` (or one of its operations) are handled.

        Fields left as ``None`` keep their previous override, then inherit from the
        component, then from this instance's defaults.

        Args:
            component: the component.
            operation: one operation of it, or ``None`` for all of them.
            strategies: the exact strategies to apply, in order.
            max_retries: re-invocations by ``retry`` (>= 0; 0 disables it).
            fallback: called with the original arguments by ``fallback``.
            reset: zero-argument hook (sync or async) run by ``reset`` before it
                calls the original function once more.
            initial_delay: seconds before the first retry.
            max_delay: cap on a retry delay.
            backoff_factor: delay growth per retry.
            jitter: the retry jitter.

        Raises:
            ConfigError: a parameter is invalid; the message names it.
        """
        check_name("component", component)
        if operation is not None:
            check_name("operation", operation)
        if fallback is not None:
            check_callable("fallback", fallback, "a callable or None")
        if reset is not None:
            check_callable("reset", reset, "a zero-argument callable or None")
        update = RecoveryConfig(
            strategies=None
            if strategies is None
            else check_strategies("strategies", strategies, self.strategies),
            max_retries=None
            if max_retries is None
            else check_int("max_retries", max_retries, minimum=0),
            fallback=fallback,
            reset=reset,
            initial_delay=initial_delay,
            max_delay=max_delay,
            backoff_factor=backoff_factor,
            jitter=jitter,
        )
        key = (component, operation)
        merged = self._configs.get(key, RecoveryConfig()).merged(update)
        # Validate the schedule it would produce now, not at the first failure.
        backoff_of(self._resolve(component, operation, {**self._configs, key: merged}))
        self._configs = {**self._configs, key: merged}

    # -- handling ----------------------------------------------------------------------

    async def handle_error(
        self,
        *args: Any,
        error: BaseException,
        component: str,
        operation: str,
        severity: ErrorSeverity | str = ErrorSeverity.MEDIUM,
        original_function: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Recover from ``error``: return a strategy's result or raise.

        Extra positional and keyword arguments are the original function's; ``retry``,
        ``reset`` and ``fallback`` call with them.

        Returns:
            The result of the first strategy that recovers.

        Raises:
            CircuitOpenError: the component's circuit is open (from ``error``).
            RetryExhaustedError: retries ran out and nothing later recovered.
            BaseException: otherwise ``error`` itself; cancellation passes unhandled.
            ConfigError: an argument is invalid.
        """
        return await self.recover(
            error,
            component=component,
            operation=operation,
            severity=severity,
            original_function=original_function,
            args=args,
            kwargs=kwargs,
        )

    def handle_error_sync(
        self,
        *args: Any,
        error: BaseException,
        component: str,
        operation: str,
        severity: ErrorSeverity | str = ErrorSeverity.MEDIUM,
        original_function: Callable[..., Any] | None = None,
        **kwargs: Any,
    ) -> Any:
        """Do what :meth:`handle_error` does, blocking the calling thread."""
        return self.recover_sync(
            error,
            component=component,
            operation=operation,
            severity=severity,
            original_function=original_function,
            args=args,
            kwargs=kwargs,
        )

    async def recover(
        self,
        error: BaseException,
        *,
        component: str,
        operation: str,
        severity: ErrorSeverity | str = ErrorSeverity.MEDIUM,
        original_function: Callable[..., Any] | None = None,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        strategies: Iterable[str] | None = None,
    ) -> Any:
        """Like :meth:`handle_error`, with the arguments passed as ``args``/``kwargs``.

        ``strategies`` overrides the plan for this call (the decorator uses it).
        """
        run = self._begin(
            error, component, operation, severity, original_function, args, kwargs, strategies
        )
        for name in run.plan:
            try:
                outcome = await self._step_async(run, name)
            except Misuse:
                raise
            except Exception:
                outcome = NOT_RECOVERED
            if outcome is SKIPPED:
                continue
            run.applied.append(name)
            if outcome is not NOT_RECOVERED:
                return self._succeeded(run, name, outcome)
        raise self._failed(run)

    def recover_sync(
        self,
        error: BaseException,
        *,
        component: str,
        operation: str,
        severity: ErrorSeverity | str = ErrorSeverity.MEDIUM,
        original_function: Callable[..., Any] | None = None,
        args: Iterable[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        strategies: Iterable[str] | None = None,
    ) -> Any:
        """Do what :meth:`recover` does, blocking the calling thread."""
        run = self._begin(
            error, component, operation, severity, original_function, args, kwargs, strategies
        )
        for name in run.plan:
            try:
                outcome = self._step_sync(run, name)
            except Misuse:
                raise
            except Exception:
                outcome = NOT_RECOVERED
            if outcome is SKIPPED:
                continue
            run.applied.append(name)
            if outcome is not NOT_RECOVERED:
                return self._succeeded(run, name, outcome)
        raise self._failed(run)

    # -- observation ---------------------------------------------------------------------

    def get_error_statistics(self, recent: int = 10) -> dict[str, Any]:
        """Return counts per component, operation, severity, error type and strategy.

        Args:
            recent: how many of the newest records to list under ``recent_errors``.

        Returns:
            A fresh dict: ``total_errors``, ``recovered``, ``unrecovered``,
            ``recovery_rate``, ``by_component``, ``by_operation`` (keys
            ``"component.operation"``), ``by_severity``, ``by_error_type``,
            ``by_strategy``, ``history_size``, ``history_limit``, ``recent_errors``.
        """
        check_int("recent", recent, minimum=0)
        return self._history.statistics(recent)

    def get_component_health(self, component: str) -> dict[str, Any]:
        """Return one component's counts, last error, circuit state and status.

        ``status`` is ``"unhealthy"`` while its circuit is open, ``"degraded"`` if its
        latest error was not recovered, else ``"healthy"``.
        """
        check_name("component", component)
        health: dict[str, Any] = {"component": component}
        health.update(self._history.component(component))
        breaker = registry.get(CircuitBreaker.kind, f"recovery.{component}")
        state = breaker.state if isinstance(breaker, CircuitBreaker) else None
        health["circuit_state"] = None if state is None else state.value
        if state in OPEN_STATES:
            health["status"] = "unhealthy"
        elif health["last_recovered"] is False:
            health["status"] = "degraded"
        else:
            health["status"] = "healthy"
        return health

    def get_error_history(self, component: str | None = None) -> list[ErrorRecord]:
        """Return the kept records (of one component, if given), oldest first."""
        records = self._history.records()
        if component is None:
            return records
        return [r for r in records if r.component == component]

    def clear_history(self) -> None:
        """Forget every record and count (breakers and configuration are kept)."""
        self._history.clear()

    def stats(self) -> dict[str, Any]:
        """Return a snapshot for the dashboard: statistics plus kind and name."""
        snapshot: dict[str, Any] = {"kind": self.kind, "name": self.name}
        snapshot.update(self._history.statistics(10))
        return snapshot

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add an event listener; returns a function that removes it."""
        return self._events.subscribe(listener)

    def __repr__(self) -> str:
        return f"ErrorRecovery(name={self.name!r}, strategies={list(self.strategies)!r})"
