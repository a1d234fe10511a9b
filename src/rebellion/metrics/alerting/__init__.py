"""Alerting: rules with ``for`` durations and hysteresis, grouping, silences, notifications.

>>> from rebellion.testing import ManualClock
>>> clock = ManualClock()
>>> notes = []
>>> manager = AlertManager(
...     rules=[ThresholdRule("disk_full", "disk", above=95, clear=90, severity="critical")],
...     callbacks=[notes.append],
...     clock=clock,
... )
>>> manager.observe("disk", 97.0, {"mount": "/"})
>>> notes[0].status, notes[0].alerts[0].labels["mount"], notes[0].alerts[0].severity.value
('firing', '/', 'critical')
"""

from ._events import AlertNotified, AlertStateChanged
from ._model import AlertSnapshot, AlertState, Matcher, Notification, Silence, alert_fingerprint
from .manager import AlertManager, get_alert_manager
from .rules import AbsenceRule, AnomalyRule, RateOfChangeRule, Rule, Scorer, ThresholdRule
from .webhook import WebhookDeliveryError, WebhookNotifier

__all__ = [
    "AbsenceRule",
    "AlertSnapshot",
    "AlertManager",
    "AlertNotified",
    "AlertState",
    "AlertStateChanged",
    "AnomalyRule",
    "Matcher",
    "Notification",
    "RateOfChangeRule",
    "Rule",
    "Scorer",
    "Silence",
    "ThresholdRule",
    "WebhookDeliveryError",
    "WebhookNotifier",
    "alert_fingerprint",
    "get_alert_manager",
]
