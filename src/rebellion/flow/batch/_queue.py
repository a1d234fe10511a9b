"""The batch processor's waiting items: FIFO, or priority levels with aging.

With aging, an item's effective priority is its level plus one per ``aging`` seconds
waited. Within a level the head is the oldest, so comparing the heads' effective
priorities picks the right item in O(levels): a low-priority item always overtakes
fresh high-priority items after ``(levels - 1) * aging`` seconds - no starvation.

>>> q = PendingQueue(levels=4, aging=1.0)
>>> for i, (level, at) in enumerate([(0, 0.0), (3, 2.5), (3, 2.5)]):
...     q.push(Entry(i, f"item{i}", level, at))
>>> [e.item for e in q.take(3, now=3.0)]   # item0 waited 3 s: effective 0 + 3 = 3
['item0', 'item1', 'item2']
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from typing import Any, final

__all__ = ["Entry", "PendingQueue"]


@final
class Entry:
    """One submitted item and its bookkeeping."""

    __slots__ = ("attempts", "enqueued", "item", "item_id", "priority")

    def __init__(self, item_id: int, item: Any, priority: int, enqueued: float) -> None:
        self.item_id = item_id
        self.item = item
        self.priority = priority
        self.enqueued = enqueued
        self.attempts = 0


@final
class PendingQueue:
    """Waiting entries; not thread-safe (the processor's lock guards it)."""

    __slots__ = ("_aging", "_levels", "size")

    def __init__(self, levels: int, aging: float | None) -> None:
        self._aging = aging
        count = levels if aging is not None else 1
        self._levels: list[deque[Entry]] = [deque() for _ in range(count)]
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def push(self, entry: Entry) -> None:
        """Queue ``entry`` behind its level."""
        level = entry.priority if self._aging is not None else 0
        self._levels[level].append(entry)
        self.size += 1

    def push_front(self, entries: Iterable[Entry]) -> None:
        """Put ``entries`` back at the head of their levels (unfinished work first)."""
        for entry in reversed(list(entries)):
            level = entry.priority if self._aging is not None else 0
            self._levels[level].appendleft(entry)
            self.size += 1

    def oldest(self) -> float | None:
        """Return when the longest-waiting entry was queued, or None if empty."""
        heads = [q[0].enqueued for q in self._levels if q]
        return min(heads) if heads else None

    def take(self, n: int, now: float) -> list[Entry]:
        """Remove up to ``n`` entries in service order."""
        if self._aging is None:
            queue = self._levels[0]
            pop = queue.popleft
            out = [pop() for _ in range(min(n, len(queue)))]
        else:
            out = []
            aging = self._aging
            levels = self._levels
            while len(out) < n and self.size - len(out) > 0:
                best: deque[Entry] | None = None
                best_score, best_since = -1.0, 0.0
                for level in range(len(levels) - 1, -1, -1):
                    queue = levels[level]
                    if queue:
                        since = queue[0].enqueued
                        score = level + (now - since) // aging
                        # Ties go to the longer wait: aging is about fairness.
                        if score > best_score or (score == best_score and since < best_since):
                            best, best_score, best_since = queue, score, since
                assert best is not None
                out.append(best.popleft())
        self.size -= len(out)
        return out

    def counts(self) -> list[int]:
        """Return the number of waiting entries per level (LOW first)."""
        return [len(q) for q in self._levels]

    def drain(self) -> list[Entry]:
        """Remove and return every entry."""
        out = [e for q in self._levels for e in q]
        for q in self._levels:
            q.clear()
        self.size = 0
        return out
