"""One place that decides what an exception or a result *means*.

Retry, circuit breaker, fallback and metrics all consult a :class:`FailureClassifier`,
so "which errors count" is configured once and shared:

>>> classifier = FailureClassifier().with_rule(KeyError, FailureKind.PERMANENT)
>>> classifier.classify(ConnectionResetError()).kind
<FailureKind.TRANSIENT: 'transient'>
>>> classifier.classify(KeyError("id")).retryable
False
>>> class Http429(Exception):
...     status_code = 429
...     headers = {"Retry-After": "7"}
>>> c = classifier.classify(Http429())
>>> (c.kind.value, c.retry_after)
('rate_limited', 7.0)

Built-in rules, applied after your own: cancellation (``CancelledError``,
``KeyboardInterrupt``, ``SystemExit``) → CANCELLED; a policy's own rejection →
REJECTED (with its ``retry_after``); ``TimeoutError`` → TIMEOUT; ``ConnectionError`` →
TRANSIENT; an HTTP status found on the error (``status_code``, ``status`` or
``response.status_code``) → 429 RATE_LIMITED, 408 TIMEOUT, 5xx SERVER_ERROR, other 4xx
CLIENT_ERROR; programming errors (``TypeError``, ``AttributeError``, ``NameError``,
``NotImplementedError``, ``AssertionError``, ``ImportError``) → PERMANENT; anything else
→ ``default`` (TRANSIENT). A ``retry_after`` attribute or ``Retry-After`` header (seconds
or an HTTP date) on the error is carried as the hint.
"""

from __future__ import annotations

import asyncio
import email.utils
import enum
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, final

from .._validate import check_choice
from ..errors import ConfigError, RejectedError, RetryExhaustedError

__all__ = [
    "BREAKER_FAILURE_KINDS",
    "RETRYABLE_KINDS",
    "Classification",
    "FailureClassifier",
    "FailureKind",
    "default_classifier",
    "retry_after_hint",
]


class FailureKind(enum.Enum):
    """What a failed outcome means for the caller."""

    TRANSIENT = "transient"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    CLIENT_ERROR = "client_error"
    PERMANENT = "permanent"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


RETRYABLE_KINDS = frozenset(
    {
        FailureKind.TRANSIENT,
        FailureKind.TIMEOUT,
        FailureKind.RATE_LIMITED,
        FailureKind.SERVER_ERROR,
        FailureKind.REJECTED,
    }
)
"""Kinds a retry policy retries by default (when it is given a classifier)."""

BREAKER_FAILURE_KINDS = frozenset(
    {FailureKind.TRANSIENT, FailureKind.TIMEOUT, FailureKind.SERVER_ERROR}
)
"""Kinds a circuit breaker counts as a failure by default (when given a classifier):
a client error, a rate limit or another policy's rejection says nothing about the
downstream's health."""


@final
@dataclass(frozen=True, slots=True)
class Classification:
    """The meaning of one outcome: its kind and an optional retry-after hint."""

    kind: FailureKind
    retry_after: float | None = None

    @property
    def retryable(self) -> bool:
        """Whether retrying may help."""
        return self.kind in RETRYABLE_KINDS

    @property
    def is_breaker_failure(self) -> bool:
        """Whether a circuit breaker should count it against the downstream."""
        return self.kind in BREAKER_FAILURE_KINDS


ErrorRule = tuple[type[BaseException] | Callable[[BaseException], bool], FailureKind]
ResultRule = Callable[[Any], "FailureKind | Classification | None"]

_CANCELLATION = (asyncio.CancelledError, KeyboardInterrupt, SystemExit, GeneratorExit)
_PROGRAMMING = (
    TypeError,
    AttributeError,
    NameError,
    NotImplementedError,
    AssertionError,
    ImportError,
)


def retry_after_hint(error: BaseException) -> float | None:
    """Return the retry-after hint carried by ``error`` (attribute or header), if any."""
    value = getattr(error, "retry_after", None)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(0.0, float(value))
    headers = getattr(error, "headers", None)
    if headers is None:
        response = getattr(error, "response", None)
        headers = getattr(response, "headers", None)
    getter = getattr(headers, "get", None)
    if callable(getter):
        raw = getter("Retry-After") or getter("retry-after")
        if raw is not None:
            return _parse_retry_after(str(raw))
    return None


def _parse_retry_after(raw: str) -> float | None:
    text = raw.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _http_status(error: BaseException) -> int | None:
    for holder in (error, getattr(error, "response", None)):
        if holder is None:
            continue
        for attribute in ("status_code", "status"):
            status = getattr(holder, attribute, None)
            if isinstance(status, int) and not isinstance(status, bool) and 100 <= status <= 599:
                return status
    return None


