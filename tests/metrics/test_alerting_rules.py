"""Alert rules under virtual time: for-duration, hysteresis, rate, anomaly, absence, cooldown."""

from __future__ import annotations

import math
from typing import Any

import pytest

from rebellion.errors import ConfigError
from rebellion.metrics.alerting import (
    AbsenceRule,
    AlertManager,
    AlertState,
    AnomalyRule,
    Matcher,
    Notification,
    RateOfChangeRule,
    Rule,
    ThresholdRule,
)
from rebellion.metrics.severity import AlertSeverity
from rebellion.testing import ManualClock


def make(*rules: Rule, **kwargs: Any) -> tuple[AlertManager, ManualClock, list[Notification]]:
    clock = ManualClock()
    notes: list[Notification] = []
    manager = AlertManager(rules=rules, callbacks=[notes.append], clock=clock, **kwargs)
    return manager, clock, notes


def statuses(notes: list[Notification]) -> list[str]:
    return [n.status for n in notes]


# -- threshold and for-duration ---------------------------------------------------------


def test_threshold_fires_at_once_without_for_duration() -> None:
    manager, _, notes = make(ThresholdRule("hot", "temp", above=80))
    manager.observe("temp", 79.0)
    assert notes == []
    manager.observe("temp", 81.0)
    assert statuses(notes) == ["firing"]
    assert notes[0].alerts[0].labels == {"alertname": "hot", "severity": "warning"}


def test_equal_to_threshold_does_not_raise() -> None:
    manager, _, notes = make(ThresholdRule("hot", "temp", above=80))
    manager.observe("temp", 80.0)
    assert notes == []
    assert manager.active_alerts() == []


def test_below_rule_fires_under_the_level() -> None:
    manager, _, notes = make(ThresholdRule("cold", "temp", below=5, clear=8))
    manager.observe("temp", 4.0)
    manager.observe("temp", 7.0)
    assert statuses(notes) == ["firing"]
    manager.observe("temp", 8.0)
    assert statuses(notes) == ["firing", "resolved"]


def test_pending_until_for_duration_then_firing_without_new_sample() -> None:
    manager, clock, notes = make(ThresholdRule("hot", "temp", above=80, for_duration=60))
    manager.observe("temp", 90.0)
    assert [a.state for a in manager.active_alerts()] == [AlertState.PENDING]
    clock.advance(59.9)
    assert manager.evaluate() == []
    assert notes == []
    clock.advance(0.1)
    made = manager.evaluate()
    assert statuses(made) == ["firing"]
    assert notes == made
    alert = manager.active_alerts()[0]
    assert (alert.state, alert.active_since, alert.fired_at) == (AlertState.FIRING, 0.0, 60.0)


def test_condition_lost_while_pending_never_fires() -> None:
    manager, clock, notes = make(ThresholdRule("hot", "temp", above=80, for_duration=60))
    manager.observe("temp", 90.0)
    clock.advance(30)
    manager.observe("temp", 70.0)
    clock.advance(60)
    manager.evaluate()
    assert notes == []
    assert manager.active_alerts() == []
    states = [a.state for a in manager.history()]
    assert states == [AlertState.PENDING, AlertState.INACTIVE]


def test_pending_restarts_its_timer_after_a_dip() -> None:
    manager, clock, notes = make(ThresholdRule("hot", "temp", above=80, for_duration=60))
    manager.observe("temp", 90.0)
    clock.advance(50)
    manager.observe("temp", 70.0)
    manager.observe("temp", 90.0)  # active_since = 50
    clock.advance(59)
    manager.evaluate()
    assert notes == []
    clock.advance(1)
    manager.evaluate()
    assert statuses(notes) == ["firing"]


def test_resolve_notification_carries_end_time() -> None:
    manager, clock, notes = make(ThresholdRule("hot", "temp", above=80))
    manager.observe("temp", 90.0)
    clock.advance(12.5)
    manager.observe("temp", 10.0)
    resolved = notes[1].alerts[0]
    assert resolved.state is AlertState.RESOLVED
    assert resolved.resolved_at == 12.5
    body = notes[1].to_payload()
    assert body["status"] == "resolved"
    alert = body["alerts"][0]  # type: ignore[index]
    assert alert["startsAt"] == "2023-11-14T22:13:20Z"
    assert alert["endsAt"] == "2023-11-14T22:13:32.5Z"


# -- hysteresis ----------------------------------------------------------------------------


