"""A cache optimiser that works beside any cache: you report reads, it advises.

The tiered :class:`~rebellion.cache.DistributedCache` has the same learning built in.
:class:`CacheOptimizer` offers it to every other cache (a dict, ``cachetools``, Redis,
a CDN): report each read with :meth:`CacheOptimizer.record` (or wrap the cache's getter
with :meth:`CacheOptimizer.wrap`), then ask for a TTL, the keys worth preloading, the
keys worth warming, and a report. The seed's awaited calls work as written.

>>> import asyncio
>>> from rebellion.testing import ManualClock
>>> clock = ManualClock()
>>> optimizer = CacheOptimizer(CacheOptimizerConfig(hot_key_threshold=5), clock=clock)
>>> store = {"user_123": "Ada", "user_123:prefs": "dark"}
>>> get = optimizer.wrap(store.get)
>>> for _ in range(12):
...     _ = get("user_123"), get("user_123:prefs")
...     clock.advance(1.0)
>>> async def main():
...     await optimizer.start()
...     ttl = await optimizer.optimize_ttl(key="user_123", current_ttl=300)
...     return ttl, await optimizer.get_related_keys(key="user_123")
>>> asyncio.run(main())
(1200.0, ['user_123:prefs'])
"""

from __future__ import annotations

import statistics
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, final

from .._clock import Clock
from .._registry import registry
from .._validate import check_clock, check_fraction, check_int, check_name, check_number
from ..errors import ConfigError
from ._optimizer import Optimizer

__all__ = ["CacheOptimizer", "CacheOptimizerConfig"]

V = TypeVar("V")
_NAMESPACE = "default"


@final
@dataclass(frozen=True, slots=True)
class CacheOptimizerConfig:
    """What the optimiser learns and advises (the seed's ``ChuckNorrisConfig`` keys).

    Attributes:
        pattern_window_size: recent read intervals kept per key to classify its access
            pattern (``periodic``, ``bursty``, ``irregular``).
        ttl_adaptation_enabled: adapt TTLs (False: :meth:`CacheOptimizer.optimize_ttl`
            returns the current TTL).
        preloading_enabled: predict the keys that follow a read.
        warming_enabled: list hot keys to warm after a restart.
        hot_key_threshold: reads that make a key hot.
        spatial_locality_threshold: share of a key's successors a related key must
            account for, in (0, 1].
        max_preload_queue_size: related keys queued for preloading at most.
        max_keys: keys tracked at most (the least read half is forgotten beyond it).
    """

    pattern_window_size: int = 50
    ttl_adaptation_enabled: bool = True
    preloading_enabled: bool = True
    warming_enabled: bool = True
    hot_key_threshold: int = 100
    spatial_locality_threshold: float = 0.5
    max_preload_queue_size: int = 100
    max_keys: int = 10_000

    def __post_init__(self) -> None:
        check_int("pattern_window_size", self.pattern_window_size, minimum=2)
        check_int("hot_key_threshold", self.hot_key_threshold, minimum=1)
        check_fraction(
            "spatial_locality_threshold", self.spatial_locality_threshold, allow_zero=False
        )
        check_int("max_preload_queue_size", self.max_preload_queue_size, minimum=0)
        check_int("max_keys", self.max_keys, minimum=1)
        for flag in ("ttl_adaptation_enabled", "preloading_enabled", "warming_enabled"):
            if not isinstance(getattr(self, flag), bool):
                raise ConfigError(flag, "True or False", getattr(self, flag))


