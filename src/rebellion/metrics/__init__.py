"""Metric analysis for the monitor: streaming anomaly scores comparable across metrics.

Needs NumPy (the ``metrics`` or ``server`` extra); the core package imports without it.

>>> from rebellion.metrics import AnomalyDetector
>>> AnomalyDetector().update(1.0)
0.0
"""

from __future__ import annotations

try:
    import numpy  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "rebellion.metrics needs NumPy: pip install 'system-rebellion[metrics]'"
    ) from exc

from .anomaly import AnomalyDetector, AnomalyDetectorBank, anomaly_params

__all__ = ["AnomalyDetector", "AnomalyDetectorBank", "anomaly_params"]
