"""The whole exception tree of System Rebellion.

::

    RebellionError
    ├── ConfigError (also ValueError)          bad parameter: names it, the rule, the value
    ├── RejectedError                          the call never ran; carries policy name, retry_after
    │   ├── CircuitOpenError (alias CircuitOpenException)
    │   ├── BulkheadFullError
    │   ├── RateLimitedError
    │   ├── LimitExceededError                 adaptive concurrency limit: shed
    │   ├── QueueFullError
    │   ├── TimeoutCapacityError               a thread-mode Timeout has no thread left
    │   ├── PoolExhaustedError                 no pooled connection freed in time
    │   ├── ConnectionUnavailableError         a managed connection is not CONNECTED
    │   └── (RequestRejectedError)             also an httpx.TransportError; lives in
    │                                          rebellion.integrations beside httpx
    ├── TimeoutExceededError (also TimeoutError)
    ├── RetryExhaustedError                    raised ``from`` the last error; keeps attempts
    ├── SerializationError (also TypeError)    a cache value cannot be encoded or decoded
    ├── WebhookDeliveryError                   a webhook answered outside 2xx (retried)
    ├── WriterClosedError (also RuntimeError)  a durable queue was closed under a write
    └── StorageError                           a durable store could not take or give data
        ├── StoreCorruptError                  failed an integrity check: never written again
        ├── StorageFullError                   disk or size cap full; nothing was written
        └── BackendUnavailableError            the store's server did not answer (retry)

Rejected versus failed lets callers shed load differently from handling failures.
A :class:`StorageError` is not a rejection: a write that timed out may still have been
applied, so it is retried (the durable queues make such a retry idempotent) rather
than shed.


>>> try:
...     raise CircuitOpenError("payments", remaining=2.5, state="OPEN")
... except RejectedError as rejected:
...     (rejected.policy, rejected.retry_after)
('payments', 2.5)
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailableError",
    "BulkheadFullError",
    "CircuitOpenError",
    "CircuitOpenException",
    "ConfigError",
    "ConnectionUnavailableError",
    "LimitExceededError",
    "PoolExhaustedError",
    "QueueFullError",
    "RateLimitedError",
    "RebellionError",
    "RejectedError",
    "RetryExhaustedError",
    "SerializationError",
    "StorageError",
    "StorageFullError",
    "StoreCorruptError",
    "TimeoutCapacityError",
    "TimeoutExceededError",
    "WebhookDeliveryError",
    "WriterClosedError",
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
        super().__init__(f"{parameter} must be {rule}, got {_shown(value)}")

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


class PoolExhaustedError(RejectedError):
    """No connection became free within ``acquire_timeout`` (the pool is at max size)."""


class ConnectionUnavailableError(RejectedError):
    """The managed connection is not CONNECTED right now; ``retry_after`` hints when."""


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


class SerializationError(RebellionError, TypeError):
    """A value cannot be encoded (or a payload decoded) by the cache's serialiser.

    Attributes:
        value_type: the type name of the offending value (``None`` when decoding).
        serializer: the serialiser's name.
    """

    def __init__(self, message: str, value_type: str | None, serializer: str) -> None:
        self.value_type = value_type
        self.serializer = serializer
        super().__init__(message)

    def __reduce__(self) -> tuple[type[Exception], tuple[object, ...]]:
        return (type(self), (str(self), self.value_type, self.serializer))


class WebhookDeliveryError(RebellionError):
    """The receiver answered with a status outside 2xx (the queue will retry)."""

    def __init__(self, url: str, status: int) -> None:
        self.url = url
        self.status = status
        super().__init__(f"webhook {url} answered HTTP {status}")

    def __reduce__(self) -> tuple[type[Exception], tuple[object, ...]]:
        return (type(self), (self.url, self.status))


class WriterClosedError(RebellionError, RuntimeError):
    """The durable queue was closed; nothing more can be written."""


def _shown(value: object) -> str:
    """Return a short repr: a huge int or a long text must not hide the message."""
    try:
        text = repr(value)
    except ValueError:  # an int beyond sys.get_int_max_str_digits()
        return f"an integer of {value.bit_length()} bits" if isinstance(value, int) else "?"
    return text if len(text) <= 200 else text[:197] + "..."


class StorageError(RebellionError):
    """A durable store (a SQLite file, a Redis server) could not take or give data.

    The operation that raised it was not acknowledged: an ``enqueue`` that raises
    returned no id, so the caller still owns the request.

    Attributes:
        store: name of the queue or cache tier whose store failed.
        retry_after: seconds after which a new attempt may succeed, if known.
    """

    def __init__(self, store: str, message: str, retry_after: float | None = None) -> None:
        self.store = store
        self.message = message
        self.retry_after = retry_after
        super().__init__(message)

    def __reduce__(self) -> tuple[type[Exception], tuple[object, ...]]:
        return (type(self), (self.store, self.message, self.retry_after))


class StoreCorruptError(StorageError):
    """The store's file failed an integrity check, or SQLite found it malformed.

    A store refused this way is never written to again: fix or move the file aside
    (``sqlite3 damaged.db .recover``) and open a new one.
    """


class StorageFullError(StorageError):
    """The disk, or the size cap the store was given, is full; nothing was written."""


class BackendUnavailableError(StorageError):
    """The store's server did not answer (down, unreachable, frozen or overloaded).

    The write may or may not have been applied; ``retry_after`` says when to try again.
    """
