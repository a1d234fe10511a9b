"""The backpressure state machine: admission, eviction, sampling and counters.

No events, no waiting, no clock: :class:`BufferCore` decides under its own lock and
reports what happened; :class:`~rebellion.flow.BackpressureHandler` drives it from sync
and async code and turns the reports into events.

Counters are exact. The one lock-free path ("latest" without sampling or listeners)
appends to a ``deque(maxlen=...)``, which evicts by itself, and bumps an
``itertools.count`` (atomic in CPython); its evictions are *derived*:
``evicted = accepted - delivered - buffered``.

>>> core = BufferCore(SamplingStrategy.OLDEST, 2, adaptive=False,
...                   thresholds=(), rng=random.Random(1))
>>> [core.offer(x, 0, count_full=True)[0] for x in "abc"]
[True, True, False]
>>> core.take(5), core.counts()
(['a', 'b'], (2, {'overflow_newest': 1}))
"""

from __future__ import annotations

import itertools
import random
import threading
from collections import deque
from typing import Generic, TypeVar, final

from ._bp_config import DropReason, SamplingStrategy
from ._levels import PriorityBuffer

__all__ = ["BufferCore"]

T = TypeVar("T")

_HYSTERESIS = 0.05  # a sampling level is left only once the fill is this far below it


@final
class BufferCore(Generic[T]):
    """Bounded storage plus exact accounting; every method is thread-safe."""

    __slots__ = (
        "_admitted",
        "_drops",
        "_reads",
        "_rng",
        "_seen",
        "_thresholds",
        "_tick",
        "adaptive",
        "admit",
        "buffer",
        "delivered",
        "latest",
        "levels",
        "lock",
        "max_size",
        "pending",
        "strategy",
        "stride",
        "track_pending",
    )

    def __init__(
        self,
        strategy: SamplingStrategy,
        max_size: int,
        *,
        adaptive: bool,
        thresholds: tuple[tuple[float, int], ...],
        rng: random.Random,
    ) -> None:
        self.strategy = strategy
        self.max_size = max_size
        self.adaptive = adaptive
        self._thresholds = thresholds
        self._rng = rng
        self.lock = threading.Lock()
        bounded = strategy in (SamplingStrategy.LATEST, SamplingStrategy.SAMPLE)
        self.buffer: deque[T] = deque(maxlen=max_size if bounded else None)
        self.levels: PriorityBuffer[T] = PriorityBuffer()
        self.latest = strategy is SamplingStrategy.LATEST
        self._admitted = itertools.count()
        self.admit = self._admitted.__next__
        self._reads = 0
        self.delivered = 0
        self._drops: dict[str, int] = {}
        self.track_pending = False  # set while someone listens: drops to report
        self.pending: dict[str, int] = {}
        self.stride = 1
        self._tick = 0
        self._seen = 0

    def __len__(self) -> int:
        if self.strategy is SamplingStrategy.PRIORITY:
            return len(self.levels)
        return len(self.buffer)

    def offer(self, item: T, priority: float, *, count_full: bool) -> tuple[bool | None, int]:
        """Admit (True), reject (False) or refuse a full "block" buffer (None).

        Returns:
            The verdict and the sampling stride if it changed (else 0).
        """
        with self.lock:
            size = len(self)
            changed = 0
            if self.adaptive:
                stride = self._level(size)
                if stride != self.stride:
                    self.stride, self._tick, changed = stride, 0, stride
                if stride > 1:
                    self._tick += 1
                    if self._tick % stride != 1:
                        self._drop(DropReason.SAMPLED_OUT)
                        return False, changed
            return self._place(item, priority, size, count_full), changed

    def _level(self, size: int) -> int:
        fill = size / self.max_size
        stride = 1
        for threshold, level_stride in self._thresholds:
            if fill >= threshold or (
                level_stride <= self.stride and fill >= threshold - _HYSTERESIS
            ):
                stride = level_stride
        return stride

    def _place(self, item: T, priority: float, size: int, count_full: bool) -> bool | None:
        strategy = self.strategy
        full = size >= self.max_size
        if strategy is SamplingStrategy.LATEST:
            if full and self.track_pending:
                key = DropReason.OVERFLOW_OLDEST.value
                self.pending[key] = self.pending.get(key, 0) + 1
            self.buffer.append(item)  # the deque evicts; the count is derived
        elif not full:
            if strategy is SamplingStrategy.PRIORITY:
                self.levels.push(item, priority)
            else:
                self.buffer.append(item)
        elif strategy is SamplingStrategy.OLDEST:
            self._drop(DropReason.OVERFLOW_NEWEST)
            return False
        elif strategy is SamplingStrategy.PRIORITY:
            if priority < self.levels.lowest():
                self._drop(DropReason.REJECTED_LOW_PRIORITY)
                return False
            self.levels.evict_lowest()
            self._drop(DropReason.EVICTED_LOW_PRIORITY)
            self.levels.push(item, priority)
        elif strategy is SamplingStrategy.SAMPLE:
            # Reservoir sampling: the k-th item offered replaces a slot with odds size/k.
            self._seen = max(self._seen, size) + 1
            slot = self._rng.randrange(self._seen)
            if slot >= size:
                self._drop(DropReason.SAMPLED_OUT)
                return False
            self.buffer[slot] = item
            self._drop(DropReason.REPLACED_BY_SAMPLE)
        else:  # BLOCK
            if count_full:
                self._drop(DropReason.REJECTED_FULL)
            return None
        self.admit()
        return True

    def _drop(self, reason: DropReason) -> None:
        reason_key = reason.value  # plain strings in snapshots
        self._drops[reason_key] = self._drops.get(reason_key, 0) + 1
        if self.track_pending:
            self.pending[reason_key] = self.pending.get(reason_key, 0) + 1

    def take(self, n: int) -> list[T]:
        """Remove and return up to ``n`` items in delivery order."""
        with self.lock:
            if self.strategy is SamplingStrategy.PRIORITY:
                batch = self.levels.take(n)
            else:
                buffer = self.buffer
                pop = buffer.popleft
                batch = [pop() for _ in range(min(n, len(buffer)))]
                if self.strategy is SamplingStrategy.SAMPLE:
                    self._seen = len(buffer)  # a fresh reservoir for what arrives next
            self.delivered += len(batch)
        return batch

    def _accepted(self) -> int:
        # Reading an itertools.count advances it: compensate for our own reads.
        value = next(self._admitted) - self._reads
        self._reads += 1
        return value

    def counts(self) -> tuple[int, dict[str, int]]:
        """Return ``(accepted, drops by reason)``, derived "latest" evictions included."""
        with self.lock:
            return self.counts_locked()

    def counts_locked(self) -> tuple[int, dict[str, int]]:
        """Like :meth:`counts`, for a caller that already holds :attr:`lock`."""
        accepted = self._accepted()
        drops = dict(self._drops)
        if self.latest:
            evicted = accepted - self.delivered - len(self.buffer)
            if evicted > 0:
                drops[DropReason.OVERFLOW_OLDEST.value] = evicted
        return accepted, drops
