"""The seam between the one request queue and where its requests live.

:class:`~rebellion.durable.queue.RequestQueue` decides (validation, ids, retries and
backoff, events, counts); a :class:`QueueStore` only stores, each step one atomic write
(a SQLite transaction, a Redis Lua script). Two stores ship:
:class:`~rebellion.durable.queue.SqliteQueueStore` and
:class:`~rebellion.durable.queue.RedisQueueStore`.

>>> record = NewRequest("a1", 0, "send", '{"args":[],"kwargs":{}}', 3, None, 0.0, 0.0)
>>> record.visible_at
0.0
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Protocol, final, runtime_checkable

from ._model import DeadLetter, Delivery

__all__ = ["CREATED", "DUPLICATE", "FULL", "NewRequest", "QueueStore"]

CREATED: Final = 1
"""``enqueue`` outcome: the request was stored."""
DUPLICATE: Final = 0
"""``enqueue`` outcome: its id or idempotency key was known; the known id is returned."""
FULL: Final = -1
"""``enqueue`` outcome: ``max_size`` requests are queued; nothing was stored."""


@final
@dataclass(frozen=True, slots=True)
class NewRequest:
    """A validated request, ready to store (built by the queue, never by the store).

    Attributes:
        id: the request id (32 hex digits, chosen by the client so a retry can reuse it).
        priority: higher runs first, within the store's ``max_priority``.
        operation: the handler name or import path.
        payload: the JSON-encoded arguments.
        max_retries: retries allowed after the first attempt.
        idempotency_key: the caller's key, or ``None``.
        enqueued_at: wall-clock time of the enqueue.
        visible_at: wall-clock time it may first run.
    """

    id: str
    priority: int
    operation: str
    payload: str
    max_retries: int
    idempotency_key: str | None
    enqueued_at: float
    visible_at: float


@runtime_checkable
class QueueStore(Protocol):
    """Where a :class:`~rebellion.durable.queue.RequestQueue` keeps its requests.

    Every method is one atomic step; a store failure is raised as a
    :class:`~rebellion.errors.StorageError` subclass.

    Attributes:
        name: the queue's name (errors and events carry it).
        backend: a short word for stats (``"sqlite"``, ``"redis"``).
        max_priority: the largest priority magnitude the store orders exactly.
    """

    name: str
    backend: str
    max_priority: int

    async def enqueue(self, record: NewRequest, max_size: int, key_ttl: float) -> tuple[str, int]:
        """Store ``record``; return ``(id, CREATED | DUPLICATE | FULL)``."""
        ...

    def enqueue_sync(self, record: NewRequest, max_size: int, key_ttl: float) -> tuple[str, int]:
        """Blocking :meth:`enqueue`."""
        ...

    async def claim(
        self, now: float, lease: float
    ) -> tuple[list[Delivery], list[tuple[str, int, str]], float | None]:
        """Lease one due request: ``(deliveries, dead-lettered on the way, next due)``."""
        ...

    async def ack(self, delivery: Delivery) -> bool:
        """Remove a completed delivery's request; ``False`` if its lease was lost."""
        ...

    async def fail(self, delivery: Delivery, now: float, delay: float | None, error: str) -> str:
        """Retry after ``delay`` (``None``: dead-letter); ``"retry"|"dead"|"lost"``."""
        ...

    async def release(self, delivery: Delivery, now: float) -> bool:
        """Give a lease back unused (the delivery does not count)."""
        ...

    async def extend(self, delivery: Delivery, until: float) -> bool:
        """Keep a lease until ``until``; ``False`` if it was lost."""
        ...

    def dead_letters(self, limit: int) -> list[DeadLetter]:
        """Return up to ``limit`` dead letters, oldest failure first."""
        ...

    async def replay(self, request_id: str | None, now: float, max_size: int) -> int:
        """Requeue one dead letter (or all); the count moved, ``-1`` if one did not fit."""
        ...

    async def purge_dead_letters(self) -> int:
        """Delete every dead letter; return how many."""
        ...

    def counts(self, now: float) -> dict[str, int]:
        """Return ``pending``, ``delayed``, ``leased``, ``done`` and ``dead``."""
        ...

    def extra_stats(self) -> dict[str, Any]:
        """Return the store's own figures for ``stats()`` (may be empty)."""
        ...

    def close(self) -> None:
        """Release connections and threads (blocking)."""
        ...

    async def aclose(self) -> None:
        """Release connections and threads from inside an event loop."""
        ...

    def abandon(self) -> bool:
        """Release without blocking (the queue was dropped unclosed); ``True`` if held any."""
        ...
