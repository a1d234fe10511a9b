"""Records a durable queue hands out: deliveries, dead letters, and its events.

>>> letter = DeadLetter(id="a1", operation="send", args=[1], kwargs={}, priority=0,
...                     deliveries=4, max_retries=3, last_error="ValueError: boom",
...                     enqueued_at=0.0, failed_at=9.0, idempotency_key=None)
>>> letter.last_error
'ValueError: boom'
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, final

from ..._events import Event

QUARANTINED = "undecodable row: "
"""Prefix of the dead-letter reason of a stored request that could not be decoded."""

__all__ = [
    "QUARANTINED",
    "DeadLetter",
    "Delivery",
    "RequestCompleted",
    "RequestDeadLettered",
    "RequestQuarantined",
    "RequestRetryScheduled",
]


@final
@dataclass(frozen=True, slots=True)
class Delivery:
    """One leased delivery of a request to a worker.

    Attributes:
        id: the request id returned by ``enqueue``.
        operation: the handler name or the function's import path.
        args: decoded positional arguments.
        kwargs: decoded keyword arguments.
        priority: the request's priority (higher is served first).
        attempt: 1 for the first delivery, 2 for the next, ...
        max_retries: retries allowed after the first attempt.
        lease_token: proves this delivery still holds the lease (acks from an expired
            lease are refused, so a slow worker cannot ack someone else's delivery).
        lease_until: wall-clock time the lease expires unless extended.
    """

    id: str
    operation: str
    args: list[Any]
    kwargs: dict[str, Any]
    priority: int
    attempt: int
    max_retries: int
    lease_token: str
    lease_until: float


@final
@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A request that exhausted its retries (or whose leases kept expiring)."""

    id: str
    operation: str
    args: list[Any]
    kwargs: dict[str, Any]
    priority: int
    deliveries: int
    max_retries: int
    last_error: str
    enqueued_at: float
    failed_at: float
    idempotency_key: str | None
    damage: str | None = None
    """Why the stored row could not be decoded (``args``/``kwargs`` are then empty)."""


@dataclass(frozen=True, slots=True)
class RequestCompleted(Event):
    """A delivery's handler returned; the request is gone from the queue."""

    request_id: str
    attempt: int


@dataclass(frozen=True, slots=True)
class RequestRetryScheduled(Event):
    """A delivery failed; the request becomes visible again after ``delay`` seconds."""

    request_id: str
    attempt: int
    delay: float
    error: str


@dataclass(frozen=True, slots=True)
class RequestDeadLettered(Event):
    """A request ran out of attempts and moved to the dead-letter table."""

    request_id: str
    attempt: int
    error: str


@dataclass(frozen=True, slots=True)
class RequestQuarantined(RequestDeadLettered):
    """A stored request could not be decoded; it was dead-lettered with the reason.

    A subclass of :class:`RequestDeadLettered`, so dead-letter listeners see it too.
    """
