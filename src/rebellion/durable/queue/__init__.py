"""Durable request queues: SQLite by default, Redis Streams to share one across hosts.

>>> from rebellion.durable.queue import PersistentRequestQueue, RetryableRequest
>>> PersistentRequestQueue.kind
'durable_queue'
"""

from ._delivery import DeliveryContext, current_delivery
from ._model import (
    DeadLetter,
    Delivery,
    RequestCompleted,
    RequestDeadLettered,
    RequestQuarantined,
    RequestRetryScheduled,
)
from ._request import RetryableRequest
from .redis_queue import RedisRequestQueue
from .sqlite import DEFAULT_RETRY_BACKOFF, PersistentRequestQueue

__all__ = [
    "DEFAULT_RETRY_BACKOFF",
    "DeadLetter",
    "Delivery",
    "DeliveryContext",
    "PersistentRequestQueue",
    "RedisRequestQueue",
    "RequestCompleted",
    "RequestDeadLettered",
    "RequestQuarantined",
    "RequestRetryScheduled",
    "RetryableRequest",
    "current_delivery",
]
