"""The memory tier: an exact LRU with per-entry TTL, hot-key protection and a shadow LRU.

Reads are lock-free (one dict lookup, one expiry check, one ``move_to_end``); writes and
evictions take a lock. Expired entries stay until their *stale* deadline so that a
failing loader can still be answered with the last value (serve-stale-on-error).

**Hot-key protection.** When the cache is full, the least recently used entry is
evicted unless it is *hot* (``hot_key_hits`` hits since it was inserted or last
rescued): a hot entry is moved to the fresh end with its count reset, so it must earn
protection again, and the next candidate is examined (at most ``_MAX_RESCUES`` per
eviction, so a cache full of hot keys still evicts).

**Shadow LRU.** To report what the optimiser gains, a key-only plain LRU with the same
(scaled) capacity and fixed TTLs, and no protection or preloading, replays the same
accesses for a sample of keys (spatial sampling, as in SHARDS: a key is sampled when its
hash falls in the first ``sample_rate`` of the hash space; capacity scales by the rate).

>>> from rebellion.testing import ManualClock
>>> clock = ManualClock()
>>> tier = MemoryTier(2, clock, hot_key_hits=2, sample_rate=1.0)
>>> tier.set(("ns", "a"), 1, ttl=10, base_ttl=10, stale=0)
>>> tier.get("a", "ns"), tier.get("zzz", "ns")
(1, None)
"""

from __future__ import annotations

import threading
import zlib
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, final

from .._clock import Clock
from ..policies._counter import AtomicCounter

__all__ = ["Entry", "MemoryTier", "sampled"]

_MAX_RESCUES = 8
_INF = float("inf")
Key = tuple[str, str]


def sampled(k: Key, threshold: int) -> bool:
    """Whether ``k`` is in the shadow sample (a stable hash: the same in every process)."""
    return (zlib.crc32(f"{k[0]}\0{k[1]}".encode()) & 0xFFFF) < threshold


@final
class Entry:
    """One cached value and what the optimiser needs to know about it."""

    __slots__ = (
        "base_expires",
        "created",
        "expires",
        "hits",
        "hits_before",
        "preloaded",
        "rescued",
        "sampled",
        "stale_until",
        "value",
        "watched",
    )

    def __init__(
        self,
        value: object,
        created: float,
        expires: float,
        base_expires: float,
        stale_until: float,
        sampled: bool,
    ) -> None:
        self.value = value
        self.created = created
        self.expires = expires
        # Past the TTL the caller (or the default) asked for; INF when not extended.
        self.base_expires = base_expires
        self.stale_until = stale_until
        self.hits = 0
        self.hits_before = 0  # hits before the last rescue (hot-key protection)
        self.preloaded = False
        self.rescued = False
        self.sampled = sampled
        # One flag on the hot path for the rare entries that need more bookkeeping.
        self.watched = sampled or base_expires != _INF


