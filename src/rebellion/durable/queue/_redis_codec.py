"""What the Redis store reads back, and what redis-py's errors mean for a queue.

>>> text(b"abc"), text(b"\\xff")
('abc', '\\ufffd')
"""

from __future__ import annotations

from typing import Any

from ...backends.redis import redis_module
from ...errors import BackendUnavailableError, StorageError, StorageFullError
from ._model import DeadLetter
from ._request import decode_payload

__all__ = ["dead_letter", "storage_error", "text"]

_BUSY = ("BUSY", "LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN")


def text(value: Any) -> str:
    """Return ``value`` as text (bytes are decoded, undecodable bytes replaced)."""
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def dead_letter(rid: str, raw: dict[Any, Any]) -> DeadLetter:
    """Build a dead letter from its hash; a damaged one is listed with ``damage`` set."""
    h = {text(k): text(v) for k, v in raw.items()}
    damage = None
    try:
        args, kwargs = decode_payload(raw.get(b"payload", h.get("payload", "")))
    except ValueError as reason:
        args, kwargs, damage = [], {}, str(reason)

    def number(field: str, kind: type[float] | type[int]) -> Any:
        try:
            return kind(h.get(field, "0"))
        except ValueError:
            return kind(0)

    return DeadLetter(
        rid,
        h.get("op", ""),
        args,
        kwargs,
        number("prio", int),
        number("deliveries", int),
        number("retries", int),
        h.get("error", ""),
        number("at", float),
        number("failed", float),
        h.get("key") or None,
        damage,
    )


def storage_error(
    error: BaseException, store: str, where: str, retry_after: float
) -> StorageError | None:
    """Return the rebellion error a redis-py error means, or ``None`` (a bug, not a fault).

    Args:
        error: what redis-py raised.
        store: the queue's name.
        where: ``host:port`` of the server (never the password).
        retry_after: the hint an unavailable server's error carries.
    """
    exc = redis_module().exceptions
    message = str(error)
    if isinstance(error, exc.OutOfMemoryError) or message.startswith("OOM"):
        return StorageFullError(
            store, f"Redis at {where} is out of memory ({message}); nothing written"
        )
    down = (exc.ConnectionError, exc.TimeoutError, exc.ReadOnlyError, OSError)
    busy = isinstance(error, exc.ResponseError) and message.startswith(_BUSY)
    if isinstance(error, down) or busy:
        return BackendUnavailableError(
            store,
            f"Redis at {where} did not answer: {type(error).__name__}: {message or '-'}",
            retry_after=retry_after,
        )
    return None
