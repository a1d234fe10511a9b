"""The monitor's alert rules: host thresholds with hysteresis and anomaly scores.

:class:`MonitorAlerts` feeds every tick's values (and the transformer's anomaly scores,
as ``<metric>:score``) to an :class:`~rebellion.metrics.AlertManager` and returns the
notifications that tick produced, so the service can stream them as ``alert``
messages. The defaults are deliberately few and quiet: a dashboard that cries wolf is
a dashboard nobody reads.

>>> from rebellion.testing import ManualClock
>>> alerts = MonitorAlerts(clock=ManualClock())
>>> alerts.observe_sample(0.0, {"disk.percent": 97.0}, {})[0]["rule"]
'DiskAlmostFull'
>>> [a["rule"] for a in alerts.snapshot()["active"]]
['DiskAlmostFull']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, final

from .._clock import Clock
from ..metrics import AlertManager, AnomalyRule, ThresholdRule
from ..metrics.alerting import AlertSnapshot, AlertState, Notification, Rule

__all__ = ["MonitorAlerts", "default_rules"]

SCORED = ("cpu.total", "memory.percent", "load.1", "net.recv_bps", "net.sent_bps")
"""Metrics whose anomaly score is watched by the default rules."""


def default_rules() -> list[Rule]:
    """Return the monitor's default rules (thresholds with hysteresis, anomaly scores)."""
    rules: list[Rule] = [
        ThresholdRule(
            "HighCpu", "cpu.total", above=90, clear=75, for_duration=60, severity="warning",
            annotations={"summary": "CPU busy above 90% for a minute"},
        ),
        ThresholdRule(
            "HighMemory", "memory.percent", above=90, clear=85, for_duration=30,
            severity="error", annotations={"summary": "memory use above 90%"},
        ),
        ThresholdRule(
            "DiskAlmostFull", "disk.percent", above=90, clear=85, severity="error",
            annotations={"summary": "the fullest disk is above 90%"},
        ),
        ThresholdRule(
            "Incident", "incidents.open", above=0.5, clear=0.5, severity="warning",
            annotations={"summary": "an incident is open: GET /api/v1/incidents explains it"},
        ),
        ThresholdRule(
            "SwapPressure", "swap.percent", above=80, clear=60, for_duration=60,
            severity="warning", annotations={"summary": "swap use above 80%"},
        ),
    ]  # fmt: skip
    for metric in SCORED:
        rules.append(
            AnomalyRule(
                f"Anomaly {metric}",
                f"{metric}:score",
                scored=True,
                level=0.9,
                clear=0.5,
                severity="info",
                labels={"metric": metric},
                annotations={"summary": f"{metric} behaves unlike its recent history"},
            )
        )
    return rules


def _plain(alert: AlertSnapshot) -> dict[str, Any]:
    return {
        "rule": alert.rule,
        "name": alert.rule,
        "fingerprint": alert.fingerprint,
        "state": alert.state.name,
        "severity": alert.severity.name,
        "labels": dict(alert.labels),
        "message": alert.annotations.get("summary", ""),
        "value": alert.value,
        "since": alert.starts_at_wall,
        "ended": alert.ends_at_wall,
        "silenced": alert.silenced,
    }


@final
class MonitorAlerts:
    """An alert manager fed by the monitor's ticks.

    Args:
        rules: the rules (default: :func:`default_rules`).
        clock: the manager's clock.
        manager: use this manager instead of building one (its rules are kept).
    """

    def __init__(
        self,
        rules: Iterable[Rule] | None = None,
        *,
        clock: Clock | None = None,
        manager: AlertManager | None = None,
    ) -> None:
        self._made: list[Notification] = []
        self.manager = manager or AlertManager(
            "monitor",
            default_rules() if rules is None else rules,
            clock=clock,
        )
        self.manager.add_callback(self._made.append)

    def observe_sample(
        self, at: float, values: Mapping[str, float], analysis: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Feed one tick; return the alerts that changed (fired, resolved, repeated)."""
        manager = self.manager
        manager.observe_many(values)
        for metric, result in analysis.items():
            score = result.get("anomaly_score") if isinstance(result, Mapping) else None
            if isinstance(score, int | float):
                manager.observe(f"{metric}:score", float(score), {"metric": metric})
        manager.evaluate()
        made, self._made[:] = list(self._made), []
        return [_plain(alert) | {"status": n.status} for n in made for alert in n.alerts]

    def snapshot(self) -> dict[str, Any]:
        """Return active alerts (most severe first) and the latest transitions."""
        return {
            "active": [_plain(a) for a in self.manager.active_alerts(include_pending=False)],
            "pending": [
                _plain(a) for a in self.manager.active_alerts() if a.state is AlertState.PENDING
            ],
            "history": [_plain(a) for a in self.manager.history(limit=100)],
        }
