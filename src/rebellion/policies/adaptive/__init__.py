"""Adaptive concurrency limit: a limit that follows the dependency's latency.

Algorithms from Netflix's concurrency-limits (AIMD, Vegas, Gradient2) are pure objects
(:meth:`LimitAlgorithm.update`), driven by :class:`AdaptiveLimiter`, which hands out
permits, keeps partitions (guaranteed shares per traffic class) and a LIFO backlog.

>>> limiter = AdaptiveLimiter("search", algorithm=VegasLimit(initial_limit=10))
>>> with limiter.acquire() as token:
...     limiter.inflight
1
>>> limiter.limit, limiter.inflight
(10, 0)
"""

from ._algorithms import AIMDLimit, Gradient2Limit, LimitAlgorithm, VegasLimit
from ._core import Token
from ._events import CallShed, LimitChanged
from ._window import SampleWindow
from .limiter import AdaptiveLimiter, PartitionPolicy, get_adaptive_limiter

__all__ = [
    "AIMDLimit",
    "AdaptiveLimiter",
    "CallShed",
    "Gradient2Limit",
    "LimitAlgorithm",
    "LimitChanged",
    "PartitionPolicy",
    "SampleWindow",
    "Token",
    "VegasLimit",
    "get_adaptive_limiter",
]
