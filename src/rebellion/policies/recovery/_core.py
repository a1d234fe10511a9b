"""The machinery behind :class:`~rebellion.policies.recovery.engine.ErrorRecovery`.

:class:`RecoveryCore` holds the state and runs the steps; the public class adds
validation and the API. One handling is a :class:`~._run.Run`: plan, then each
strategy in turn until one returns a result.

>>> _DEFAULT_PLANS[FailureKind.PERMANENT]
('notify',)
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Mapping
from inspect import isawaitable
from typing import Any

from ..._clock import Clock
from ..._events import EventStream
from ..._registry import registry
from ..._validate import check_callable, check_name
from ...config import setting
from ...errors import CircuitOpenError, ConfigError
from .._backoff import Backoff
from ..circuit_breaker import CircuitBreaker, CircuitState, get_circuit_breaker
from ..classify import RETRYABLE_KINDS, FailureClassifier, FailureKind
from ..retry import Retry
from ._history import ErrorHistory
from ._model import (
    ErrorHandled,
    ErrorRecord,
    ErrorSeverity,
    RecoveryConfig,
    RecoveryContext,
    RecoveryFailed,
    RecoveryStrategy,
    check_strategies,
)
from ._run import NOT_RECOVERED, SKIPPED, Misuse, Run, await_sync

__all__ = [
    "BUILTIN_STRATEGIES",
    "NOT_RECOVERED",
    "OPEN_STATES",
    "SKIPPED",
    "RecoveryCore",
    "Strategy",
    "backoff_of",
    "default_setting",
]

logger = logging.getLogger("rebellion.recovery")

Strategy = Callable[[RecoveryContext], Any]
"""A user strategy: returns the recovered result (maybe awaitable) or raises."""

BUILTIN_STRATEGIES = tuple(s.value for s in RecoveryStrategy)
OPEN_STATES = frozenset({CircuitState.OPEN, CircuitState.FORCED_OPEN, CircuitState.ISOLATED})
_RETRYABLE_PLAN = ("retry", "fallback", "notify")
_DEFAULT_PLANS: dict[FailureKind, tuple[str, ...]] = {
    **dict.fromkeys(RETRYABLE_KINDS, _RETRYABLE_PLAN),
    FailureKind.CLIENT_ERROR: ("fallback", "notify"),
    FailureKind.PERMANENT: ("notify",),
}


class RecoveryCore:
    """State and steps shared by the sync and async drivers of ``ErrorRecovery``."""

    name: str
    _clock: Clock
    _history: ErrorHistory
    _defaults: RecoveryConfig
    _classifier: FailureClassifier
    _breaker_threshold: int
    _breaker_reset_timeout: float
    _rng: random.Random
    _events: EventStream
    _configs: dict[tuple[str, str | None], RecoveryConfig]
    _type_rules: tuple[tuple[type[BaseException], tuple[str, ...]], ...]
    _kind_rules: dict[FailureKind, tuple[str, ...]]
    _custom: dict[str, Strategy]
    _callbacks: tuple[Callable[[ErrorRecord], object], ...]
    _retries: dict[tuple[Any, ...], Retry]

    @property
    def strategies(self) -> tuple[str, ...]:
        """Every accepted strategy name: the built-in ones, then the registered ones."""
        return (*BUILTIN_STRATEGIES, *self._custom)

    def circuit_breaker(self, component: str) -> CircuitBreaker:
        """Return the breaker ``recovery.<component>`` that ``circuit_break`` feeds."""
        return get_circuit_breaker(
            f"recovery.{check_name('component', component)}",
            failure_threshold=self._breaker_threshold,
            reset_timeout=self._breaker_reset_timeout,
            clock=self._clock,
        )

    # -- the steps -----------------------------------------------------------------------

    def _step_sync(self, run: Run, name: str) -> Any:
        if name == "retry":
            if run.fn is None or run.circuit_open or not run.config.max_retries:
                return SKIPPED
            try:
                policy = self._retry_policy(run.config)
                return policy.call(run.replay_sync, *run.args, **run.kwargs)
            except Exception as exc:
                return _retry_failed(run, exc)
        if name == "fallback":
            if run.config.fallback is None:
                return SKIPPED
            return _sync_value(run.config.fallback(*run.args, **run.kwargs))
        if name == "reset":
            if run.config.reset is None or run.circuit_open:
                return SKIPPED
            _sync_value(run.config.reset())
            if run.fn is None:
                return NOT_RECOVERED
            run.attempts += 1
            return _sync_value(run.fn(*run.args, **run.kwargs))
        if name == "notify":
            record = self._record(run, "notify", False)
            for callback in self._callbacks:
                try:
                    _sync_value(callback(record))
                except Misuse:
                    raise
                except Exception:
                    logger.exception("notification callback %r raised; skipped", callback)
            return NOT_RECOVERED
        if name == "circuit_break":
            return _circuit_break(run)
        return _sync_value(self._custom[name](self._context(run)))

    async def _step_async(self, run: Run, name: str) -> Any:
        if name == "retry":
            if run.fn is None or run.circuit_open or not run.config.max_retries:
                return SKIPPED
            try:
                policy = self._retry_policy(run.config)
                return await policy.execute(run.replay_async, *run.args, **run.kwargs)
            except Exception as exc:
                return _retry_failed(run, exc)
        if name == "fallback":
            if run.config.fallback is None:
                return SKIPPED
            return await _async_value(run.config.fallback(*run.args, **run.kwargs))
        if name == "reset":
            if run.config.reset is None or run.circuit_open:
                return SKIPPED
            await _async_value(run.config.reset())
            if run.fn is None:
                return NOT_RECOVERED
            run.attempts += 1
            return await _async_value(run.fn(*run.args, **run.kwargs))
        if name == "notify":
            record = self._record(run, "notify", False)
            for callback in self._callbacks:
                try:
                    await _async_value(callback(record))
                except Exception:
                    logger.exception("notification callback %r raised; skipped", callback)
            return NOT_RECOVERED
        if name == "circuit_break":
            return _circuit_break(run)
        return await _async_value(self._custom[name](self._context(run)))

    # -- bookkeeping ---------------------------------------------------------------------

    def _begin(
        self,
        error: BaseException,
        component: str,
        operation: str,
        severity: ErrorSeverity | str,
        fn: Callable[..., Any] | None,
        args: Iterable[Any],
        kwargs: Mapping[str, Any] | None,
        strategies: Iterable[str] | None,
    ) -> Run:
        if not isinstance(error, BaseException):
            raise ConfigError("error", "an exception instance", error)
        check_name("component", component)
        check_name("operation", operation)
        level = ErrorSeverity.coerce(severity)
        if fn is not None:
            check_callable("original_function", fn, "a callable or None")
        if isinstance(args, str | bytes) or not isinstance(args, Iterable):
            raise ConfigError("args", "a tuple of positional arguments", args)
        if kwargs is not None and not isinstance(kwargs, Mapping):
            raise ConfigError("kwargs", "a mapping of keyword arguments", kwargs)
        plan = None
        if strategies is not None:
            plan = check_strategies("strategies", strategies, self.strategies)
        if not isinstance(error, Exception):
            raise error  # cancellation and interrupts are never "recovered"
        kind = self._classifier.classify(error).kind
        if kind is FailureKind.CANCELLED:
            raise error
        run = Run(error, component, operation, fn, tuple(args), dict(kwargs or {}))
        run.severity = level
        run.kind = kind.value
        run.config = self._resolve(component, operation, self._configs)
        if plan is None:
            plan = run.config.strategies or self._rule_plan(error, kind, level)
        run.plan = plan
        breaker = registry.get(CircuitBreaker.kind, f"recovery.{component}")
        if isinstance(breaker, CircuitBreaker):
            run.breaker = breaker
            state = breaker.state
            if state in OPEN_STATES:
                remaining = breaker.stats()["time_until_half_open"]
                rejected = CircuitOpenError(
                    breaker.name, float("inf") if remaining is None else remaining, state.value
                )
                rejected.__cause__ = error
                run.final = rejected
                run.circuit_open = True
                run.applied.append("circuit_break")
        return run

    def _rule_plan(
        self, error: BaseException, kind: FailureKind, severity: ErrorSeverity
    ) -> tuple[str, ...]:
        plan: tuple[str, ...] | None = None
        for match, strategies in self._type_rules:
            if isinstance(error, match):
                plan = strategies
                break
        if plan is None:
            plan = self._kind_rules.get(kind) or _DEFAULT_PLANS.get(kind, _RETRYABLE_PLAN)
        if severity is ErrorSeverity.CRITICAL and "circuit_break" not in plan:
            plan = ("circuit_break", *plan)
        return plan

    def _resolve(
        self,
        component: str,
        operation: str | None,
        configs: Mapping[tuple[str, str | None], RecoveryConfig],
    ) -> RecoveryConfig:
        config = self._defaults.merged(configs.get((component, None)))
        return config if operation is None else config.merged(configs.get((component, operation)))

    def _retry_policy(self, config: RecoveryConfig) -> Retry:
        key = (
            config.max_retries,
            config.initial_delay,
            config.max_delay,
            config.backoff_factor,
            config.jitter,
        )
        policy = self._retries.get(key)
        if policy is None:
            assert config.max_retries is not None
            # +1: the policy's first "attempt" replays the error that already happened.
            policy = Retry(
                max_attempts=config.max_retries + 1,
                initial_delay=config.initial_delay,
                max_delay=config.max_delay,
                backoff_factor=config.backoff_factor,
                jitter=config.jitter,
                classifier=self._classifier,
                name=f"{self.name}.retry",
                clock=self._clock,
                rng=self._rng,
            )
            policy = self._retries.setdefault(key, policy)
        return policy

    def _context(self, run: Run) -> RecoveryContext:
        return RecoveryContext(
            error=run.error,
            component=run.component,
            operation=run.operation,
            severity=run.severity,
            original_function=run.fn,
            args=run.args,
            kwargs=dict(run.kwargs),
            attempt=run.attempts,
            history=self._history.recent_for(run.component),
        )

    def _record(self, run: Run, strategy: str | None, recovered: bool) -> ErrorRecord:
        applied = tuple(run.applied)
        if strategy is not None and (not applied or applied[-1] != strategy):
            applied = (*applied, strategy)
        return ErrorRecord(
            time=self._clock.wall(),
            component=run.component,
            operation=run.operation,
            severity=run.severity,
            error_type=type(run.error).__qualname__,
            message=str(run.error),
            strategy=strategy,
            recovered=recovered,
            attempts=run.attempts,
            kind=run.kind,
            strategies=applied,
        )

    def _succeeded(self, run: Run, strategy: str, result: Any) -> Any:
        record = self._record(run, strategy, True)
        self._history.add(record)
        self._report_to_breaker(run, True)
        if self._events:
            self._events.emit(_handled(self.name, record))
        return result

    def _failed(self, run: Run) -> BaseException:
        record = self._record(run, run.applied[-1] if run.applied else None, False)
        self._history.add(record)
        self._report_to_breaker(run, False)
        raised = run.raised()
        if self._events:
            self._events.emit(_handled(self.name, record))
            self._events.emit(
                RecoveryFailed(
                    source=self.name,
                    at=record.time,
                    component=run.component,
                    operation=run.operation,
                    error_type=record.error_type,
                    strategies=record.strategies,
                    raised_type=type(raised).__qualname__,
                )
            )
        return raised

    def _report_to_breaker(self, run: Run, recovered: bool) -> None:
        # The breaker counts *unrecovered* errors of runs that asked for circuit_break;
        # a recovery closes a half-open breaker and resets the consecutive count.
        if run.circuit_open or (not recovered and not run.track_breaker):
            return
        breaker = run.breaker
        if breaker is None:
            if not run.track_breaker:
                return
            breaker = self.circuit_breaker(run.component)
        try:
            breaker.__enter__()
        except CircuitOpenError:
            return  # opened (or its probe slots filled) meanwhile: it already knows
        if recovered:
            breaker.__exit__(None, None, None)
        else:
            breaker.__exit__(type(run.error), run.error, run.traceback)


def _retry_failed(run: Run, exc: Exception) -> Any:
    if isinstance(exc, Misuse):
        raise exc
    if exc is not run.error:
        run.final = exc  # exhausted (chained to the last error) or a new, non-retryable one
    return NOT_RECOVERED


def _circuit_break(run: Run) -> Any:
    if run.circuit_open:
        return SKIPPED
    run.track_breaker = True
    return NOT_RECOVERED


def _sync_value(value: Any) -> Any:
    return await_sync(value) if isawaitable(value) else value


async def _async_value(value: Any) -> Any:
    return await value if isawaitable(value) else value


def _handled(source: str, record: ErrorRecord) -> ErrorHandled:
    return ErrorHandled(
        source=source,
        at=record.time,
        component=record.component,
        operation=record.operation,
        severity=record.severity.value,
        error_type=record.error_type,
        strategy=record.strategy,
        recovered=record.recovered,
        attempts=record.attempts,
    )


def default_setting(value: Any, key: str) -> Any:
    return setting(key) if value is None else value


def backoff_of(config: RecoveryConfig) -> Backoff:
    return Backoff(
        initial_delay=config.initial_delay,  # type: ignore[arg-type]
        max_delay=config.max_delay,  # type: ignore[arg-type]
        backoff_factor=config.backoff_factor,  # type: ignore[arg-type]
        jitter=config.jitter,  # type: ignore[arg-type]
    )