@final
class MemoryTier:
    """Bounded LRU map of ``(namespace, key)`` to :class:`Entry` with TTLs."""

    def __init__(
        self, capacity: int, clock: Clock, *, hot_key_hits: int | None, sample_rate: float
    ) -> None:
        self.capacity = capacity
        self.clock = clock
        self._monotonic = clock.monotonic
        self.data: OrderedDict[Hashable, Entry] = OrderedDict()
        self.lock = threading.Lock()
        self.hot_key_hits = hot_key_hits
        self.miss = AtomicCounter()
        self._miss = self.miss.increment
        self.beyond_base = AtomicCounter()
        self._beyond = self.beyond_base.increment
        self.evictions = 0
        self.expired = 0
        self.hot_rescues = 0
        self.rescued_hits = 0
        self.preload_hits = 0
        self.preload_wasted = 0
        # Shadow plain LRU (key -> fixed expiry) over the sampled keys.
        self.sample_threshold = int(sample_rate * 65536)
        self.shadow_capacity = max(1, round(capacity * sample_rate)) if sample_rate else 0
        self.shadow: OrderedDict[Hashable, float] = OrderedDict()
        self.shadow_hits = AtomicCounter()
        self.sampled_hits = AtomicCounter()
        self.sampled_misses = AtomicCounter()
        self._shadow_hits = self.shadow_hits.increment
        self._sampled_hits = self.sampled_hits.increment
        self._sampled_misses = self.sampled_misses.increment
        self.retired_hits = 0

    # -- reads ---------------------------------------------------------------------

    def get(self, key: str, namespace: str = "default", default: Any = None) -> Any:
        """Return the fresh value of ``key`` or ``default`` (the sync fast path)."""
        k = (namespace, key)
        entry = self.data.get(k)
        if entry is not None:
            now = self._monotonic()
            if entry.expires > now:
                entry.hits += 1
                try:
                    self.data.move_to_end(k)
                except KeyError:  # evicted by another thread meanwhile: still a hit
                    pass
                if entry.watched:
                    self._watched_hit(entry, k, now)
                return entry.value
        self._miss()
        if self.sample_threshold and sampled(k, self.sample_threshold):
            self._shadow_get(k, self._monotonic(), False)
        return default

    def _watched_hit(self, entry: Entry, k: Key, now: float) -> None:
        if entry.base_expires < now:
            self._beyond()
        if entry.sampled:
            self._shadow_get(k, now, True)

    def hits(self) -> int:
        """Return memory hits so far: retired entries' hits plus live entries' hits."""
        with self.lock:
            live = sum(e.hits + e.hits_before for e in self.data.values())
            return self.retired_hits + live

    def peek(self, k: Key) -> Entry | None:
        """Return the entry (fresh, stale or expired) without touching LRU or counters."""
        return self.data.get(k)

    def _shadow_get(self, k: Key, now: float, real_hit: bool) -> None:
        # Lock-free: each dict operation is atomic; a key the writer evicts meanwhile
        # is simply a shadow miss.
        if real_hit:
            self._sampled_hits()
        else:
            self._sampled_misses()
        expires = self.shadow.get(k)
        if expires is not None and expires > now:
            try:
                self.shadow.move_to_end(k)
            except KeyError:
                return
            self._shadow_hits()

    def shadow_counts(self) -> tuple[int, int, int]:
        """Return (sampled reads, real hits among them, shadow-LRU hits among them)."""
        hits = self.sampled_hits.value
        return hits + self.sampled_misses.value, hits, self.shadow_hits.value

    # -- writes --------------------------------------------------------------------

    def set(
        self,
        k: Key,
        value: object,
        *,
        ttl: float,
        base_ttl: float,
        stale: float,
        preloaded: bool = False,
    ) -> None:
        """Insert or replace ``k`` with a TTL (``base_ttl`` is what was asked for)."""
        if self.capacity == 0:
            return
        now = self._monotonic()
        expires = now + ttl
        base = now + base_ttl if base_ttl < ttl else _INF
        in_sample = sampled(k, self.sample_threshold) if self.sample_threshold else False
        entry = Entry(value, now, expires, base, expires + stale, in_sample)
        entry.preloaded = preloaded
        with self.lock:
            old = self.data.pop(k, None)
            if old is not None:
                self._retire(old)
            self.data[k] = entry
            if len(self.data) > self.capacity:
                self._evict_one(now)
            if in_sample and not preloaded:
                self.shadow[k] = now + base_ttl
                self.shadow.move_to_end(k)
                if len(self.shadow) > self.shadow_capacity:
                    self.shadow.popitem(last=False)

    def delete(self, k: Key) -> bool:
        """Remove ``k``; return whether it was present."""
        with self.lock:
            entry = self.data.pop(k, None)
            self.shadow.pop(k, None)
            if entry is not None:
                self._retire(entry)
        return entry is not None

    def clear_namespace(self, namespace: str) -> int:
        """Remove every key of ``namespace``; return how many were removed."""
        with self.lock:
            doomed = [k for k in self.data if k[0] == namespace]  # type: ignore[index]
            for k in doomed:
                self._retire(self.data.pop(k))
            for k in [k for k in self.shadow if k[0] == namespace]:  # type: ignore[index]
                del self.shadow[k]
        return len(doomed)

    def _evict_one(self, now: float) -> None:
        # Expired-and-past-stale entries go first: they are dead weight.
        data = self.data
        threshold = self.hot_key_hits
        for _ in range(_MAX_RESCUES + 1):
            k, entry = next(iter(data.items()))
            if entry.stale_until <= now:
                self.expired += 1
                break
            if threshold is None or entry.hits < threshold:
                self.evictions += 1
                break
            # Hot: give it another lap; it must earn protection again.
            self.hot_rescues += 1
            if entry.rescued:
                self.rescued_hits += entry.hits
            entry.hits_before += entry.hits
            entry.hits = 0
            entry.rescued = True
            data.move_to_end(k)
        else:
            k, entry = next(iter(data.items()))
            self.evictions += 1
        del data[k]
        self._retire(entry)

    def _retire(self, entry: Entry) -> None:
        """Fold a leaving entry's hits into the optimiser's counters (lock held)."""
        self.retired_hits += entry.hits + entry.hits_before
        if entry.rescued:
            self.rescued_hits += entry.hits
        if entry.preloaded:
            if entry.hits:
                self.preload_hits += 1
            else:
                self.preload_wasted += 1

    def live_counts(self) -> tuple[int, int, int, int]:
        """Return (rescued hits, preloads used, preloads unused yet, size) incl. live entries."""
        with self.lock:
            entries = list(self.data.values())
        rescued = self.rescued_hits + sum(e.hits for e in entries if e.rescued)
        used = self.preload_hits + sum(1 for e in entries if e.preloaded and e.hits)
        pending = sum(1 for e in entries if e.preloaded and not e.hits)
        return rescued, used, pending, len(entries)

    def top_keys(self, n: int) -> list[tuple[str, str, int]]:
        """Return the ``n`` live entries with the most hits as (namespace, key, hits)."""
        with self.lock:
            items = list(self.data.items())
        items.sort(key=lambda item: item[1].hits, reverse=True)
        return [(k[0], k[1], e.hits) for k, e in items[:n]]  # type: ignore[index]

    def __len__(self) -> int:
        return len(self.data)
