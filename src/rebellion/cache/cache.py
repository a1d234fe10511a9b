"""The tiered cache: memory (LRU + TTL) -> disk (SQLite) -> Redis, with read-through.

A read tries the tiers fastest first and copies a value found lower down into the
faster tiers (with its remaining TTL). A write goes to every tier. Redis sits behind a
circuit breaker: when it fails, callers see no exception and the local tiers carry on.

>>> import asyncio, tempfile
>>> cache = DistributedCache(memory_cache_size=100, disk_cache_dir=tempfile.mkdtemp())
>>> async def demo():
...     await cache.put("user:1", {"name": "Ada"}, "users", ttl_seconds=60)
...     return await cache.get("user:1", "users"), cache.get_local("user:1", "users")
>>> asyncio.run(demo())
({'name': 'Ada'}, {'name': 'Ada'})
>>> cache.close_local()
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Awaitable, Callable, Iterable
from os import PathLike
from typing import Any, ClassVar, TypeVar, final

from .._clock import Clock
from .._events import EventStream, Listener
from .._policy import resolve
from .._registry import registry
from .._validate import check_callable, check_clock, check_name, check_optional_duration
from ..policies.circuit_breaker import CircuitBreaker
from ._config import CacheConfig, check_key
from ._disk import DiskTier
from ._events import StaleValueServed
from ._memory import MemoryTier
from ._metrics import TierMetrics
from ._optimizer import Optimizer
from ._redis_tier import RedisTier
from ._report import optimization_report
from ._serial import make_serializer

__all__ = ["DEFAULT_NAMESPACE", "DistributedCache"]

T = TypeVar("T")
DEFAULT_NAMESPACE = "default"
_MISSING: Any = object()
_TIME_EVERY = 63
Key = tuple[str, str]


@final
class DistributedCache:
    """A multi-level cache: memory, then an optional disk file, then optional Redis.

    Args:
        memory_cache_size: entries kept in memory (0 disables the memory tier); default
            ``REBELLION_CACHE_MEMORY_SIZE`` or 1000.
        disk_cache_dir: directory of the SQLite file (None: ``REBELLION_CACHE_DISK_DIR``
            or no disk tier).
        redis_url: ``redis://`` URL (None: ``REBELLION_CACHE_REDIS_URL`` or no Redis).
        name: shown in events, statistics and the Redis breaker's name.
        default_ttl: seconds a value lives when ``put`` gets no ``ttl_seconds``; default
            ``REBELLION_CACHE_DEFAULT_TTL`` or 300.
        stale_grace: seconds an expired value may still be served when a loader fails.
        serializer: ``"json"`` (default), ``"msgpack"`` or ``"pickle"``. **pickle runs
            code on decode**: choose it only if every writer of the disk directory and
            the Redis namespace is trusted.
        adaptive_ttl: adapt the TTL of values stored without ``ttl_seconds`` to how
            often and how well they are read (within ``min_ttl``..``max_ttl``).
        min_ttl: lower bound of adaptive TTLs (default: half of ``default_ttl``).
        max_ttl: upper bound of adaptive TTLs (default: four times ``default_ttl``).
        hot_key_hits: hits that make an entry *hot* and spare it one LRU eviction
            (None disables hot-key protection).
        preload: preload keys learned (or declared with :meth:`relate`) to follow a read.
        baseline_sample_rate: share of keys replayed in a plain shadow LRU to measure
            what the optimiser gains (0 disables the measurement).
        redis_prefix: prefix of every Redis key this cache writes.
        redis_timeout: socket timeout of Redis calls, seconds.
        redis_failure_threshold: consecutive Redis failures that open its breaker.
        redis_reset_timeout: seconds the Redis breaker stays open before a probe.
        clock: time source (tests pass a ``ManualClock``).
        listeners: callables receiving this cache's events.

    Raises:
        ConfigError: a parameter is out of range (the message names it).
    """

    kind: ClassVar[str] = "cache"

    def __init__(
        self,
        memory_cache_size: int | None = None,
        disk_cache_dir: str | PathLike[str] | None = None,
        redis_url: str | None = None,
        *,
        name: str = "cache",
        default_ttl: float | None = None,
        stale_grace: float = 60.0,
        serializer: str = "json",
        adaptive_ttl: bool = True,
        min_ttl: float | None = None,
        max_ttl: float | None = None,
        hot_key_hits: int | None = 4,
        preload: bool = True,
        baseline_sample_rate: float = 0.125,
        redis_prefix: str = "rebellion:cache",
        redis_timeout: float = 0.5,
        redis_failure_threshold: int = 3,
        redis_reset_timeout: float = 5.0,
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.name = check_name("name", name)
        self.config = cfg = CacheConfig.create(
            memory_cache_size=memory_cache_size,
            disk_cache_dir=disk_cache_dir,
            redis_url=redis_url,
            default_ttl=default_ttl,
            stale_grace=stale_grace,
            serializer=serializer,
            adaptive_ttl=adaptive_ttl,
            min_ttl=min_ttl,
            max_ttl=max_ttl,
            hot_key_hits=hot_key_hits,
            preload=preload,
            baseline_sample_rate=baseline_sample_rate,
            redis_prefix=redis_prefix,
            redis_timeout=redis_timeout,
            redis_failure_threshold=redis_failure_threshold,
            redis_reset_timeout=redis_reset_timeout,
        )
        self._clock = clock = check_clock(clock)
        self.events = EventStream(self.name, listeners)
        self._serializer = make_serializer(cfg.serializer)
        self._memory = MemoryTier(
            cfg.memory_cache_size,
            clock,
            hot_key_hits=cfg.hot_key_hits,
            sample_rate=cfg.baseline_sample_rate,
        )
        # The sync fast path is the memory tier's own bound method: no extra frame.
        self.get_local = self._memory.get  # type: ignore[method-assign]
        self._disk = DiskTier(cfg.disk_cache_dir, clock) if cfg.disk_cache_dir else None
        self.redis_breaker: CircuitBreaker | None = None
        self._redis: RedisTier | None = None
        if cfg.redis_url is not None:
            import redis.exceptions as rx

            self.redis_breaker = CircuitBreaker(
                f"{self.name}.redis",
                failure_threshold=cfg.redis_failure_threshold,
                reset_timeout=cfg.redis_reset_timeout,
                failure_on=(rx.ConnectionError, rx.TimeoutError, OSError, TimeoutError),
                clock=clock,
            )
            self._redis = RedisTier(
                cfg.redis_url,
                prefix=cfg.redis_prefix,
                timeout=cfg.redis_timeout,
                breaker=self.redis_breaker,
                clock=clock,
                events=self.events,
            )
        self._optimizer = Optimizer(
            clock, default_ttl=cfg.default_ttl, min_ttl=cfg.min_ttl, max_ttl=cfg.max_ttl
        )
        self._metrics = {"memory": TierMetrics("memory")}
        if self._disk is not None:
            self._metrics["disk"] = TierMetrics("disk")
        if self._redis is not None:
            self._metrics["redis"] = TierMetrics("redis")
        self._preloading = cfg.preload and (self._disk is not None or self._redis is not None)
        self._tick = itertools.count(1)
        self._flights: dict[Key, asyncio.Task[Any]] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._preloads: set[Key] = set()
        self.counts = {
            "loads": 0,
            "load_errors": 0,
            "coalesced": 0,
            "stale_served": 0,
            "preloads_started": 0,
            "preloads_found": 0,
        }
        registry.track(self)

    # -- reads ---------------------------------------------------------------------

    def get_local(self, key: str, namespace: str = DEFAULT_NAMESPACE, default: Any = None) -> Any:
        """Return a fresh value from the memory tier only, without awaiting (the fast path).

        Counts memory hits and misses; learning and preloading happen on :meth:`get`.
        The returned object is the cached one itself (not a copy): do not mutate it.
        """
        return self._memory.get(key, namespace, default)

    async def get(self, key: str, namespace: str = DEFAULT_NAMESPACE, default: Any = None) -> Any:
        """Return the value of ``key``, trying memory, disk then Redis; ``default`` if absent.

        A value found in a lower tier is copied into the faster ones. Redis failures
        are absorbed (and reported through events and ``stats()``).
        """
        if type(key) is not str or type(namespace) is not str or not key or not namespace:
            check_key("key", key)
            check_key("namespace", namespace)
        if next(self._tick) & _TIME_EVERY:
            value = self._memory.get(key, namespace, _MISSING)
        else:  # time one memory lookup in 64: the clock costs as much as the lookup
            monotonic = self._clock.monotonic
            started = monotonic()
            value = self._memory.get(key, namespace, _MISSING)
            self._metrics["memory"].latencies.append(monotonic() - started)
        if value is _MISSING:
            value = await self._lower_get(namespace, key)
            if value is _MISSING:
                self._learn(namespace, key, False)
                return default
        related = self._optimizer.record_get(namespace, key, hit=True)
        if related and self._preloading:
            for other in related:
                self._schedule_preload(namespace, other)
        return value

    def _learn(self, namespace: str, key: str, hit: bool) -> None:
        related = self._optimizer.record_get(namespace, key, hit=hit)
        if related and self._preloading:
            for other in related:
                self._schedule_preload(namespace, other)

    async def _lower_get(self, namespace: str, key: str, *, preload: bool = False) -> Any:
        """Look ``key`` up in disk then Redis, promoting a hit; ``_MISSING`` if absent."""
        monotonic = self._clock.monotonic
        k = (namespace, key)
        cfg = self.config
        if self._disk is not None:
            started = monotonic()
            try:
                found = self._disk.get(namespace, key)
            except Exception:  # a broken disk must not break reads
                self._metrics["disk"].errors += 1
                found = None
            self._metrics["disk"].observe(found is not None, monotonic() - started)
            if found is not None:
                payload, remaining = found
                value = self._serializer.loads(payload)
                self._memory.set(
                    k,
                    value,
                    ttl=remaining,
                    base_ttl=remaining,
                    stale=cfg.stale_grace,
                    preloaded=preload,
                )
                return value
        if self._redis is not None:
            started = monotonic()
            result = await self._redis.get(namespace, key)
            fresh = result is not None and result[1] > 0
            self._metrics["redis"].observe(fresh, monotonic() - started)
            if result is not None and fresh:
                payload, remaining = result
                value = self._serializer.loads(payload)
                self._memory.set(
                    k,
                    value,
                    ttl=remaining,
                    base_ttl=remaining,
                    stale=cfg.stale_grace,
                    preloaded=preload,
                )
                if self._disk is not None:
                    self._disk_set(namespace, key, payload, remaining)
                return value
        return _MISSING

    # -- writes --------------------------------------------------------------------

    async def put(
        self,
        key: str,
        value: object,
        namespace: str = DEFAULT_NAMESPACE,
        ttl_seconds: float | None = None,
    ) -> None:
        """Store ``value`` in every tier for ``ttl_seconds`` (None: the default, adapted).

        Raises:
            SerializationError: ``value`` cannot be encoded (the message names its type);
                nothing is stored.
            ConfigError: ``key``, ``namespace`` or ``ttl_seconds`` is invalid.
        """
        check_key("key", key)
        check_key("namespace", namespace)
        ttl = check_optional_duration("ttl_seconds", ttl_seconds, exclusive_minimum=True)
        payload = self._serializer.dumps(value)  # before any tier changes: all or nothing
        cfg = self.config
        if ttl is None:
            base = cfg.default_ttl
            ttl = self._optimizer.ttl_for(namespace, key) if cfg.adaptive_ttl else base
        else:
            base = ttl
        self._memory.set((namespace, key), value, ttl=ttl, base_ttl=base, stale=cfg.stale_grace)
        self._metrics["memory"].writes += 1
        if self._disk is not None:
            self._disk_set(namespace, key, payload, ttl)
        if self._redis is not None:
            if await self._redis.set(namespace, key, payload, ttl=ttl, stale=cfg.stale_grace):
                self._metrics["redis"].writes += 1
            else:
                self._metrics["redis"].errors += 1

    def _disk_set(self, namespace: str, key: str, payload: bytes, ttl: float) -> None:
        assert self._disk is not None
        try:
            self._disk.set(namespace, key, payload, ttl=ttl, stale=self.config.stale_grace)
            self._metrics["disk"].writes += 1
        except Exception:  # a full or read-only disk degrades to the other tiers
            self._metrics["disk"].errors += 1

    async def delete(self, key: str, namespace: str = DEFAULT_NAMESPACE) -> bool:
        """Remove ``key`` from every tier; return whether any tier held it."""
        check_key("key", key)
        check_key("namespace", namespace)
        found = self._memory.delete((namespace, key))
        if self._disk is not None:
            found = self._disk.delete(namespace, key) or found
        if self._redis is not None:
            await self._redis.delete(namespace, key)
        return found

    async def invalidate_namespace(self, namespace: str) -> int:
        """Remove every key of ``namespace`` from every tier; return the local count."""
        check_key("namespace", namespace)
        removed = self._memory.clear_namespace(namespace)
        if self._disk is not None:
            removed = max(removed, self._disk.clear_namespace(namespace))
        if self._redis is not None:
            await self._redis.clear_namespace(namespace)
        return removed

    def relate(self, key: str, related: Iterable[str], namespace: str = DEFAULT_NAMESPACE) -> None:
        """Declare that a read of ``key`` is usually followed by reads of ``related``."""
        check_key("key", key)
        check_key("namespace", namespace)
        keys = tuple(related)
        for item in keys:
            check_key("related", item)
        self._optimizer.relate(namespace, key, keys)

    # -- single flight, serve stale ---------------------------------------------------

    async def get_or_load(
        self,
        key: str,
        loader: Callable[[], Awaitable[T] | T],
        namespace: str = DEFAULT_NAMESPACE,
        ttl_seconds: float | None = None,
    ) -> T:
        """Return the cached value of ``key``, or run ``loader()`` once and cache it.

        Concurrent callers missing the same key share one load (single flight); a
        caller that is cancelled does not cancel the load for the others. If the
        loader raises and an expired value is still within ``stale_grace``, that value
        is returned instead and :class:`StaleValueServed` is emitted.

        Raises:
            Exception: whatever ``loader`` raised, when no stale value is available.
        """
        check_key("key", key)
        check_key("namespace", namespace)
        check_callable("loader", loader)
        value = self._memory.get(key, namespace, _MISSING)
        if value is not _MISSING:
            self._learn(namespace, key, True)
            result: T = value
            return result
        k = (namespace, key)
        task = self._flights.get(k)
        if task is None:
            task = asyncio.get_running_loop().create_task(
                self._load(namespace, key, loader, ttl_seconds)
            )
            self._flights[k] = task
            task.add_done_callback(lambda done: self._land(k, done))
        else:
            self.counts["coalesced"] += 1
        loaded: T = await asyncio.shield(task)
        return loaded

    def _land(self, k: Key, task: asyncio.Task[Any]) -> None:
        if self._flights.get(k) is task:
            del self._flights[k]
        if not task.cancelled():
            task.exception()  # retrieved here, so an unawaited failure is not logged

    async def _load(
        self, namespace: str, key: str, loader: Callable[[], Any], ttl: float | None
    ) -> Any:
        value = await self._lower_get(namespace, key)
        if value is not _MISSING:
            self._learn(namespace, key, True)
            return value
        self._learn(namespace, key, False)
        self.counts["loads"] += 1
        try:
            value = await resolve(loader())
        except Exception as error:
            self.counts["load_errors"] += 1
            stale = await self._stale(namespace, key)
            if stale is None:
                raise
            value, age = stale
            self.counts["stale_served"] += 1
            if self.events.active:
                self.events.emit(
                    StaleValueServed(
                        self.name, self._clock.wall(), namespace, key, age, type(error).__name__
                    )
                )
            return value
        await self.put(key, value, namespace, ttl)
        return value

    async def _stale(self, namespace: str, key: str) -> tuple[Any, float] | None:
        """Return ``(value, seconds past expiry)`` of an expired value within grace."""
        now = self._clock.monotonic()
        entry = self._memory.peek((namespace, key))
        if entry is not None and entry.stale_until > now:
            return entry.value, max(0.0, now - entry.expires)
        if self._disk is not None:
            found = self._disk.get_stale(namespace, key)
            if found is not None:
                return self._serializer.loads(found[0]), found[1]
        if self._redis is not None:
            result = await self._redis.get(namespace, key)
            if result is not None and -result[1] < self.config.stale_grace:
                return self._serializer.loads(result[0]), max(0.0, -result[1])
        return None

    # -- preloading ----------------------------------------------------------------------

    def _schedule_preload(self, namespace: str, key: str) -> None:
        entry = self._memory.peek((namespace, key))
        if entry is not None and entry.expires > self._clock.monotonic():
            return
        k = (namespace, key)
        if k in self._flights or k in self._preloads:
            return
        self.counts["preloads_started"] += 1
        task = asyncio.get_running_loop().create_task(self._preload(namespace, key))
        self._preloads.add(k)
        self._background.add(task)
        task.add_done_callback(lambda done: self._preloaded(k, done))

    def _preloaded(self, k: Key, task: asyncio.Task[Any]) -> None:
        self._preloads.discard(k)
        self._background.discard(task)
        if not task.cancelled():
            task.exception()

    async def _preload(self, namespace: str, key: str) -> Any:
        value = await self._lower_get(namespace, key, preload=True)
        if value is not _MISSING:
            self.counts["preloads_found"] += 1
        return value

    async def settle(self) -> None:
        """Wait until background preloads have finished (tests and shutdown)."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    # -- observation and lifecycle --------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Return per-tier hits, misses, errors, latencies and the cache's counters."""
        memory = self._memory
        tiers: dict[str, dict[str, Any]] = {t: m.snapshot() for t, m in self._metrics.items()}
        # The sync fast path counts memory hits/misses on the tier itself.
        mem = tiers["memory"]
        mem["hits"], mem["misses"] = memory.hits(), memory.miss.value
        lookups = mem["hits"] + mem["misses"]
        mem["hit_ratio"] = mem["hits"] / lookups if lookups else 0.0
        mem.update(size=len(memory), capacity=memory.capacity, evictions=memory.evictions)
        if self._disk is not None:
            tiers["disk"]["path"] = str(self._disk.path)
        if self._redis is not None and self.redis_breaker is not None:
            tiers["redis"].update(
                errors=self._redis.errors,
                skipped=self._redis.skipped,
                breaker_state=self.redis_breaker.state.value,
            )
        return {"kind": self.kind, "name": self.name, "tiers": tiers, **self.counts}

    def get_optimization_report(self) -> dict[str, Any]:
        """Return what the optimiser did and its measured effect (see ``_report``)."""
        return optimization_report(self)

    async def close(self) -> None:
        """Finish preloads and close the disk file and Redis connections."""
        await self.settle()
        if self._redis is not None:
            await self._redis.close()
        self.close_local()
        registry.retire(self)  # closed: off the dashboard's resilience view

    def close_local(self) -> None:
        """Close the disk file without touching Redis (for code outside an event loop)."""
        if self._disk is not None:
            self._disk.close()

    def __repr__(self) -> str:
        tiers = "+".join(self._metrics)
        return f"DistributedCache(name={self.name!r}, tiers={tiers})"
