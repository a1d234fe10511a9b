"""Access-pattern statistics, adaptive TTL and related-key prediction for the cache.

Everything here learns from the async read path (``get``/``get_or_load``); the sync
memory fast path only bumps per-entry hit counts, which the memory tier folds in.

**Adaptive TTL** applies only when a value is stored *without* an explicit TTL (an
explicit ``ttl_seconds`` is a freshness contract and is kept exactly). From a key's
recorded reads it computes the hit ratio and the reads expected within one default
TTL, then picks a factor: ``max_factor`` for keys read often and served well, 2 for
moderately hot ones, ``0.5`` for keys read less than once per TTL, else 1; the result
is clamped to ``[min_ttl, max_ttl]``.

**Related keys** are learned from read order: if reading ``B`` followed reading ``A``
(in the same namespace) at least ``min_count`` times and in at least ``confidence`` of
``A``'s successors, a read of ``A`` preloads ``B`` from the lower tiers into memory.
``relate()`` declares relations explicitly.

>>> from rebellion.testing import ManualClock
>>> clock = ManualClock()
>>> opt = Optimizer(clock, default_ttl=60, min_ttl=10, max_ttl=240)
>>> for _ in range(20):
...     related = opt.record_get("ns", "hot", hit=True)
...     clock.advance(1)
>>> opt.ttl_for("ns", "hot")
240.0
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import final

from .._clock import Clock

__all__ = ["KeyStats", "Optimizer"]

_MAX_SUCCESSORS = 4
_MIN_SAMPLES = 3


@final
class KeyStats:
    """Reads of one key: how many, how many hit, and since when."""

    __slots__ = ("first", "gets", "hits")

    def __init__(self, now: float) -> None:
        self.first = now
        self.gets = 0
        self.hits = 0


@final
class Optimizer:
    """Learn from reads; decide TTLs and which keys to preload."""

    def __init__(
        self,
        clock: Clock,
        *,
        default_ttl: float,
        min_ttl: float,
        max_ttl: float,
        max_factor: float = 4.0,
        capacity: int = 10_000,
        min_count: int = 2,
        confidence: float = 0.5,
    ) -> None:
        self.clock = clock
        self.default_ttl = default_ttl
        self.min_ttl = min_ttl
        self.max_ttl = max_ttl
        self.max_factor = max_factor
        self.capacity = capacity
        self.min_count = min_count
        self.confidence = confidence
        self.lock = threading.Lock()
        self.keys: dict[tuple[str, str], KeyStats] = {}
        self.successors: dict[tuple[str, str], dict[str, int]] = {}
        self.predicted: dict[tuple[str, str], tuple[str, ...]] = {}
        self.declared: dict[tuple[str, str], tuple[str, ...]] = {}
        self.last_key: dict[str, str] = {}
        self.ttl_extended = 0
        self.ttl_shortened = 0
        self.ttl_default = 0

    # -- learning -----------------------------------------------------------------

    def record_get(self, namespace: str, key: str, *, hit: bool) -> tuple[str, ...]:
        """Record one read of ``key``; return the keys worth preloading after it.

        Lock-free: every step is a single dict or attribute operation, and a race
        between threads can at worst lose one count of a heuristic.
        """
        k = (namespace, key)
        stats = self.keys.get(k)
        if stats is None:
            stats = self.keys[k] = KeyStats(self.clock.monotonic())
            if len(self.keys) > self.capacity:
                self._forget()
        stats.gets += 1
        if hit:
            stats.hits += 1
        previous = self.last_key.get(namespace)
        if previous != key:
            self.last_key[namespace] = key
            if previous is not None:
                self._count_successor((namespace, previous), key)
        return self.predicted.get(k, ())

    def _forget(self) -> None:
        # Drop the least read half: cheap, rare, and keeps the hot keys' history.
        with self.lock:
            if len(self.keys) <= self.capacity:
                return
            ranked = sorted(self.keys.items(), key=lambda kv: kv[1].gets)
            for k, _ in ranked[: len(ranked) // 2]:
                self.keys.pop(k, None)
                self.successors.pop(k, None)
                self.predicted.pop(k, None)

    def _count_successor(self, k: tuple[str, str], successor: str) -> None:
        with self.lock:
            table = self.successors.get(k)
            if table is None:
                table = self.successors[k] = {}
            if successor not in table and len(table) >= _MAX_SUCCESSORS:
                weakest = min(table, key=table.__getitem__)
                del table[weakest]
            table[successor] = table.get(successor, 0) + 1
            self._predict(k)

    def _predict(self, k: tuple[str, str]) -> None:
        declared = self.declared.get(k, ())
        table = self.successors.get(k) or {}
        total = sum(table.values())
        learned = tuple(
            successor
            for successor, count in table.items()
            if count >= self.min_count
            and count >= self.confidence * total
            and successor not in declared
        )
        related = declared + learned
        if related:
            self.predicted[k] = related
        else:
            self.predicted.pop(k, None)

    def relate(self, namespace: str, key: str, related: Iterable[str]) -> None:
        """Declare that reading ``key`` is usually followed by reading ``related``."""
        k = (namespace, key)
        with self.lock:
            self.declared[k] = tuple(related)
            self._predict(k)

    def related(self, namespace: str, key: str) -> tuple[str, ...]:
        """Return the keys worth preloading after a read of ``key``."""
        return self.predicted.get((namespace, key), ())

    # -- adaptive TTL ---------------------------------------------------------------

    def ttl_for(
        self,
        namespace: str,
        key: str,
        base: float | None = None,
        bounds: tuple[float, float] | None = None,
    ) -> float:
        """Return the TTL for a value stored without an explicit one.

        ``base`` (default ``default_ttl``) is the TTL to adapt and ``bounds`` the
        ``(min, max)`` clamp (default ``(min_ttl, max_ttl)``).
        """
        base = self.default_ttl if base is None else base
        low, high = (self.min_ttl, self.max_ttl) if bounds is None else bounds
        with self.lock:
            stats = self.keys.get((namespace, key))
            factor = 1.0
            if stats is not None and stats.gets >= _MIN_SAMPLES:
                span = max(self.clock.monotonic() - stats.first, 1e-9)
                per_ttl = stats.gets / span * base
                ratio = stats.hits / stats.gets
                if per_ttl >= 10 and ratio >= 0.8:
                    factor = self.max_factor
                elif per_ttl >= 3 and ratio >= 0.5:
                    factor = 2.0
                elif per_ttl < 1:
                    factor = 0.5
            ttl = float(min(high, max(low, base * factor)))
            if ttl > base:
                self.ttl_extended += 1
            elif ttl < base:
                self.ttl_shortened += 1
            else:
                self.ttl_default += 1
        return ttl

    def top_keys(self, n: int) -> list[dict[str, object]]:
        """Return the ``n`` most read keys with their read counts and hit ratios."""
        items = list(self.keys.items())
        items.sort(key=lambda kv: kv[1].gets, reverse=True)
        items = items[:n]
        return [
            {
                "namespace": k[0],
                "key": k[1],
                "gets": s.gets,
                "hit_ratio": s.hits / s.gets if s.gets else 0.0,
            }
            for k, s in items
        ]
