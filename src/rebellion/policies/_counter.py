"""A counter whose increment is one C call, for statistics on hot paths.

``itertools.count.__next__`` runs without releasing the GIL, so concurrent increments
from many threads are never lost and cost no lock. Reading takes a lock (reads are rare:
``stats()``), and compensates for the increment a read itself performs.

>>> hits = AtomicCounter()
>>> bump = hits.increment
>>> _ = bump(), bump()
>>> hits.value, hits.value
(2, 2)
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import final

__all__ = ["AtomicCounter"]


@final
class AtomicCounter:
    """Count events from any thread without a lock on the increment.

    Bind :attr:`increment` once (``tick = counter.increment``) and call it on the hot
    path; read :attr:`value` for snapshots.
    """

    __slots__ = ("_count", "_lock", "_reads", "increment")

    def __init__(self) -> None:
        self._count = itertools.count()
        self.increment: Callable[[], int] = self._count.__next__
        self._reads = 0
        self._lock = threading.Lock()

    @property
    def value(self) -> int:
        """Return how many times :attr:`increment` has been called."""
        with self._lock:
            # Reading advances the count too; subtract the reads made so far.
            raw = next(self._count) - self._reads
            self._reads += 1
        return raw

    def __repr__(self) -> str:
        return f"AtomicCounter({self.value})"