def oscillate(manager: AlertManager, clock: ManualClock, centre: float, n: int) -> None:
    for i in range(n):
        manager.observe("cpu", centre + (1.5 if i % 2 else -1.5))
        clock.advance(1)


def test_without_hysteresis_a_signal_around_the_threshold_flaps() -> None:
    manager, clock, notes = make(ThresholdRule("cpu", "cpu", above=90))
    oscillate(manager, clock, 90.0, 20)
    assert len(notes) == 19  # every crossing after the first sample: firing, resolved, ...


def test_hysteresis_keeps_an_oscillating_signal_from_flapping() -> None:
    manager, clock, notes = make(ThresholdRule("cpu", "cpu", above=90, clear=85))
    oscillate(manager, clock, 90.0, 20)
    assert statuses(notes) == ["firing"]
    manager.observe("cpu", 85.0)
    assert statuses(notes) == ["firing", "resolved"]


def test_hysteresis_applies_while_pending() -> None:
    manager, clock, notes = make(ThresholdRule("cpu", "cpu", above=90, clear=85, for_duration=10))
    oscillate(manager, clock, 90.0, 12)
    manager.evaluate()
    assert statuses(notes) == ["firing"]
    assert manager.active_alerts()[0].active_since == 1.0  # the first crossing


# -- cooldown and repeat ------------------------------------------------------------------


def test_cooldown_holds_back_a_refire() -> None:
    manager, clock, notes = make(ThresholdRule("hot", "temp", above=80, cooldown=30))
    manager.observe("temp", 90.0)
    manager.observe("temp", 70.0)
    clock.advance(10)
    manager.observe("temp", 90.0)
    assert statuses(notes) == ["firing", "resolved"]
    assert manager.active_alerts()[0].state is AlertState.PENDING
    clock.advance(19.9)
    manager.evaluate()
    assert len(notes) == 2
    clock.advance(0.1)
    manager.evaluate()
    assert statuses(notes) == ["firing", "resolved", "firing"]


def test_repeat_interval_renotifies_a_still_firing_alert() -> None:
    manager, clock, notes = make(ThresholdRule("hot", "temp", above=80, repeat_interval=300))
    manager.observe("temp", 90.0)
    for _ in range(3):
        clock.advance(299)
        manager.evaluate()
        clock.advance(1)
        manager.evaluate()
    assert statuses(notes) == ["firing"] * 4
    assert [n.sequence for n in notes] == [1, 2, 3, 4]
    assert len({n.idempotency_key for n in notes}) == 4


def test_manager_repeat_interval_is_the_default() -> None:
    manager, clock, notes = make(ThresholdRule("hot", "temp", above=80), repeat_interval=100)
    manager.observe("temp", 90.0)
    clock.advance(100)
    manager.observe("temp", 91.0)  # a sample also runs due work
    assert len(notes) == 2


def test_infinite_repeat_never_renotifies() -> None:
    manager, clock, notes = make(ThresholdRule("hot", "temp", above=80, repeat_interval=math.inf))
    manager.observe("temp", 90.0)
    clock.advance(1e9)
    manager.evaluate()
    assert len(notes) == 1


# -- labels -------------------------------------------------------------------------------


def test_each_label_set_is_its_own_alert_and_rule_labels_win() -> None:
    rule = ThresholdRule("hot", "temp", above=80, labels={"team": "infra", "host": "x"})
    manager, _, notes = make(rule)
    manager.observe("temp", 90.0, {"host": "a", "rack": "1"})
    manager.observe("temp", 90.0, {"host": "b", "rack": "1"})
    assert len(notes) == 1  # both have host=x after the rule's labels: one alert
    manager.observe("temp", 90.0, {"rack": "2"})
    assert [n.alerts[0].labels["rack"] for n in notes] == ["1", "2"]
    assert notes[1].alerts[0].labels["team"] == "infra"


def test_match_restricts_the_watched_series() -> None:
    rule = ThresholdRule("hot", "temp", above=80, match=[Matcher("host", "=~", "db.*")])
    manager, _, notes = make(rule)
    manager.observe("temp", 90.0, {"host": "web1"})
    manager.observe("temp", 90.0, {"host": "db1"})
    assert [n.alerts[0].labels["host"] for n in notes] == ["db1"]


def test_annotations_are_rendered_with_value_and_labels() -> None:
    rule = ThresholdRule(
        "hot",
        "temp",
        above=80,
        annotations={"summary": "{labels[host]} at {value:.1f} > {raise_level:g}", "bad": "{x}"},
    )
    manager, _, notes = make(rule)
    manager.observe("temp", 90.25, {"host": "a"})
    assert notes[0].alerts[0].annotations == {"summary": "a at 90.2 > 80", "bad": "{x}"}


