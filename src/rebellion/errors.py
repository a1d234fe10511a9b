"""The whole exception tree of System Rebellion.

::

    RebellionError
    ├── ConfigError (also ValueError)          bad parameter: names it, the rule, the value
    ├── RejectedError                          the call never ran; carries policy name, retry_after
    │   ├── CircuitOpenError (alias CircuitOpenException)
    │   ├── BulkheadFullError
    │   ├── RateLimitedError
    │   ├── LimitExceededError                 adaptive concurrency limit: shed
    │   ├── TimeoutCapacityError               a thread-mode Timeout has no thread left
    │   └── QueueFullError
    ├── TimeoutExceededError (also TimeoutError)
    └── RetryExhaustedError                    raised ``from`` the last error; keeps attempts

Rejected versus failed lets callers shed load differently from handling failures:

>>> try:
...     raise CircuitOpenError("payments", remaining=2.5, state="OPEN")
... except RejectedError as rejected:
...     (rejected.policy, rejected.retry_after)
('payments', 2.5)
"""

from __future__ import annotations

__all__ = [
    "BulkheadFullError",
    "CircuitOpenError",
    "CircuitOpenException",
    "ConfigError",
    "LimitExceededError",
    "QueueFullError",
    "RateLimitedError",
    "RebellionError",
    "RejectedError",
    "RetryExhaustedError",
    "TimeoutCapacityError",
    "TimeoutExceededError",
]


class RebellionError(Exception):
    """Base class of every error raised by System Rebellion itself."""


class ConfigError(RebellionError, ValueError):
    """A parameter is out of range or of the wrong kind.

    The message names the parameter, the rule it broke and the value received.
    """

    def __init__(self, parameter: str, rule: str, value: object) -> None:
        self.parameter = parameter
        self.rule = rule
        self.value = value
        super().__init__(f"{parameter} must be {rule}, got {value!r}")

    def __reduce__(self) -> tuple[type[Exception], tuple[object, ...]]:
        return (type(self), (self.parameter, self.rule, self.value))


class RejectedError(RebellionError):
    """The call was not run because a policy refused it.

    Attributes:
        policy: name of the refusing policy.
        retry_after: seconds after which a new attempt may be admitted, if known.
    """

    def __init__(self, policy: str, message: str, retry_after: float | None = None) -> None:
        self.policy = policy
        self.retry_after = retry_after
        self.message = message
        super().__init__(message)

    def __reduce__(self) -> tuple[type[Exception], tuple[object, ...]]:
        return (type(self), (self.policy, self.message, self.retry_after))


class CircuitOpenError(RejectedError):
    """The circuit breaker ``name`` is open (or forced open, isolated, or throttling).

    Attributes:
        name: the breaker's name (same as ``policy``).
        remaining: seconds until the breaker lets a probe through (``inf`` while forced).
        state: the breaker state that refused the call.
    """

    def __init__(self, name: str, remaining: float, state: str = "OPEN") -> None:
        # Rejections are a hot path: store three facts; everything else is derived.
        self.name = name
        self.remaining = remaining
        self.state = state

    @property
    def policy(self) -> str:  # type: ignore[override]
        return self.name

    @property
    def retry_after(self) -> float | None:  # type: ignore[override]
        return None if self.remaining == float("inf") else self.remaining

    def __str__(self) -> str:
        if self.remaining == float("inf"):
            when = "until an operator closes it"
        else:
            when = f"for another {self.remaining:.3f}s"
        return f"circuit breaker {self.name!r} is {self.state} {when}"

    def __reduce__(self) -> tuple[type[Exception], tuple[object, ...]]:
        return (type(self), (self.name, self.remaining, self.state))


CircuitOpenException = CircuitOpenError
"""Alias kept for code written against the seed documents."""


class BulkheadFullError(RejectedError):
    """The bulkhead has no free slot and its wait queue is full or the wait timed out."""


class RateLimitedError(RejectedError):
    """The rate limiter refused the call; ``retry_after`` tells when a token frees up."""


class LimitExceededError(RejectedError):
    """An adaptive concurrency limiter shed the call.

    Attributes:
        reason: ``"limit"`` (no permit and no backlog), ``"backlog"`` (a newer waiter
            took its place) or ``"max_wait"`` (no permit freed in time).
        partition: the traffic class that asked, or ``None``.
        limit: the concurrency limit when the call was shed.
    """

    def __init__(
        self,
        policy: str,
        reason: str,
        partition: str | None = None,
        limit: int = 0,
        retry_after: float | None = None,
    ) -> None:
        self.reason = reason
        self.partition = partition
        self.limit = limit
        where = "" if partition is None else f" (partition {partition!r})"
        super().__init__(policy, f"{policy!r} shed the call{where}: {reason}", retry_after)

    def __reduce__(self) -> tuple[type[Exception], tuple[object, ...]]:
        return (
            type(self),
            (self.policy, self.reason, self.partition, self.limit, self.retry_after),
        )


class TimeoutCapacityError(RejectedError):
    """A thread-mode timeout's own threads are all taken (running or walked away from).

    Its callees, some of them perhaps hung, hold every thread it may use; other
    timeouts are unaffected.
    """


class QueueFullError(RejectedError):
    """The queue is at its ``max_size``; nothing was enqueued."""


class TimeoutExceededError(RebellionError, TimeoutError):
    """The guarded work did not finish within ``timeout`` seconds (and was cancelled)."""

    def __init__(self, policy: str, timeout: float) -> None:
        self.policy = policy
        self.timeout = timeout
        super().__init__(f"{policy!r} did not finish within {timeout:g}s")

    def __reduce__(self) -> tuple[type[Exception], tuple[object, ...]]:
        return (type(self), (self.policy, self.timeout))


class RetryExhaustedError(RebellionError):
    """Retries stopped without a success; raised ``from`` the last error.

    Attributes:
        policy: name of the retry policy.
        attempts: how many attempts ran.
        reason: why retrying stopped: ``"attempts"``, ``"deadline"``, ``"budget"`` or
            ``"retry_after"`` (the error asked for a longer wait than ``max_delay``).
        last_result: the last (rejected) result when retrying on results, else ``None``.
    """

    def __init__(
        self,
        policy: str,
        attempts: int,
        reason: str,
        last_result: object = None,
    ) -> None:
        self.policy = policy
        self.attempts = attempts
        self.reason = reason
        self.last_result = last_result
        super().__init__(f"{policy!r} gave up after {attempts} attempt(s): {reason} exhausted")

    @property
    def last_error(self) -> BaseException | None:
        """The error of the last attempt (same as ``__cause__``)."""
        return self.__cause__

    def __reduce__(self) -> tuple[type[Exception], tuple[object, ...]]:
        return (type(self), (self.policy, self.attempts, self.reason, self.last_result))
