"""Rate limiters: an in-process GCRA bucket, per-key buckets, and a Redis-shared one.

>>> from rebellion.testing import ManualClock
>>> limiter = RateLimiter(rate=10, burst=1, clock=ManualClock())
>>> limiter.try_acquire(), limiter.try_acquire()
(True, False)
"""

from ._events import RateChanged, RateLimiterDegraded, RateLimiterRecovered, RateLimitExceeded
from .keyed import KeyedRateLimiter
from .limiter import RateLimiter, get_rate_limiter
from .redis_limiter import RedisRateLimiter

__all__ = [
    "KeyedRateLimiter",
    "RateChanged",
    "RateLimitExceeded",
    "RateLimiter",
    "RateLimiterDegraded",
    "RateLimiterRecovered",
    "RedisRateLimiter",
    "get_rate_limiter",
]
