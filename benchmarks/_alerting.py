"""Alerting groups: rule evaluation cost per sample with 1,000 rules.

Two shapes of 1,000 threshold rules (with hysteresis): one rule per metric (a sample
reaches one rule, the usual monitor case), and 1,000 rules on one metric (a sample is
evaluated by all of them; divide by 1,000 for the cost per rule). Samples stay below the
thresholds, so no alert changes state; a third contender alternates across one rule's
levels so every sample fires or resolves an alert and makes a notification. The floor is
a hand-written Python loop doing the same comparisons with no state.

>>> [g.name for g in groups()]
['alerting_one_rule_per_metric', 'alerting_thousand_rules_one_metric']
"""

from __future__ import annotations

from typing import Any

from _common import Contender, Group
from _harness import Op, Runner

__all__ = ["groups"]

N = 1000


def _manager(shared_metric: bool, callbacks: list[Any] | None = None) -> Any:
    from rebellion.metrics.alerting import AlertManager, ThresholdRule

    rules = [
        ThresholdRule(f"r{i}", "m" if shared_metric else f"m{i}", above=90.0 + i * 1e-3, clear=80.0)
        for i in range(N)
    ]
    return AlertManager("bench", rules, callbacks=callbacks or [])


def _observe(shared_metric: bool, labels: dict[str, str] | None) -> Contender:
    def build(runner: Runner) -> Op:
        observe = _manager(shared_metric).observe
        metric = "m" if shared_metric else "m500"
        if labels is None:
            return Op(fn=observe, args=(metric, 50.0))
        return Op(fn=lambda m, v: observe(m, v, labels), args=(metric, 50.0))

    label_text = "" if labels is None else ", labels"
    return Contender(f"rebellion manager.observe(metric, value{label_text})", "rebellion", build)


def _flapping() -> Contender:
    def build(runner: Runner) -> Op:
        sent: list[Any] = []
        manager = _manager(False, [sent.append])
        observe = manager.observe
        state = [False]

        def flip(metric: str, value: float) -> None:
            state[0] = not state[0]
            observe(metric, 95.0 if state[0] else value)
            if len(sent) > 10_000:
                sent.clear()

        return Op(fn=flip, args=("m500", 50.0))

    return Contender("rebellion observe: fire/resolve + notify every sample", "rebellion", build)


def _floor(shared_metric: bool) -> Contender:
    def build(runner: Runner) -> Op:
        levels = {f"m{i}": 90.0 + i * 1e-3 for i in range(N)}
        shared = [90.0 + i * 1e-3 for i in range(N)]

        def one(metric: str, value: float) -> bool:
            return value > levels[metric]

        def every(metric: str, value: float) -> bool:
            hit = False
            for level in shared:
                if value > level:
                    hit = True
            return hit

        return Op(fn=every if shared_metric else one, args=("m" if shared_metric else "m500", 50.0))

    return Contender("python floor: stateless compare loop", "python", build)


def groups() -> list[Group]:
    """Return the two rule-evaluation groups (one rule per metric, 1,000 on one metric)."""
    notes = [
        "1,000 ThresholdRule(above=90, clear=80) rules; samples at 50 change no state. "
        "The floor compares the value with each threshold and keeps no state.",
        "Per rule in the second group: divide its ns/op by 1,000.",
    ]
    return [
        Group(
            "alerting_one_rule_per_metric",
            "AlertManager.observe, 1,000 rules on 1,000 metrics (a sample reaches one rule)",
            [_observe(False, None), _observe(False, {"host": "a"}), _flapping(), _floor(False)],
            notes,
        ),
        Group(
            "alerting_thousand_rules_one_metric",
            "AlertManager.observe, 1,000 rules on one metric (a sample reaches all of them)",
            [_observe(True, None), _floor(True)],
            notes,
        ),
    ]
