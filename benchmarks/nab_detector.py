"""NAB adapter: ``detect(points, **params)`` scores one series with AnomalyDetector.

Used by ``nab_score.py --detector benchmarks/nab_detector.py:detect`` (see nab_run.py).
Timestamps may be datetimes (naive = UTC), epoch seconds or ISO strings.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

_SRC = Path(__file__).resolve().parents[1] / "src"
if str(_SRC) not in sys.path:
    sys.path.insert(0, str(_SRC))

from rebellion.metrics import AnomalyDetector  # noqa: E402

__all__ = ["detect"]


def detect(points: Iterable[tuple[object, float]], **params: float | int | None) -> list[float]:
    """Return one anomaly score in [0, 1] per ``(timestamp, value)`` point, causally."""
    detector = AnomalyDetector(name="nab", **params)
    scores = []
    for stamp, value in points:
        when = datetime.fromisoformat(stamp) if isinstance(stamp, str) else stamp
        scores.append(detector.update(float(value), when))  # type: ignore[arg-type]
    return scores
