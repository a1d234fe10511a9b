"""The vocabulary of error recovery: severities, strategies, records, contexts, events.

>>> ErrorSeverity.coerce("High") is ErrorSeverity.HIGH
True
>>> RecoveryStrategy.RETRY == "retry"
True
>>> RecoveryConfig(max_retries=2).merged(RecoveryConfig(max_retries=5)).max_retries
5
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar, final

from ..._events import Event
from ...errors import ConfigError

__all__ = [
    "ErrorHandled",
    "ErrorRecord",
    "ErrorSeverity",
    "RecoveryConfig",
    "RecoveryContext",
    "RecoveryFailed",
    "RecoveryStrategy",
    "check_strategies",
]


class ErrorSeverity(enum.StrEnum):
    """How bad an error is; ``CRITICAL`` also trips the component's circuit breaker."""

    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @classmethod
    def coerce(cls, value: object, parameter: str = "severity") -> ErrorSeverity:
        """Return ``value`` as a severity; strings are accepted in any case.

        Raises:
            ConfigError: ``value`` names no severity; the message names ``parameter``.
        """
        if isinstance(value, ErrorSeverity):
            return value
        if isinstance(value, str):
            try:
                return cls(value.strip().lower())
            except ValueError:
                pass
        accepted = " | ".join(repr(s.value) for s in cls)
        raise ConfigError(parameter, f"an ErrorSeverity or one of {accepted}", value)


class RecoveryStrategy(enum.StrEnum):
    """The built-in strategies (user-registered ones are plain names)."""

    RETRY = "retry"
    FALLBACK = "fallback"
    CIRCUIT_BREAK = "circuit_break"
    RESET = "reset"
    NOTIFY = "notify"


@final
@dataclass(frozen=True, slots=True)
class ErrorRecord:
    """One handled error, as kept in the history and given to notification callbacks.

    Attributes:
        time: wall-clock seconds when handling finished.
        component: the failing component.
        operation: the failing operation of that component.
        severity: the severity the caller gave.
        error_type: qualified class name of the error.
        message: ``str(error)``.
        strategy: the strategy that recovered, else the last one applied (``None`` if none).
        recovered: whether a strategy produced a result.
        attempts: how many times ``original_function`` was invoked again.
        kind: the classifier's :class:`~rebellion.policies.classify.FailureKind` value.
        strategies: the strategies applied, in order (skipped ones left out).
    """

    time: float
    component: str
    operation: str
    severity: ErrorSeverity
    error_type: str
    message: str
    strategy: str | None
    recovered: bool
    attempts: int
    kind: str
    strategies: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Return the record as a JSON-friendly dict (severity as its string value)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["severity"] = self.severity.value
        data["strategies"] = list(self.strategies)
        return data


@final
@dataclass(frozen=True, slots=True)
class RecoveryContext:
    """What a user-registered strategy receives.

    Attributes:
        error: the error being handled.
        component: the failing component.
        operation: the failing operation.
        severity: the caller's severity.
        original_function: the function that failed, or ``None``.
        args: its positional arguments.
        kwargs: its keyword arguments (read-only).
        attempt: re-invocations of ``original_function`` so far in this handling.
        history: the component's most recent records (oldest first, up to 20).
    """

    error: BaseException
    component: str
    operation: str
    severity: ErrorSeverity
    original_function: Callable[..., Any] | None
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    attempt: int
    history: tuple[ErrorRecord, ...]


@final
@dataclass(frozen=True, slots=True)
class ErrorHandled(Event):
    """An error of ``component.operation`` was handled (``recovered`` tells the outcome)."""

    policy_kind: ClassVar[str] = "error_recovery"

    component: str
    operation: str
    severity: str
    error_type: str
    strategy: str | None
    recovered: bool
    attempts: int


@final
@dataclass(frozen=True, slots=True)
class RecoveryFailed(Event):
    """No strategy recovered; ``raised_type`` is the error given back to the caller."""

    policy_kind: ClassVar[str] = "error_recovery"

    component: str
    operation: str
    error_type: str
    strategies: tuple[str, ...]
    raised_type: str


@final
@dataclass(frozen=True, slots=True)
class RecoveryConfig:
    """Per-(component, operation) overrides; ``None`` fields inherit.

    Attributes:
        strategies: the exact strategy list to apply, in order.
        max_retries: re-invocations the ``retry`` strategy may make (0 disables it).
        fallback: called with the original arguments by the ``fallback`` strategy.
        reset: zero-argument hook (e.g. reconnect) run by the ``reset`` strategy.
        initial_delay: seconds before the first retry.
        max_delay: cap on any retry delay.
        backoff_factor: delay growth per retry.
        jitter: ``"none" | "full" | "equal" | "decorrelated"``.
    """

    strategies: tuple[str, ...] | None = None
    max_retries: int | None = None
    fallback: Callable[..., Any] | None = None
    reset: Callable[[], Any] | None = None
    initial_delay: float | None = None
    max_delay: float | None = None
    backoff_factor: float | None = None
    jitter: str | None = None

    def merged(self, override: RecoveryConfig | None) -> RecoveryConfig:
        """Return this config with every field ``override`` sets replaced."""
        if override is None:
            return self
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        for f in fields(override):
            value = getattr(override, f.name)
            if value is not None:
                values[f.name] = value
        return RecoveryConfig(**values)


def check_strategies(parameter: str, value: object, known: Iterable[str]) -> tuple[str, ...]:
    """Return ``value`` as a tuple of strategy names, each one of ``known``.

    Raises:
        ConfigError: ``value`` is not a list of names, or one is unknown (the message
            lists the accepted names).
    """
    accepted = tuple(known)
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ConfigError(parameter, "a list of strategy names", value)
    names: list[str] = []
    for item in value:
        name = item.value if isinstance(item, RecoveryStrategy) else item
        if not isinstance(name, str) or name not in accepted:
            listing = " | ".join(repr(n) for n in sorted(accepted))
            raise ConfigError(parameter, f"strategy names among {listing}", item)
        names.append(name)
    return tuple(names)
