"""Validated, frozen configuration of a circuit breaker."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, final

from ... import config
from ..._units import as_seconds
from ..._validate import (
    check_choice,
    check_duration,
    check_exception_types,
    check_fraction,
    check_int,
    check_number,
    check_optional_number,
)
from ...errors import ConfigError, RejectedError
from ..classify import FailureClassifier, FailureKind

__all__ = ["BreakerConfig", "CircuitState"]


class CircuitState(enum.StrEnum):
    """Every state a breaker can report; compares equal to its upper-case name."""

    CLOSED = "CLOSED"
    OPEN = "OPEN"
    HALF_OPEN = "HALF_OPEN"
    DEGRADED = "DEGRADED"
    FORCED_OPEN = "FORCED_OPEN"
    ISOLATED = "ISOLATED"
    DISABLED = "DISABLED"
    METRICS_ONLY = "METRICS_ONLY"


WINDOW_TYPES = ("consecutive", "count", "time")
_NEUTRAL = frozenset({FailureKind.CANCELLED, FailureKind.REJECTED})


@final
@dataclass(frozen=True, slots=True)
class BreakerConfig:
    """Everything that shapes a breaker's decisions; built by :meth:`create`."""

    failure_threshold: int
    reset_timeout: float
    max_reset_timeout: float
    exponential_backoff_factor: float
    reset_timeout_jitter: float
    window_type: str
    window_size: float
    window_buckets: int
    minimum_calls: int
    failure_rate_threshold: float
    slow_call_duration: float | None
    slow_call_rate_threshold: float
    half_open_max_calls: int
    success_threshold: int
    probe_timeout: float
    throttle_failure_rate: float | None
    throttle_k: float
    failure_on: tuple[type[BaseException], ...]
    ignore_on: tuple[type[BaseException], ...]
    is_failure: Callable[[BaseException], bool] | None
    failure_if_result: Callable[[Any], bool] | None
    classifier: FailureClassifier | None
    history_size: int

    @classmethod
    def create(
        cls,
        *,
        failure_threshold: int | None,
        reset_timeout: float | timedelta | None,
        max_reset_timeout: float | timedelta | None,
        exponential_backoff_factor: float | None,
        reset_timeout_jitter: float,
        window_type: str,
        window_size: float | timedelta,
        window_buckets: int,
        minimum_calls: int,
        failure_rate_threshold: float,
        slow_call_duration: float | timedelta | None,
        slow_call_rate_threshold: float,
        half_open_max_calls: int | None,
        success_threshold: int | None,
        throttle_failure_rate: float | None,
        throttle_k: float,
        probe_timeout: float | timedelta | None = None,
        failure_on: object,
        ignore_on: object,
        is_failure: Callable[[BaseException], bool] | None,
        failure_if_result: Callable[[Any], bool] | None,
        classifier: FailureClassifier | None,
        history_size: int,
    ) -> BreakerConfig:
        """Validate every parameter, filling ``None`` from ``REBELLION_*`` defaults."""

        def default(value: object, key: str) -> Any:
            return config.setting(f"circuit_breaker.{key}") if value is None else value

        reset_timeout = as_seconds(reset_timeout)
        max_reset_timeout = as_seconds(max_reset_timeout)
        slow_call_duration = as_seconds(slow_call_duration)
        probe_timeout = as_seconds(probe_timeout)
        window_size = as_seconds(window_size)

        threshold = check_int(
            "failure_threshold", default(failure_threshold, "failure_threshold"), minimum=1
        )
        reset = check_duration(
            "reset_timeout", default(reset_timeout, "reset_timeout"), exclusive_minimum=True
        )
        cap_raw = max_reset_timeout
        if cap_raw is None:
            cap_raw = max(reset, config.setting("circuit_breaker.max_reset_timeout"))
        cap = check_duration("max_reset_timeout", cap_raw, minimum=reset)
        factor = check_number(
            "exponential_backoff_factor",
            default(exponential_backoff_factor, "exponential_backoff_factor"),
            minimum=1.0,
        )
        jitter = check_number(
            "reset_timeout_jitter", reset_timeout_jitter, minimum=0.0, maximum=0.99
        )
        kind = check_choice("window_type", window_type, WINDOW_TYPES)
        if kind == "count":
            size: float = check_int("window_size", window_size, minimum=1)
        else:
            size = check_number("window_size", window_size, minimum=0.0, exclusive_minimum=True)
        buckets = check_int("window_buckets", window_buckets, minimum=1, maximum=3600)
        minimum = check_int("minimum_calls", minimum_calls, minimum=1)
        rate = check_number(
            "failure_rate_threshold",
            failure_rate_threshold,
            minimum=0.0,
            maximum=1.0,
            exclusive_minimum=True,
        )
        slow = check_optional_number(
            "slow_call_duration", slow_call_duration, minimum=0.0, exclusive_minimum=True
        )
        slow_rate = check_number(
            "slow_call_rate_threshold",
            slow_call_rate_threshold,
            minimum=0.0,
            maximum=1.0,
            exclusive_minimum=True,
        )
        probes = check_int(
            "half_open_max_calls", default(half_open_max_calls, "half_open_max_calls"), minimum=1
        )
        successes = check_int(
            "success_threshold", default(success_threshold, "success_threshold"), minimum=1
        )
        probe_wait = check_number(
            "probe_timeout",
            reset if probe_timeout is None else probe_timeout,
            minimum=0.0,
            exclusive_minimum=True,
        )
        throttle = check_optional_number(
            "throttle_failure_rate",
            throttle_failure_rate,
            minimum=0.0,
            maximum=1.0,
            exclusive_minimum=True,
        )
        if throttle is not None:
            if kind == "consecutive":
                raise ConfigError(
                    "throttle_failure_rate",
                    "used with window_type 'count' or 'time' (it needs a failure rate)",
                    throttle,
                )
            if throttle >= rate:
                raise ConfigError(
                    "throttle_failure_rate", f"below failure_rate_threshold ({rate:g})", throttle
                )
        k = check_number("throttle_k", throttle_k, minimum=1.0)
        failures = check_exception_types(
            "failure_on", Exception if failure_on is None else failure_on
        )
        ignored = check_exception_types("ignore_on", () if ignore_on is None else ignore_on)
        if is_failure is not None and not callable(is_failure):
            raise ConfigError("is_failure", "a predicate on exceptions or None", is_failure)
        if failure_if_result is not None and not callable(failure_if_result):
            raise ConfigError(
                "failure_if_result", "a predicate on results or None", failure_if_result
            )
        if classifier is not None and not isinstance(classifier, FailureClassifier):
            raise ConfigError("classifier", "a FailureClassifier or None", classifier)
        history = check_int("history_size", history_size, minimum=1, maximum=100_000)
        check_fraction("reset_timeout_jitter", jitter)
        return cls(
            failure_threshold=threshold,
            reset_timeout=reset,
            max_reset_timeout=cap,
            exponential_backoff_factor=factor,
            reset_timeout_jitter=jitter,
            window_type=kind,
            window_size=size,
            window_buckets=buckets,
            minimum_calls=minimum,
            failure_rate_threshold=rate,
            slow_call_duration=slow,
            slow_call_rate_threshold=slow_rate,
            half_open_max_calls=probes,
            success_threshold=successes,
            probe_timeout=probe_wait,
            throttle_failure_rate=throttle,
            throttle_k=k,
            failure_on=failures,
            ignore_on=ignored,
            is_failure=is_failure,
            failure_if_result=failure_if_result,
            classifier=classifier,
            history_size=history,
        )

    def counts_as_failure(self, error: BaseException) -> bool | None:
        """Return True (failure), False (success) or None (ignored: neither)."""
        if not isinstance(error, Exception):
            return None  # cancellation and interpreter exits say nothing about the callee
        if self.ignore_on and isinstance(error, self.ignore_on):
            return None
        if self.is_failure is not None:
            return bool(self.is_failure(error))
        if isinstance(error, RejectedError):
            return None  # an inner policy refused the call: it says nothing of the callee
        if self.classifier is not None:
            classification = self.classifier.classify(error)
            if classification.kind in _NEUTRAL:
                return None
            # A client error or a rate limit means the downstream answered: not a failure.
            return classification.is_breaker_failure
        return isinstance(error, self.failure_on)

    def result_is_failure(self, result: object) -> bool:
        """Return whether a returned value counts as a failure."""
        if self.failure_if_result is not None and self.failure_if_result(result):
            return True
        if self.classifier is not None and self.classifier.has_result_rule:
            classification = self.classifier.classify_result(result)
            return classification is not None and classification.is_breaker_failure
        return False

    @property
    def checks_results(self) -> bool:
        """Whether returned values must be inspected at all."""
        return self.failure_if_result is not None or (
            self.classifier is not None and self.classifier.has_result_rule
        )

    def as_dict(self) -> dict[str, object]:
        """Return the settings as plain data (for snapshots and the dashboard)."""
        return {
            "failure_threshold": self.failure_threshold,
            "reset_timeout": self.reset_timeout,
            "max_reset_timeout": self.max_reset_timeout,
            "exponential_backoff_factor": self.exponential_backoff_factor,
            "window_type": self.window_type,
            "window_size": self.window_size,
            "minimum_calls": self.minimum_calls,
            "failure_rate_threshold": self.failure_rate_threshold,
            "slow_call_duration": self.slow_call_duration,
            "slow_call_rate_threshold": self.slow_call_rate_threshold,
            "half_open_max_calls": self.half_open_max_calls,
            "success_threshold": self.success_threshold,
            "probe_timeout": self.probe_timeout,
            "throttle_failure_rate": self.throttle_failure_rate,
        }
