"""Per-series anomaly scores for a collector, and the atomic write of its snapshot.

>>> scores = SeriesScores()
>>> for i in range(300):
...     _ = scores.update("latency", {"route": "/a"}, 10.0 + 0.1 * (i % 7))
>>> scores.update("latency", {"route": "/a"}, 500.0)  # far outside its history
1.0
>>> sorted(scores.latest())
['latency{route="/a"}']
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Mapping
from typing import final

from ._names import LabelValue
from .anomaly import AnomalyDetector

__all__ = ["SeriesScores", "write_atomically"]


@final
class SeriesScores:
    """One :class:`AnomalyDetector` per metric series; keeps each series' latest score."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._detectors: dict[str, AnomalyDetector] = {}
        self._latest: dict[str, float] = {}

    def update(self, name: str, labels: Mapping[str, LabelValue] | None, value: float) -> float:
        """Score ``value`` against its series' history and return the score."""
        inner = ",".join(f'{k}="{v}"' for k, v in sorted((labels or {}).items()))
        key = f"{name}{{{inner}}}" if inner else name
        with self._lock:
            detector = self._detectors.get(key)
            if detector is None:
                detector = self._detectors[key] = AnomalyDetector()
            score = detector.update(float(value))
            self._latest[key] = score
        return score

    def latest(self) -> dict[str, float]:
        """Return the latest score of every series, by series name."""
        with self._lock:
            return dict(self._latest)


def write_atomically(path: str, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, so readers never see half."""
    folder = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".rebellion-", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
