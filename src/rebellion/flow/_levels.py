"""Buffer shapes behind the backpressure strategies that need more than a deque.

:class:`PriorityBuffer` keeps one FIFO per priority level: delivery takes the highest
level first, eviction takes the oldest item of the lowest level. Levels are few in
practice, so a sorted list of the levels in use is cheaper than a heap of items.

>>> buffer = PriorityBuffer()
>>> for item, priority in [("a", 1), ("b", 5), ("c", 1)]:
...     buffer.push(item, priority)
>>> buffer.lowest(), buffer.evict_lowest(), buffer.take(5)
(1, 'a', ['b', 'c'])
"""

from __future__ import annotations

import bisect
from collections import deque
from typing import Generic, TypeVar, final

__all__ = ["PriorityBuffer"]

T = TypeVar("T")


@final
class PriorityBuffer(Generic[T]):
    """Items grouped by priority; not thread-safe (the handler's lock guards it)."""

    __slots__ = ("_levels", "_queues", "size")

    def __init__(self) -> None:
        self._queues: dict[float, deque[T]] = {}
        self._levels: list[float] = []  # sorted ascending, only non-empty levels
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def push(self, item: T, priority: float) -> None:
        """Append ``item`` at the back of its level."""
        queue = self._queues.get(priority)
        if queue is None:
            queue = self._queues[priority] = deque()
            bisect.insort(self._levels, priority)
        queue.append(item)
        self.size += 1

    def lowest(self) -> float:
        """Return the lowest priority present (the buffer must not be empty)."""
        return self._levels[0]

    def evict_lowest(self) -> T:
        """Remove and return the oldest item of the lowest level."""
        level = self._levels[0]
        queue = self._queues[level]
        item = queue.popleft()
        if not queue:
            del self._queues[level]
            self._levels.pop(0)
        self.size -= 1
        return item

    def take(self, n: int) -> list[T]:
        """Remove and return up to ``n`` items, highest level first, FIFO within a level."""
        out: list[T] = []
        levels = self._levels
        while n > 0 and levels:
            level = levels[-1]
            queue = self._queues[level]
            k = min(n, len(queue))
            pop = queue.popleft
            out.extend([pop() for _ in range(k)])
            n -= k
            if not queue:
                del self._queues[level]
                levels.pop()
        self.size -= len(out)
        return out

    def counts(self) -> dict[float, int]:
        """Return how many items wait at each level (highest first)."""
        return {level: len(self._queues[level]) for level in reversed(self._levels)}
