"""Flow-control groups: the rate limiter's not-limited path and the bulkhead's success path.

Every limiter is configured so that the measured run is never limited (a huge rate),
so the figures are the cost of *asking*: one permit per operation. Peers are used the
way their documentation shows. The bulkhead is compared with a bare semaphore
guarding the same await.

>>> [g.name for g in groups()]
['ratelimit_not_limited', 'bulkhead_success']
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from _common import (
    Contender,
    Group,
    ainc,
    async_passthrough,
    baseline_contenders,
    inc,
    passthrough,
)
from _harness import Op, Runner
from _targets import at_most_times, faster_by

__all__ = ["TARGETS", "groups"]

_HUGE_RATE = 1e12
_OK: dict[str, Any] = {"args": (1,), "returns": 2}
_names = iter(range(1_000_000))


def _name(prefix: str) -> str:
    return f"bench-{prefix}-{next(_names)}"


class LockedTokenBucket:
    """The textbook token bucket a team would write by hand: refill and take under a lock."""

    __slots__ = ("capacity", "lock", "rate", "stamp", "tokens")

    def __init__(self, rate: float, capacity: float) -> None:
        self.rate, self.capacity = rate, capacity
        self.tokens = capacity
        self.stamp = time.monotonic()
        self.lock = threading.Lock()

    def try_acquire(self, n: int = 1) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            if self.tokens >= n:
                self.tokens -= n
                return True
            return False


# -- rate limiter contenders ----------------------------------------------------------------


def _rebellion_limiter() -> Any:
    from rebellion import RateLimiter

    return RateLimiter(rate=_HUGE_RATE, name=_name("limiter"))


def _ours_try(runner: Runner) -> Op:
    return Op(fn=_rebellion_limiter().try_acquire, args=(1,), returns=True)


def _ours_await(runner: Runner) -> Op:
    return Op(fn=_rebellion_limiter().acquire_async, args=(1,), is_async=True, returns=None)


def _ours_decorator(runner: Runner) -> Op:
    return Op(fn=_rebellion_limiter()(ainc), is_async=True, **_OK)


def _ours_decorator_sync(runner: Runner) -> Op:
    return Op(fn=_rebellion_limiter()(inc), **_OK)


def _aiolimiter() -> Any:
    from aiolimiter import AsyncLimiter

    return AsyncLimiter(_HUGE_RATE, 1)


def _aiolimiter_await(runner: Runner) -> Op:
    return Op(fn=_aiolimiter().acquire, args=(1,), is_async=True, returns=None)


def _aiolimiter_with(runner: Runner) -> Op:
    limiter = _aiolimiter()

    async def guarded(x: int) -> int:
        async with limiter:
            return await ainc(x)

    return Op(fn=guarded, is_async=True, **_OK)


def _limits_fixed_window(runner: Runner) -> Op:
    from limits import RateLimitItemPerSecond
    from limits.storage import MemoryStorage
    from limits.strategies import FixedWindowRateLimiter

    limiter = FixedWindowRateLimiter(MemoryStorage())
    item = RateLimitItemPerSecond(10**12)
    return Op(fn=limiter.hit, args=(item, "bench"), returns=True)


def _pyresilience(runner: Runner) -> Op:
    from pyresilience import RateLimiter, RateLimiterConfig

    acquire = RateLimiter(RateLimiterConfig(max_calls=10**12, period=1.0)).acquire

    def take(_: int) -> bool:
        return acquire()

    return Op(fn=take, args=(1,), returns=True)


def _hand_written(runner: Runner) -> Op:
    return Op(fn=LockedTokenBucket(_HUGE_RATE, _HUGE_RATE).try_acquire, args=(1,), returns=True)


# -- bulkhead contenders -------------------------------------------------------------------


def _semaphore(runner: Runner) -> Op:
    semaphore = asyncio.Semaphore(10)

    async def guarded(x: int) -> int:
        async with semaphore:
            return await ainc(x)

    return Op(fn=guarded, is_async=True, **_OK)


def _thread_semaphore(runner: Runner) -> Op:
    semaphore = threading.BoundedSemaphore(10)

    def guarded(x: int) -> int:
        with semaphore:
            return inc(x)

    return Op(fn=guarded, **_OK)


def _bulkhead() -> Any:
    from rebellion import Bulkhead

    return Bulkhead(_name("bulkhead"), max_concurrent=10, max_queue=100)


def _ours_bulkhead(runner: Runner) -> Op:
    return Op(fn=_bulkhead()(ainc), is_async=True, **_OK)


def _ours_bulkhead_with(runner: Runner) -> Op:
    bulkhead = _bulkhead()

    async def guarded(x: int) -> int:
        async with bulkhead:
            return await ainc(x)

    return Op(fn=guarded, is_async=True, **_OK)


def _ours_bulkhead_sync(runner: Runner) -> Op:
    return Op(fn=_bulkhead()(inc), **_OK)


# -- groups and targets ---------------------------------------------------------------------

_RL = "ratelimit_not_limited"
_BH = "bulkhead_success"


def groups() -> list[Group]:
    """Return the rate-limiter and bulkhead groups."""
    limiter = Group(
        _RL,
        "Rate limiter, not limited: ask for one permit (and run the callee where decorated)",
        [
            Contender("rebellion limiter.try_acquire()", "rebellion", _ours_try),
            Contender("rebellion await limiter.acquire_async()", "rebellion", _ours_await),
            Contender("rebellion @limiter", "rebellion", _ours_decorator_sync),
            Contender("rebellion @limiter (async)", "rebellion", _ours_decorator),
            Contender("aiolimiter await acquire()", "aiolimiter", _aiolimiter_await),
            Contender("aiolimiter async with", "aiolimiter", _aiolimiter_with),
            Contender("limits FixedWindow hit", "limits", _limits_fixed_window),
            Contender("pyresilience RateLimiter.acquire", "pyresilience", _pyresilience),
            Contender("hand-written locked token bucket", "python", _hand_written),
        ],
        notes=[
            "pyresilience's acquire takes no argument: a one-line wrapper adapts it to the "
            "harness (~30-40 ns of the figure).",
            "rebellion's not-limited path takes no lock on a GIL build (a call-free "
            "read-modify-write of one timestamp); free-threaded builds take a lock.",
        ],
    )
    bulkhead = Group(
        _BH,
        "Bulkhead, free slots: run the callee under the concurrency cap",
        [
            *baseline_contenders(
                (inc, passthrough(inc), _OK), (ainc, async_passthrough(ainc), _OK)
            ),
            Contender("asyncio.Semaphore async with", "python", _semaphore),
            Contender("rebellion @bulkhead (async)", "rebellion", _ours_bulkhead),
            Contender("rebellion async with bulkhead", "rebellion", _ours_bulkhead_with),
            Contender("threading.BoundedSemaphore with", "python", _thread_semaphore),
            Contender("rebellion @bulkhead", "rebellion", _ours_bulkhead_sync),
        ],
    )
    return [limiter, bulkhead]


TARGETS = [
    faster_by(_RL, "rebellion await limiter.acquire_async()", "aiolimiter await acquire()", 3.0),
    faster_by(_RL, "rebellion @limiter (async)", "aiolimiter async with", 3.0),
    faster_by(_RL, "rebellion limiter.try_acquire()", "limits FixedWindow hit", 10.0),
    at_most_times(_RL, "rebellion limiter.try_acquire()", "hand-written locked token bucket", 1.0),
    at_most_times(_BH, "rebellion @bulkhead (async)", "asyncio.Semaphore async with", 1.3),
    at_most_times(_BH, "rebellion async with bulkhead", "asyncio.Semaphore async with", 1.3),
]
"""The rate limiters' and bulkhead's targets."""