@final
class CacheOptimizer:
    """Learn from reads reported by any cache; advise TTLs, preloads and warm-up keys.

    Args:
        config: a :class:`CacheOptimizerConfig` (defaults if None).
        name: name in statistics and the registry census.
        clock: time source of read rates and access patterns.

    Raises:
        ConfigError: a parameter is invalid; the message names it.
    """

    kind: ClassVar[str] = "cache_optimizer"

    def __init__(
        self,
        config: CacheOptimizerConfig | None = None,
        *,
        name: str = "cache_optimizer",
        clock: Clock | None = None,
    ) -> None:
        if config is None:
            config = CacheOptimizerConfig()
        elif not isinstance(config, CacheOptimizerConfig):
            raise ConfigError("config", "a CacheOptimizerConfig or None", config)
        self.config = config
        self.name = check_name("name", name)
        self._clock = check_clock(clock)
        self._learner = Optimizer(
            self._clock,
            default_ttl=300.0,
            min_ttl=1.0,
            max_ttl=float("inf"),
            capacity=config.max_keys,
            confidence=config.spatial_locality_threshold,
        )
        self._lock = threading.Lock()
        self._intervals: dict[str, deque[float]] = {}
        self._last_read: dict[str, float] = {}
        self._sizes: dict[str, int] = {}
        self.preload_queue: deque[str] = deque(maxlen=max(1, config.max_preload_queue_size))
        self.running = False
        registry.track(self)

    # -- reporting reads -----------------------------------------------------------------

    def record(self, key: str, hit: bool, size_bytes: int | None = None) -> list[str]:
        """Record one read of ``key``; return the related keys queued for preloading.

        Raises:
            ConfigError: ``key`` is not a non-empty string or ``size_bytes`` is negative.
        """
        check_name("key", key)
        if size_bytes is not None:
            self._sizes[key] = check_int("size_bytes", size_bytes, minimum=0)
        now = self._clock.monotonic()
        with self._lock:
            last = self._last_read.get(key)
            self._last_read[key] = now
            if last is not None:
                window = self._intervals.get(key)
                if window is None:
                    window = self._intervals[key] = deque(maxlen=self.config.pattern_window_size)
                window.append(now - last)
        related = self._learner.record_get(_NAMESPACE, key, hit=bool(hit))
        if not self.config.preloading_enabled or self.config.max_preload_queue_size == 0:
            return []
        with self._lock:
            queued = [k for k in related if k not in self.preload_queue]
            self.preload_queue.extend(queued)
        return queued

    def wrap(self, get: Callable[[str], V | None]) -> Callable[[str], V | None]:
        """Return ``get`` (any cache's lookup, ``None`` on a miss) reporting every read."""

        def observed(key: str) -> V | None:
            value = get(key)
            self.record(key, value is not None)
            return value

        return observed

    # -- advice --------------------------------------------------------------------------

    def ttl(self, key: str, current_ttl: float) -> float:
        """Return the TTL to use for ``key`` instead of ``current_ttl`` (within /2..x4).

        Raises:
            ConfigError: ``current_ttl`` is not a number > 0.
        """
        base = check_number("current_ttl", current_ttl, minimum=0.0, exclusive_minimum=True)
        if not self.config.ttl_adaptation_enabled:
            return float(base)
        return self._learner.ttl_for(_NAMESPACE, key, base, (base / 2, base * 4))

    def related(self, key: str) -> list[str]:
        """Return the keys usually read right after ``key`` (empty if preloading is off)."""
        if not self.config.preloading_enabled:
            return []
        return list(self._learner.related(_NAMESPACE, key))

    def relate(self, key: str, related: list[str]) -> None:
        """Declare that a read of ``key`` is usually followed by reads of ``related``."""
        self._learner.relate(_NAMESPACE, check_name("key", key), related)

    def warm_keys(self, limit: int = 100) -> list[str]:
        """Return up to ``limit`` hot keys, most read first (empty if warming is off)."""
        if not self.config.warming_enabled:
            return []
        top = self._learner.top_keys(check_int("limit", limit, minimum=1))
        threshold = self.config.hot_key_threshold
        return [str(row["key"]) for row in top if int(str(row["gets"])) >= threshold]

    def pattern(self, key: str) -> str:
        """Classify ``key``'s reads: ``periodic``, ``bursty``, ``irregular`` or ``unknown``."""
        with self._lock:
            gaps = list(self._intervals.get(key, ()))
        if len(gaps) < 3:
            return "unknown"
        mean = statistics.fmean(gaps)
        if mean <= 0:
            return "bursty"
        spread = statistics.pstdev(gaps) / mean
        return "periodic" if spread < 0.3 else "bursty" if spread > 1.5 else "irregular"

    def report(self) -> dict[str, Any]:
        """Return reads, hit ratio, hot keys with their patterns, relations and TTL changes."""
        learner = self._learner
        keys = list(learner.keys.values())
        gets = sum(s.gets for s in keys)
        hits = sum(s.hits for s in keys)
        hot = [
            {
                **row,
                "pattern": self.pattern(str(row["key"])),
                "bytes": self._sizes.get(str(row["key"])),
            }
            for row in learner.top_keys(10)
            if int(str(row["gets"])) >= self.config.hot_key_threshold
        ]
        with learner.lock:
            relations = sum(len(t) for t in learner.successors.values())
            ttl = {
                "extended": learner.ttl_extended,
                "shortened": learner.ttl_shortened,
                "unchanged": learner.ttl_default,
            }
        return {
            "name": self.name,
            "keys_tracked": len(keys),
            "reads": gets,
            "hit_ratio": hits / gets if gets else None,
            "hot_keys": hot,
            "relations_learned": relations,
            "preload_queue": len(self.preload_queue),
            "ttl_adjustments": ttl,
            "bytes_tracked": sum(self._sizes.values()),
        }

    def stats(self) -> dict[str, Any]:
        """Return the report (for the registry census)."""
        return self.report()

    # -- the seed's awaited calls ----------------------------------------------------------

    async def start(self) -> None:
        """Mark the optimiser running (idempotent); it needs no background task."""
        self.running = True

    async def stop(self) -> None:
        """Mark the optimiser stopped; what it learnt stays."""
        self.running = False

    async def record_access(self, key: str, hit: bool, size_bytes: int | None = None) -> list[str]:
        """Do what :meth:`record` does (the seed's awaited form)."""
        return self.record(key, hit, size_bytes)

    async def optimize_ttl(self, key: str, current_ttl: float) -> float:
        """Do what :meth:`ttl` does (the seed's awaited form)."""
        return self.ttl(key, current_ttl)

    async def get_related_keys(self, key: str) -> list[str]:
        """Do what :meth:`related` does (the seed's awaited form)."""
        return self.related(key)

    async def get_optimization_report(self) -> dict[str, Any]:
        """Do what :meth:`report` does (the seed's awaited form)."""
        return self.report()

    def __repr__(self) -> str:
        return f"CacheOptimizer(name={self.name!r}, keys={len(self._learner.keys)})"
