"""Durable request queues: one RequestQueue over a store, SQLite or Redis Streams.

``PersistentRequestQueue(path)`` is ``RequestQueue(SqliteQueueStore(path))`` and
``RedisRequestQueue(url)`` is ``RequestQueue(RedisQueueStore(url))``, each built from
one set of arguments; a store of your own implements :class:`QueueStore`.

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
from ._queue import DEFAULT_RETRY_BACKOFF, RequestQueue
from ._request import RetryableRequest
from ._store import NewRequest, QueueStore
from .redis_queue import RedisQueueStore, RedisRequestQueue
from .sqlite import PersistentRequestQueue, SqliteQueueStore

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
