"""Metric analysis for the monitor: streaming anomaly scores comparable across metrics.

Needs NumPy (the ``metrics`` or ``server`` extra); the core package imports without it.

>>> from rebellion.metrics import AnomalyDetector
>>> AnomalyDetector().update(1.0)
0.0
"""

from __future__ import annotations

from .anomaly import AnomalyDetector, AnomalyDetectorBank, anomaly_params

__all__ = ["AnomalyDetector", "AnomalyDetectorBank", "anomaly_params"]
