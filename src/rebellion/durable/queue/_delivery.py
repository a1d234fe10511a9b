"""The delivery a handler is running, reachable from inside the handler.

A handler is a plain function of its arguments; when long work needs to keep its lease,
it asks for its delivery and extends it:

>>> current_delivery() is None
True
"""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, final

from ._model import Delivery

if TYPE_CHECKING:
    from ._worker import WorkerLoop

__all__ = ["CURRENT", "DeliveryContext", "current_delivery", "describe"]

CURRENT: contextvars.ContextVar[DeliveryContext | None] = contextvars.ContextVar(
    "rebellion_queue_delivery", default=None
)


def current_delivery() -> DeliveryContext | None:
    """Return the delivery the running handler is processing (``None`` outside one)."""
    return CURRENT.get()


@final
class DeliveryContext:
    """What a handler can do about its own delivery: read it, extend its lease."""

    __slots__ = ("_queue", "delivery")

    def __init__(self, queue: WorkerLoop, delivery: Delivery) -> None:
        self._queue = queue
        self.delivery = delivery

    async def extend(self, seconds: float) -> bool:
        """Keep the lease for ``seconds`` more from now; ``False`` if it was already lost."""
        return await self._queue.extend_lease(self.delivery, seconds)


def describe(error: BaseException) -> str:
    """Return ``"Type: message"`` for the dead-letter table, bounded in length."""
    text = f"{type(error).__qualname__}: {error}"
    return text if len(text) <= 2000 else text[:1997] + "..."