# -- rate of change -----------------------------------------------------------------------


def test_rate_of_change_per_second_over_the_window() -> None:
    manager, clock, notes = make(RateOfChangeRule("growing", "mem", above=5, clear=1, window=10))
    for value in (100.0, 102.0, 104.0):  # +2/s
        manager.observe("mem", value)
        clock.advance(1)
    assert notes == []
    manager.observe("mem", 124.0)  # (124 - 100) / 3 s = 8/s
    assert statuses(notes) == ["firing"]
    assert notes[0].alerts[0].value == 8.0
    clock.advance(20)
    manager.observe("mem", 124.0)  # only this sample left in the window: rate unknown
    assert len(notes) == 1
    clock.advance(1)
    manager.observe("mem", 124.5)  # 0.5/s <= clear
    assert statuses(notes) == ["firing", "resolved"]


def test_falling_rate_and_out_of_order_samples() -> None:
    manager, _, notes = make(RateOfChangeRule("drop", "free", below=-10, window=60))
    manager.observe("free", 1000.0, at=0.0)
    manager.observe("free", 0.0, at=200.0)  # first sample left the window
    manager.observe("free", 999.0, at=100.0)  # older than the newest: ignored
    assert notes == []
    manager.observe("free", -500.0, at=210.0)  # -50/s
    assert statuses(notes) == ["firing"]


# -- anomaly ------------------------------------------------------------------------------


def test_anomaly_rule_on_scores_with_hysteresis() -> None:
    manager, _, notes = make(AnomalyRule("odd", "cpu_score", level=0.5, clear=0.3, scored=True))
    for score in (0.1, 0.49, 0.5, 0.4, 0.31, 0.6):
        manager.observe("cpu_score", score)
    assert statuses(notes) == ["firing"]
    manager.observe("cpu_score", 0.29)
    assert statuses(notes) == ["firing", "resolved"]


def test_anomaly_rule_feeds_a_detector_per_series() -> None:
    from rebellion.metrics import AnomalyDetector

    rule = AnomalyRule("odd", "latency", detector_factory=lambda: AnomalyDetector(warmup=20))
    manager, _, notes = make(rule)
    for i in range(200):
        manager.observe("latency", 10.0 + 0.1 * (i % 7), {"svc": "a"})
        manager.observe("latency", 50.0 + 0.1 * (i % 5), {"svc": "b"})
    assert notes == []
    manager.observe("latency", 500.0, {"svc": "a"})
    assert [n.alerts[0].labels["svc"] for n in notes] == ["a"]
    assert notes[0].alerts[0].value == 1.0


def test_anomaly_rule_default_detector() -> None:
    manager, _, notes = make(AnomalyRule("odd", "x"))
    for i in range(150):
        manager.observe("x", float(i % 3))
    manager.observe("x", 1e6)
    assert statuses(notes) == ["firing"]


# -- absence ------------------------------------------------------------------------------


def test_absence_fires_when_a_metric_never_reports() -> None:
    manager, clock, notes = make(AbsenceRule("silent", "heartbeat", timeout=30))
    clock.advance(29)
    manager.evaluate()
    assert notes == []
    clock.advance(1)
    manager.evaluate()
    assert statuses(notes) == ["firing"]
    manager.observe("heartbeat", 1.0)
    assert statuses(notes) == ["firing", "resolved"]


def test_absence_clock_restarts_with_each_sample_and_honours_for() -> None:
    manager, clock, notes = make(AbsenceRule("silent", "hb", timeout=10, for_duration=5))
    for _ in range(5):
        clock.advance(9)
        manager.observe("hb", 1.0, {"any": "labels"})
    clock.advance(14.9)
    manager.evaluate()
    assert notes == []
    clock.advance(0.1)
    manager.evaluate()
    assert statuses(notes) == ["firing"]
    assert manager.active_alerts()[0].active_since == 55.0


def test_absence_evaluated_late_counts_for_from_the_deadline() -> None:
    manager, clock, notes = make(AbsenceRule("silent", "hb", timeout=10, for_duration=5))
    clock.advance(100)
    manager.evaluate()
    assert statuses(notes) == ["firing"]