@final
class FailureClassifier:
    """Map exceptions and results to :class:`Classification` values.

    Args:
        rules: ``(exception class or predicate, kind)`` pairs tried in order before the
            built-in rules.
        result_rule: maps a *returned* value to a kind (or ``None`` for success), e.g.
            ``lambda r: FailureKind.SERVER_ERROR if r.status >= 500 else None``.
        default: the kind of an exception no rule recognises.
    """

    __slots__ = ("_default", "_result_rule", "_rules")

    def __init__(
        self,
        rules: Iterable[ErrorRule] = (),
        *,
        result_rule: ResultRule | None = None,
        default: FailureKind = FailureKind.TRANSIENT,
    ) -> None:
        checked: list[ErrorRule] = []
        for rule in rules:
            if not (isinstance(rule, tuple) and len(rule) == 2):
                raise ConfigError("rules", "a list of (exception class or predicate, kind)", rule)
            matcher, kind = rule
            check_choice("rules[].kind", kind, list(FailureKind))
            if not (
                (isinstance(matcher, type) and issubclass(matcher, BaseException))
                or callable(matcher)
            ):
                raise ConfigError("rules[].matcher", "an exception class or a predicate", matcher)
            checked.append((matcher, kind))
        if result_rule is not None and not callable(result_rule):
            raise ConfigError("result_rule", "a callable or None", result_rule)
        self._rules = tuple(checked)
        self._result_rule = result_rule
        self._default = check_choice("default", default, list(FailureKind))

    def with_rule(
        self, matcher: type[BaseException] | Callable[[BaseException], bool], kind: FailureKind
    ) -> FailureClassifier:
        """Return a copy with one more rule, tried before the existing ones."""
        return FailureClassifier(
            ((matcher, kind), *self._rules), result_rule=self._result_rule, default=self._default
        )

    def with_result_rule(self, result_rule: ResultRule) -> FailureClassifier:
        """Return a copy that classifies returned values with ``result_rule``."""
        return FailureClassifier(self._rules, result_rule=result_rule, default=self._default)

    def classify(self, error: BaseException) -> Classification:
        """Classify an exception (a retry's give-up is judged by the error it gave up on)."""
        if isinstance(error, RetryExhaustedError) and error.__cause__ is not None:
            error = error.__cause__
        hint = retry_after_hint(error)
        for matcher, kind in self._rules:
            if isinstance(matcher, type):
                if isinstance(error, matcher):
                    return Classification(kind, hint)
            elif matcher(error):
                return Classification(kind, hint)
        if isinstance(error, _CANCELLATION):
            return Classification(FailureKind.CANCELLED)
        if isinstance(error, RejectedError):
            return Classification(FailureKind.REJECTED, error.retry_after)
        if isinstance(error, TimeoutError):
            return Classification(FailureKind.TIMEOUT, hint)
        status = _http_status(error)
        if status is not None:
            if status == 429:
                return Classification(FailureKind.RATE_LIMITED, hint)
            if status == 408:
                return Classification(FailureKind.TIMEOUT, hint)
            if status >= 500:
                return Classification(FailureKind.SERVER_ERROR, hint)
            if status >= 400:
                return Classification(FailureKind.CLIENT_ERROR, hint)
        if isinstance(error, ConnectionError):
            return Classification(FailureKind.TRANSIENT, hint)
        if isinstance(error, _PROGRAMMING):
            return Classification(FailureKind.PERMANENT, hint)
        if hint is not None:
            return Classification(FailureKind.RATE_LIMITED, hint)
        return Classification(self._default, hint)

    def classify_result(self, result: object) -> Classification | None:
        """Classify a returned value: ``None`` means success."""
        if self._result_rule is None:
            return None
        outcome = self._result_rule(result)
        if outcome is None:
            return None
        if isinstance(outcome, Classification):
            return outcome
        if isinstance(outcome, FailureKind):
            return Classification(outcome)
        raise ConfigError(
            "result_rule", "a function returning FailureKind, Classification or None", outcome
        )

    @property
    def has_result_rule(self) -> bool:
        """Whether returned values are classified at all (lets hot paths skip the call)."""
        return self._result_rule is not None

    def __repr__(self) -> str:
        return f"FailureClassifier(rules={len(self._rules)}, default={self._default.name})"


default_classifier = FailureClassifier()
"""A classifier with only the built-in rules."""
