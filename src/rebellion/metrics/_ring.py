"""A 2-D ring buffer of many series (rows) by a fixed window (columns), NumPy only.

Each row has its own write position, so a series that skips a tick is not shifted.
Appends are vectorised: one fancy-indexed store for all series of a tick, whether
each brings one sample or a batch. Unwritten slots hold NaN.

>>> import numpy as np
>>> ring = SeriesRing(window=4)
>>> ring.ensure_rows(2)
>>> ring.append(np.array([0, 1]), np.array([1.0, 10.0]))
>>> ring.append_batches(np.array([0, 1]), [np.array([2.0, 3.0]), np.array([20.0])])
>>> ring.ordered().tolist()
[[nan, 1.0, 2.0, 3.0], [nan, nan, 10.0, 20.0]]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import final

import numpy as np
import numpy.typing as npt

__all__ = ["SeriesRing"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


@final
class SeriesRing:
    """``rows`` series of the last ``window`` samples each (not thread-safe: owner locks)."""

    __slots__ = ("_buf", "_pos", "rows", "seen", "window")

    def __init__(self, window: int, capacity: int = 16) -> None:
        self.window = window
        self.rows = 0
        self._buf: FloatArray = np.full((capacity, window), np.nan)
        self._pos: IntArray = np.zeros(capacity, dtype=np.int64)
        self.seen: IntArray = np.zeros(capacity, dtype=np.int64)

    def ensure_rows(self, rows: int) -> None:
        """Grow to hold ``rows`` series (capacity doubles; new rows are empty)."""
        if rows > self._buf.shape[0]:
            capacity = max(rows, 2 * self._buf.shape[0])
            buf = np.full((capacity, self.window), np.nan)
            buf[: self.rows] = self._buf[: self.rows]
            pos = np.zeros(capacity, dtype=np.int64)
            pos[: self.rows] = self._pos[: self.rows]
            seen = np.zeros(capacity, dtype=np.int64)
            seen[: self.rows] = self.seen[: self.rows]
            self._buf, self._pos, self.seen = buf, pos, seen
        self.rows = max(self.rows, rows)

    def append(self, rows: IntArray, values: FloatArray) -> None:
        """Append one sample to each of ``rows`` (distinct row indices)."""
        pos = self._pos[rows]
        self._buf[rows, pos] = values
        self._pos[rows] = (pos + 1) % self.window
        self.seen[rows] += 1

    def append_batches(self, rows: IntArray, batches: Sequence[FloatArray]) -> None:
        """Append ``batches[i]`` (oldest first, at most ``window`` long) to ``rows[i]``."""
        lengths = np.fromiter((b.size for b in batches), dtype=np.int64, count=len(batches))
        total = int(lengths.sum())
        if total == 0:
            return
        flat = np.concatenate(batches)
        owner = np.repeat(rows, lengths)
        starts = np.cumsum(lengths) - lengths
        offset = np.arange(total, dtype=np.int64) - np.repeat(starts, lengths)
        cols = (np.repeat(self._pos[rows], lengths) + offset) % self.window
        self._buf[owner, cols] = flat
        self._pos[rows] = (self._pos[rows] + lengths) % self.window
        self.seen[rows] += lengths

    def ordered(self) -> FloatArray:
        """Return a new ``(rows, window)`` array, oldest sample first in every row."""
        n = self.rows
        pos = self._pos[:n]
        buf = self._buf[:n]
        if n == 0:
            return np.empty((0, self.window))
        first = int(pos[0])
        if (pos == first).all():  # every series on the same tick: two slices, no gather
            return np.concatenate((buf[:, first:], buf[:, :first]), axis=1)
        index = (pos[:, None] + np.arange(self.window)) % self.window
        return np.take_along_axis(buf, index, axis=1)
