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

from ._alerts import Alert, AlertBook
from ._config import MetricsConfig
from ._instruments import CounterChild, GaugeChild, HistogramChild, MeterChild
from ._timing import Timing
from ._transform_result import (
    AnomalyFlags,
    HealthAssessment,
    MetricTransform,
    SeriesStatistics,
    TransformResult,
    Trend,
)
from .alerting import (
    AbsenceRule,
    AlertManager,
    AlertSnapshot,
    AnomalyRule,
    Notification,
    RateOfChangeRule,
    ThresholdRule,
    WebhookNotifier,
    get_alert_manager,
)
from .anomaly import AnomalyDetector, AnomalyDetectorBank, anomaly_params
from .collector import MetricsCollector
from .prometheus import RebellionPrometheusCollector, prometheus_registry, prometheus_text
from .severity import AlertSeverity
from .transformer import MetricTransformer, get_metric_transformer

__all__ = [
    "AbsenceRule",
    "Alert",
    "AlertBook",
    "AlertManager",
    "AlertSeverity",
    "AlertSnapshot",
    "AnomalyDetector",
    "AnomalyDetectorBank",
    "AnomalyFlags",
    "AnomalyRule",
    "CounterChild",
    "GaugeChild",
    "HealthAssessment",
    "HistogramChild",
    "MeterChild",
    "MetricTransform",
    "MetricTransformer",
    "MetricsCollector",
    "MetricsConfig",
    "Notification",
    "RateOfChangeRule",
    "RebellionPrometheusCollector",
    "ThresholdRule",
    "SeriesStatistics",
    "Timing",
    "TransformResult",
    "Trend",
    "WebhookNotifier",
    "anomaly_params",
    "get_metric_transformer",
    "get_alert_manager",
    "prometheus_registry",
    "prometheus_text",
]
