"""The monitor's default alert rules on virtual time: hysteresis, for-durations, scores."""

from __future__ import annotations

from rebellion.monitor.alerts import MonitorAlerts, default_rules
from rebellion.testing import ManualClock


def test_cpu_alert_needs_a_minute_above_and_clears_only_below_the_clear_level() -> None:
    clock = ManualClock()
    alerts = MonitorAlerts(clock=clock)
    changed = []
    for _ in range(59):
        changed += alerts.observe_sample(clock.wall(), {"cpu.total": 95.0}, {})
        clock.advance(1)
    assert changed == []
    assert [a["rule"] for a in alerts.snapshot()["pending"]] == ["HighCpu"]
    clock.advance(1)
    fired = alerts.observe_sample(clock.wall(), {"cpu.total": 95.0}, {})
    assert [(a["rule"], a["status"]) for a in fired] == [("HighCpu", "firing")]
    # Between the clear level (75) and the raise level (90) nothing changes: no flapping.
    for value in (85.0, 91.0, 80.0, 89.0, 76.0):
        clock.advance(1)
        assert alerts.observe_sample(clock.wall(), {"cpu.total": value}, {}) == []
    clock.advance(1)
    resolved = alerts.observe_sample(clock.wall(), {"cpu.total": 50.0}, {})
    assert [(a["rule"], a["status"]) for a in resolved] == [("HighCpu", "resolved")]
    assert alerts.snapshot()["active"] == []
    assert [a["state"] for a in alerts.snapshot()["history"]][-2:] == ["FIRING", "RESOLVED"]


def test_anomaly_scores_from_the_analysis_raise_info_alerts_per_metric() -> None:
    clock = ManualClock()
    alerts = MonitorAlerts(clock=clock)
    fired = alerts.observe_sample(
        clock.wall(),
        {"cpu.total": 20.0},
        {"cpu.total": {"anomaly_score": 0.97}, "memory.percent": {"anomaly_score": 0.1}},
    )
    assert [(a["rule"], a["severity"], a["labels"]["metric"]) for a in fired] == [
        ("Anomaly cpu.total", "INFO", "cpu.total")
    ]


def test_default_rules_are_few_and_cover_cpu_memory_disk_swap() -> None:
    metrics = {rule.metric for rule in default_rules()}
    assert {"cpu.total", "memory.percent", "disk.percent", "swap.percent"} <= metrics
