"""Per-key rate limits (per user, per tenant, per client IP) with bounded key memory.

Each key has its own GCRA bucket: the in-process limiter's
:class:`~rebellion.policies.ratelimit._gcra.GcraCore`, so a key waits, gives back and
re-rates exactly as :class:`RateLimiter` does. At most ``max_keys`` keys are remembered;
the least recently used one is forgotten first. **A key whose bucket is
full again is equivalent to a key never seen**, so forgetting it loses nothing: only a
key evicted while still *in debt* (used within the last ``burst / rate`` period) gets
a fresh bucket too early, and ``stats().evicted_in_debt`` counts those. Size
``max_keys`` above the number of keys active within one such period.

>>> from rebellion.testing import ManualClock
>>> clock = ManualClock()
>>> per_user = KeyedRateLimiter(rate=1, burst=1, max_keys=1000, clock=clock)
>>> per_user.try_acquire("alice"), per_user.try_acquire("alice"), per_user.try_acquire("bob")
(True, False, True)
>>> clock.advance(1.0)
>>> per_user.try_acquire("alice")
True
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from contextlib import nullcontext
from typing import Any, ClassVar, final

from ..._clock import Clock
from ..._driver import Paced
from ..._events import EventStream, Listener
from ..._registry import registry
from ..._validate import check_clock, check_int, check_name, check_number
from ...errors import ConfigError, RateLimitedError
from ..snapshots import KeyedRateLimiterSnapshot
from ._events import RateChanged, RateLimitExceeded
from ._gcra import GcraCore, check_cost, check_rate

__all__ = ["KeyedRateLimiter"]

INF = float("inf")
NAN = float("nan")


@final
class KeyedRateLimiter(Paced):
    """A :class:`RateLimiter` per key, sharing one configuration and one LRU of keys.

    Args:
        rate: tokens per ``per`` seconds for each key (> 0).
        per: the period of ``rate`` in seconds.
        burst: bucket size of each key (default: ``rate``, at least 1).
        max_keys: how many keys are remembered (least recently used evicted first).
        key: a function of the guarded call's arguments returning its key; needed to
            use the limiter as a policy (decorator, ``call``, ``execute``, pipeline);
            ``with limiter:`` blocks call it with no arguments (a key kept in a context
            variable, say).
        max_wait: seconds a guarded call may wait for its turn (0: refuse at once).
        name: shown in errors, events, statistics and the dashboard.
        clock: time source (``ManualClock`` in tests).
        listeners: callables receiving :class:`RateLimitExceeded` / :class:`RateChanged`.

    Raises:
        ConfigError: a parameter is out of range.
    """

    kind: ClassVar[str] = "keyed_rate_limiter"

    def __init__(
        self,
        rate: float,
        *,
        per: float = 1.0,
        burst: float | None = None,
        max_keys: int = 10_000,
        key: Callable[..., Hashable] | None = None,
        max_wait: float = 0.0,
        name: str = "keyed_rate_limiter",
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.name = check_name("name", name)
        self._rate, self._per, self._burst = check_rate(rate, per, burst)
        self.max_keys = check_int("max_keys", max_keys, minimum=1)
        if key is not None and not callable(key):
            raise ConfigError("key", "a function of the call's arguments, or None", key)
        self._key = key
        self.max_wait = check_number("max_wait", max_wait, minimum=0.0, allow_inf=True)
        self._clock = check_clock(clock)
        self.events = EventStream(self.name, listeners)
        self._lock = threading.Lock()
        self._buckets: OrderedDict[Hashable, GcraCore] = OrderedDict()
        # A new key's bucket is a clone of this one. Buckets are only touched under this
        # limiter's lock, so their own is a no-op.
        self._shape = GcraCore(self._rate, self._per, self._burst, nullcontext())
        self.admitted = self.rejected = self.cancelled = self.evicted = self.evicted_in_debt = 0
        registry.track(self)

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def burst(self) -> float:
        return self._burst

    def set_rate(self, rate: float, burst: float | None = None) -> None:
        """Change every key's rate (and optionally burst) now, keeping their debts in tokens.

        Raises:
            ConfigError: ``rate`` or ``burst`` is out of range.
        """
        r, p, b = check_rate(rate, self._per, self._burst if burst is None else burst)
        now = self._clock.monotonic()
        with self._lock:
            old_rate, old_burst = self._rate, self._burst
            for bucket in (self._shape, *self._buckets.values()):
                bucket.set_rate(r, p, b, now)
            self._rate, self._burst = r, b
        if self.events.active:
            self.events.emit(RateChanged(self.name, self._clock.wall(), old_rate, r, old_burst, b))

    # -- core ----------------------------------------------------------------------------

    def _reserve(self, key: Hashable, n: int, max_wait: float) -> tuple[float, float, float]:
        """Return ``(wait, at, token)``; ``token`` is NaN when refused (nothing reserved)."""
        now = self._clock.monotonic()
        with self._lock:
            buckets = self._buckets
            bucket = buckets.get(key)
            fresh = bucket is None
            if bucket is None:
                bucket = self._shape.clone()
            if max_wait > 0.0 or bucket.holes:
                wait, at, token = bucket.reserve(n, now, max_wait)
            else:  # a refusal or a turn now: the bucket's quick take, under our lock
                wait = bucket.take_held(n, now)
                at, token = now + wait, NAN if wait else bucket.tat
            if token != token:
                self.rejected += 1
                if not fresh:  # a refused key is in debt: keep it from eviction
                    buckets.move_to_end(key)
                return wait, at, token
            self.admitted += 1
            if not fresh:
                buckets.move_to_end(key)
            else:
                buckets[key] = bucket
                if len(buckets) > self.max_keys:
                    _, oldest = buckets.popitem(last=False)
                    self.evicted += 1
                    self.evicted_in_debt += oldest.tat > now
        return wait, at, token

    def _give_back(self, key: Hashable, n: int, at: float, token: float) -> None:
        now = self._clock.monotonic()
        with self._lock:
            if at <= now:
                return
            self.admitted -= 1
            self.cancelled += 1
            bucket = self._buckets.get(key)
            if bucket is not None:  # an evicted key's reservation has nothing to return
                bucket.give_back(n, at, token, now)

    def _refuse(self, key: Hashable, n: int, wait: float) -> RateLimitedError:
        if self.events.active:
            event = RateLimitExceeded(self.name, self._clock.wall(), n, wait, str(key))
            self.events.emit(event)
        return RateLimitedError(
            self.name,
            f"rate limiter {self.name!r}: key {key!r} over {self._rate:g} per {self._per:g}s "
            f"(retry in {wait:.3g}s)",
            wait,
        )

    # -- permits -------------------------------------------------------------------------

    def try_acquire(self, key: Hashable, n: int = 1) -> bool:
        """Take ``n`` tokens of ``key``'s bucket if available now; never wait."""
        if n != 1:
            check_cost(n, self._burst)
        wait, _, token = self._reserve(key, n, 0.0)
        if token != token:
            if self.events.active:
                event = RateLimitExceeded(self.name, self._clock.wall(), n, wait, str(key))
                self.events.emit(event)
            return False
        return True

    def acquire(self, key: Hashable, n: int = 1, *, max_wait: float | None = None) -> None:
        """Wait (blocking) until ``key`` may take ``n`` tokens.

        Raises:
            RateLimitedError: the turn would come later than ``max_wait`` seconds.
        """
        limit = INF if max_wait is None else check_number("max_wait", max_wait, minimum=0.0)
        if n != 1:
            check_cost(n, self._burst)
        wait, at, token = self._reserve(key, n, limit)
        if token != token:
            raise self._refuse(key, n, wait)
        if wait > 0:
            try:
                self._clock.sleep(wait)
            except BaseException:
                self._give_back(key, n, at, token)
                raise

    async def acquire_async(
        self, key: Hashable, n: int = 1, *, max_wait: float | None = None
    ) -> None:
        """Wait (cancellably) until ``key`` may take ``n`` tokens.

        Raises:
            RateLimitedError: the turn would come later than ``max_wait`` seconds.
        """
        limit = INF if max_wait is None else check_number("max_wait", max_wait, minimum=0.0)
        if n != 1:
            check_cost(n, self._burst)
        wait, at, token = self._reserve(key, n, limit)
        if token != token:
            raise self._refuse(key, n, wait)
        if wait > 0:
            try:
                await self._clock.sleep_async(wait)
            except BaseException:
                self._give_back(key, n, at, token)
                raise

    # -- drivers -------------------------------------------------------------------------

    def _key_of(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Hashable:
        if self._key is None:
            raise ConfigError(
                "key", "a function of the call's arguments (to guard calls with it)", None
            )
        return self._key(*args, **kwargs)

    def _turn_sync(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        wait = None if self.max_wait == INF else self.max_wait
        self.acquire(self._key_of(args, kwargs), max_wait=wait)

    def _turn_async(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Awaitable[None]:
        wait = None if self.max_wait == INF else self.max_wait
        return self.acquire_async(self._key_of(args, kwargs), max_wait=wait)

    # -- observation ---------------------------------------------------------------------

    def stats(self) -> KeyedRateLimiterSnapshot:
        """Return a snapshot: limits, remembered keys and lifetime counters."""
        with self._lock:
            keys = len(self._buckets)
        return KeyedRateLimiterSnapshot(
            kind=self.kind,
            name=self.name,
            rate=self._rate,
            per=self._per,
            burst=self._burst,
            max_wait=self.max_wait,
            key_count=keys,
            max_keys=self.max_keys,
            admitted=self.admitted,
            rejections=self.rejected,
            cancelled=self.cancelled,
            evicted=self.evicted,
            evicted_in_debt=self.evicted_in_debt,
        )

    def __repr__(self) -> str:
        return f"KeyedRateLimiter(name={self.name!r}, rate={self._rate:g}/{self._per:g}s)"