def test_absence_per_series_watches_each_label_set() -> None:
    manager, clock, notes = make(AbsenceRule("silent", "hb", timeout=10, per_series=True))
    manager.observe("hb", 1.0, {"host": "a"})
    manager.observe("hb", 1.0, {"host": "b"})
    clock.advance(5)
    manager.observe("hb", 1.0, {"host": "b"})
    clock.advance(5)
    manager.evaluate()
    assert [n.alerts[0].labels["host"] for n in notes] == ["a"]
    clock.advance(5)
    manager.evaluate()
    assert [n.alerts[0].labels["host"] for n in notes] == ["a", "b"]


def test_absence_with_match_ignores_other_samples() -> None:
    manager, clock, notes = make(AbsenceRule("silent", "hb", timeout=10, match={"job": "api"}))
    clock.advance(9)
    manager.observe("hb", 1.0, {"job": "worker"})
    clock.advance(1)
    manager.evaluate()
    assert statuses(notes) == ["firing"]


# -- bad input ----------------------------------------------------------------------------

COMMON_BAD: list[tuple[str, object]] = [
    ("name", ""),
    ("name", " padded"),
    ("metric", 3),
    ("severity", "fatal"),
    ("for_duration", -1),
    ("for_duration", "5"),
    ("cooldown", -0.1),
    ("cooldown", math.nan),
    ("repeat_interval", 0),
    ("labels", {"bad-name": "x"}),
    ("labels", {"ok": 1}),
    ("labels", ["x"]),
    ("annotations", {"summary": 3}),
    ("match", "host=a"),
    ("match", [("host", "a")]),
]


def build(kind: str, **overrides: object) -> Rule:
    params: dict[str, Any] = {"name": "r", "metric": "m", **overrides}
    if kind == "threshold":
        params.setdefault("above", 1.0)
        return ThresholdRule(**params)
    if kind == "rate":
        params.setdefault("above", 1.0)
        return RateOfChangeRule(**params)
    if kind == "anomaly":
        return AnomalyRule(**params)
    params.setdefault("timeout", 1.0)
    return AbsenceRule(**params)


@pytest.mark.parametrize("kind", ["threshold", "rate", "anomaly", "absence"])
@pytest.mark.parametrize(("parameter", "value"), COMMON_BAD)
def test_every_rule_rejects_bad_common_parameters(kind: str, parameter: str, value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        build(kind, **{parameter: value})
    assert caught.value.parameter == parameter
    assert parameter in str(caught.value)


@pytest.mark.parametrize(
    ("kind", "overrides", "parameter"),
    [
        ("threshold", {"above": None}, "above/below"),
        ("threshold", {"above": 1.0, "below": 0.0}, "above/below"),
        ("threshold", {"above": "1"}, "above"),
        ("threshold", {"above": None, "below": math.inf}, "below"),
        ("threshold", {"above": 10.0, "clear": 11.0}, "clear"),
        ("threshold", {"above": None, "below": 10.0, "clear": 9.0}, "clear"),
        ("rate", {"window": 0}, "window"),
        ("rate", {"above": 5.0, "clear": 6.0}, "clear"),
        ("anomaly", {"level": 1.5}, "level"),
        ("anomaly", {"level": 0.5, "clear": 0.6}, "clear"),
        ("anomaly", {"scored": 1}, "scored"),
        ("anomaly", {"detector_factory": 3}, "detector_factory"),
        ("absence", {"timeout": 0}, "timeout"),
        ("absence", {"per_series": "yes"}, "per_series"),
    ],
)
def test_rule_specific_parameters_are_validated(
    kind: str, overrides: dict[str, object], parameter: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        build(kind, **overrides)
    assert caught.value.parameter == parameter
    assert parameter in str(caught.value)


def test_severity_accepts_names_in_any_case() -> None:
    assert ThresholdRule("r", "m", above=1, severity="CRITICAL").severity is AlertSeverity.CRITICAL


def test_matcher_rejects_bad_parts() -> None:
    for args, parameter in [
        (("bad-name", "=", "x"), "name"),
        (("a", "==", "x"), "op"),
        (("a", "=", 1), "value"),
        (("a", "=~", "("), "value"),
    ]:
        with pytest.raises(ConfigError) as caught:
            Matcher(*args)  # type: ignore[arg-type]
        assert caught.value.parameter == parameter


def test_matcher_operators() -> None:
    labels = {"env": "prod"}
    assert Matcher("env", "=", "prod").matches(labels)
    assert Matcher("env", "!=", "dev").matches(labels)
    assert Matcher("env", "!~", "de.*").matches(labels)
    assert Matcher("team", "=", "").matches(labels)
    assert not Matcher("env", "=~", "pro").matches(labels)  # full match only
