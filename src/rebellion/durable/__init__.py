"""Durable work: a persistent, prioritised, at-least-once request queue.

>>> from rebellion.durable import PersistentRequestQueue, RetryableRequest
>>> RetryableRequest(operation_func="send_webhook", args=["http://example.test"]).operation
'send_webhook'
"""

from .queue import (
    DEFAULT_RETRY_BACKOFF,
    DeadLetter,
    Delivery,
    DeliveryContext,
    NewRequest,
    PersistentRequestQueue,
    QueueStore,
    RedisQueueStore,
    RedisRequestQueue,
    RequestCompleted,
    RequestDeadLettered,
    RequestQuarantined,
    RequestQueue,
    RequestRetryScheduled,
    RetryableRequest,
    SqliteQueueStore,
    current_delivery,
)

__all__ = [
    "DEFAULT_RETRY_BACKOFF",
    "DeadLetter",
    "Delivery",
    "DeliveryContext",
    "NewRequest",
    "PersistentRequestQueue",
    "QueueStore",
    "RedisQueueStore",
    "RedisRequestQueue",
    "RequestCompleted",
    "RequestDeadLettered",
    "RequestQuarantined",
    "RequestQueue",
    "RequestRetryScheduled",
    "RetryableRequest",
    "SqliteQueueStore",
    "current_delivery",
]
