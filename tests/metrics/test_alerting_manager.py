"""The alert manager: grouping, silences, callbacks, concurrency, statistics, bad input."""

from __future__ import annotations

import asyncio
import math
import threading
from typing import Any

import pytest

from rebellion._registry import registry
from rebellion.errors import ConfigError
from rebellion.metrics.alerting import (
    AbsenceRule,
    AlertManager,
    AlertNotified,
    AlertState,
    AlertStateChanged,
    Matcher,
    Notification,
    ThresholdRule,
    get_alert_manager,
)
from rebellion.testing import ManualClock, RecordingListener


def hot(name: str = "hot", **kwargs: Any) -> ThresholdRule:
    return ThresholdRule(name, "temp", above=80, clear=70, **kwargs)


def make(*rules: Any, **kwargs: Any) -> tuple[AlertManager, ManualClock, list[Notification]]:
    clock = ManualClock()
    notes: list[Notification] = []
    manager = AlertManager(rules=rules, callbacks=[notes.append], clock=clock, **kwargs)
    return manager, clock, notes


def hosts(note: Notification) -> list[tuple[str, str]]:
    return [(a.labels["host"], a.state.value) for a in note.alerts]


# -- grouping -----------------------------------------------------------------------------


def test_group_wait_batches_alerts_that_fire_together() -> None:
    manager, clock, notes = make(hot(), group_by=["alertname"], group_wait=30)
    manager.observe("temp", 90.0, {"host": "a"})
    clock.advance(10)
    manager.observe("temp", 90.0, {"host": "b"})
    clock.advance(19.9)
    manager.evaluate()
    assert notes == []
    clock.advance(0.1)
    manager.evaluate()
    assert len(notes) == 1
    assert hosts(notes[0]) == [("a", "firing"), ("b", "firing")]
    assert notes[0].group_labels == {"alertname": "hot"}
    assert notes[0].to_payload()["commonLabels"] == {"alertname": "hot", "severity": "warning"}


def test_group_interval_spaces_out_updates_of_a_group() -> None:
    manager, clock, notes = make(hot(), group_by=["alertname"], group_wait=5, group_interval=60)
    manager.observe("temp", 90.0, {"host": "a"})
    clock.advance(5)
    manager.evaluate()
    assert len(notes) == 1
    clock.advance(10)
    manager.observe("temp", 90.0, {"host": "b"})
    manager.observe("temp", 50.0, {"host": "a"})
    clock.advance(49.9)
    manager.evaluate()
    assert len(notes) == 1
    clock.advance(0.1)
    manager.evaluate()
    assert hosts(notes[1]) == [("b", "firing"), ("a", "resolved")]
    assert notes[1].status == "firing"
    assert notes[1].sequence == 2


def test_groups_are_separate_per_group_by_values() -> None:
    manager, _, notes = make(hot(), hot("hotter"), group_by=["host"])
    manager.observe("temp", 90.0, {"host": "a"})
    manager.observe("temp", 90.0, {"host": "b"})
    # Two rules fire on one sample: one notification per host holds both alerts.
    assert [n.group_labels for n in notes] == [{"host": "a"}, {"host": "b"}]
    assert [a.rule for a in notes[0].alerts] == ["hot", "hotter"]


def test_group_resolves_when_its_last_alert_resolves() -> None:
    manager, _, notes = make(hot(), group_by=["alertname"])
    manager.observe("temp", 90.0, {"host": "a"})
    manager.observe("temp", 60.0, {"host": "a"})
    assert [n.status for n in notes] == ["firing", "resolved"]
    assert manager.stats()["groups"] == 0


def test_alert_resolved_before_group_wait_is_never_notified() -> None:
    manager, clock, notes = make(hot(), group_wait=30)
    manager.observe("temp", 90.0, {"host": "a"})
    manager.observe("temp", 60.0, {"host": "a"})
    clock.advance(30)
    manager.evaluate()
    assert notes == []
    assert manager.stats()["groups"] == 0


def test_idempotency_keys_are_unique_and_stable_per_notification() -> None:
    manager, clock, notes = make(hot(repeat_interval=10))
    manager.observe("temp", 90.0)
    clock.advance(10)
    manager.evaluate()
    manager.observe("temp", 0.0)
    keys = [n.idempotency_key for n in notes]
    assert len(set(keys)) == 3
    fingerprint = keys[0].split(":")[0]
    assert [k.split(":")[1] for k in keys] == ["firing", "firing", "resolved"]
    assert all(k.startswith(fingerprint) and k.endswith(f".{i}") for i, k in enumerate(keys, 1))


# -- silences -----------------------------------------------------------------------------


def test_silenced_alert_is_tracked_but_not_notified() -> None:
    manager, clock, notes = make(hot())
    silence = manager.silence({"host": "a"}, duration=60, comment="maintenance")
    manager.observe("temp", 90.0, {"host": "a"})
    manager.observe("temp", 90.0, {"host": "b"})
    assert [hosts(n) for n in notes] == [[("b", "firing")]]
    [alert_a] = [a for a in manager.active_alerts() if a.labels["host"] == "a"]
    assert alert_a.silenced
    assert alert_a.state is AlertState.FIRING
    assert manager.silences() == [silence]
    clock.advance(60)
    manager.evaluate()
    assert [hosts(n) for n in notes][-1] == [("a", "firing")]
    assert manager.silences() == []


def test_silence_with_a_future_start_and_regex_matcher() -> None:
    manager, clock, notes = make(hot())
    manager.silence([Matcher("host", "=~", "db.*")], starts_at=10, ends_at=20)
    clock.advance(10)
    manager.observe("temp", 90.0, {"host": "db1"})
    assert notes == []
    clock.advance(10)
    manager.evaluate()
    assert [hosts(n) for n in notes] == [[("db1", "firing")]]


def test_resolution_of_a_silenced_alert_is_not_notified() -> None:
    manager, _, notes = make(hot())
    manager.observe("temp", 90.0, {"host": "a"})
    manager.silence({"host": "a"}, duration=100)
    manager.observe("temp", 0.0, {"host": "a"})
    assert [n.status for n in notes] == ["firing"]


def test_expire_silence_notifies_the_muted_alerts() -> None:
    manager, _, notes = make(hot())
    silence = manager.silence({"alertname": "hot"}, duration=3600)
    manager.observe("temp", 90.0)
    assert notes == []
    assert manager.expire_silence(silence.id)
    assert not manager.expire_silence("nope")
    manager.evaluate()
    assert [n.status for n in notes] == ["firing"]


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"matchers": {}, "duration": 1}, "matchers"),
        ({"matchers": "host=a", "duration": 1}, "matchers"),
        ({"matchers": {"host": 1}, "duration": 1}, "matchers"),
        ({"matchers": {"host": "a"}}, "duration/ends_at"),
        ({"matchers": {"host": "a"}, "duration": 1, "ends_at": 5}, "duration/ends_at"),
        ({"matchers": {"host": "a"}, "duration": 0}, "duration"),
        ({"matchers": {"host": "a"}, "ends_at": 0}, "ends_at"),
        ({"matchers": {"host": "a"}, "duration": 1, "starts_at": "now"}, "starts_at"),
        ({"matchers": {"host": "a"}, "duration": 1, "comment": 3}, "comment"),
        ({"matchers": {"host": "a"}, "duration": 1, "created_by": None}, "created_by"),
    ],
)
def test_silence_rejects_bad_input(kwargs: dict[str, Any], parameter: str) -> None:
    manager, _, _ = make()
    with pytest.raises(ConfigError) as caught:
        manager.silence(**kwargs)
    assert caught.value.parameter == parameter


# -- callbacks, events, history, stats ----------------------------------------------------


async def test_async_callbacks_run_on_the_loop_in_order() -> None:
    clock = ManualClock()
    got: list[int] = []

    async def callback(note: Notification) -> None:
        await asyncio.sleep(0)
        got.append(note.sequence)

    manager = AlertManager(rules=[hot(repeat_interval=1)], callbacks=[callback], clock=clock)
    manager.observe("temp", 90.0)
    for _ in range(4):
        clock.advance(1)
        manager.evaluate()
    await manager.wait_for_callbacks()
    assert got == [1, 2, 3, 4, 5]


async def test_async_callback_from_a_thread_runs_on_the_bound_loop() -> None:
    got: list[str] = []

    async def callback(note: Notification) -> None:
        got.append(note.status)

    manager = AlertManager(rules=[hot()], callbacks=[callback], clock=ManualClock())
    manager.bind_loop()
    thread = threading.Thread(target=manager.observe, args=("temp", 90.0))
    thread.start()
    await asyncio.to_thread(thread.join)
    await manager.wait_for_callbacks()
    assert got == ["firing"]


def test_async_callback_without_any_loop_is_counted_as_an_error() -> None:
    async def callback(note: Notification) -> None:
        raise AssertionError("never runs")

    manager = AlertManager(rules=[hot()], callbacks=[callback], clock=ManualClock())
    manager.observe("temp", 90.0)
    assert manager.stats()["callback_errors"] == 1


def test_a_failing_callback_does_not_stop_the_others() -> None:
    got: list[str] = []

    def broken(note: Notification) -> None:
        raise RuntimeError("boom")

    manager = AlertManager(rules=[hot()], callbacks=[broken, lambda n: got.append(n.status)])
    manager.observe("temp", 90.0)
    manager.observe("temp", 10.0)
    assert got == ["firing", "resolved"]
    assert manager.stats()["callback_errors"] == 2


def test_a_callback_may_call_back_into_the_manager() -> None:
    manager, _, notes = make(hot())
    manager.add_callback(lambda note: manager.active_alerts())
    manager.observe("temp", 90.0)
    assert len(notes) == 1
    manager.remove_callback(notes.append)
    manager.observe("temp", 0.0)
    assert len(notes) == 1


def test_events_history_and_stats() -> None:
    recorder: RecordingListener[Any] = RecordingListener()
    clock = ManualClock()
    manager = AlertManager(
        "m", rules=[hot(for_duration=5)], listeners=[recorder], clock=clock, history_size=3
    )
    manager.observe("temp", 90.0)
    clock.advance(5)
    manager.evaluate()
    manager.observe("temp", 0.0)
    manager.observe("unwatched", 1.0)
    changes = recorder.of_type(AlertStateChanged)
    assert [(c.old_state, c.new_state) for c in changes] == [
        ("inactive", "pending"),
        ("pending", "firing"),
        ("firing", "resolved"),
    ]
    assert [e.status for e in recorder.of_type(AlertNotified)] == ["firing", "resolved"]
    assert [a.state.value for a in manager.history()] == ["pending", "firing", "resolved"]
    assert [a.state.value for a in manager.history(limit=1)] == ["resolved"]
    stats = manager.stats()
    assert stats["samples"] == 2
    assert stats["ignored_samples"] == 1
    assert stats["transitions"] == 3
    assert stats["notifications"] == 2
    assert stats["firing"] == 0
    assert stats["rules"] == 1
    assert stats["series"] == 1


def test_active_alerts_by_severity() -> None:
    manager, _, _ = make(hot(severity="info"), hot("crit", severity="critical", for_duration=60))
    manager.observe("temp", 90.0)
    assert [a.rule for a in manager.active_alerts()] == ["crit", "hot"]
    assert [a.rule for a in manager.active_alerts("error")] == ["crit"]
    assert manager.active_alerts("error", include_pending=False) == []


def test_remove_rule_drops_its_alerts() -> None:
    manager, _, _notes = make(hot(), hot("other"))
    manager.observe("temp", 90.0)
    manager.remove_rule("hot")
    manager.remove_rule("missing")
    assert [r.name for r in manager.rules] == ["other"]
    assert [a.rule for a in manager.active_alerts()] == ["other"]
    manager.remove_rule("other")
    manager.observe("temp", 91.0)
    assert manager.stats()["ignored_samples"] == 1


def test_observe_many_takes_a_mapping_or_tuples() -> None:
    manager, _, notes = make(hot(), ThresholdRule("busy", "cpu", above=90))
    manager.observe_many({"temp": 85.0, "cpu": 95.0, "mem": 1.0}, labels={"host": "a"})
    manager.observe_many([("temp", 99.0, {"host": "b"}), ("cpu", 10.0)], labels={"host": "a"})
    assert sorted(hosts(n)[0] for n in notes) == [
        ("a", "firing"),
        ("a", "firing"),
        ("a", "resolved"),
        ("b", "firing"),
    ]


async def test_run_evaluates_until_stopped() -> None:
    clock = ManualClock()
    manager = AlertManager(rules=[AbsenceRule("gone", "hb", timeout=3)], clock=clock)
    notes: list[Notification] = []
    manager.add_callback(notes.append)

    async def stopper() -> None:
        while not notes:
            await asyncio.sleep(0)
        manager.stop()

    task = asyncio.create_task(stopper())
    await manager.run(interval=1)
    await task
    assert [n.status for n in notes] == ["firing"]
    assert notes[0].alerts[0].fired_at == 3


def test_get_alert_manager_returns_the_registered_one() -> None:
    registry.unregister(AlertManager.kind, "alerts-test")
    first = get_alert_manager("alerts-test", group_wait=5.0)
    assert get_alert_manager("alerts-test", group_wait=5.0) is first
    with pytest.raises(ConfigError):
        get_alert_manager("alerts-test", group_wait=6.0)
    registry.unregister(AlertManager.kind, "alerts-test")


# -- concurrency --------------------------------------------------------------------------


def test_many_threads_observing_give_exact_counts() -> None:
    threads, per_thread = 8, 500
    manager, _, notes = make(ThresholdRule("high", "v", above=0.5))

    def worker(index: int) -> None:
        for i in range(per_thread):
            manager.observe("v", float(i % 2), {"worker": str(index)})

    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    stats = manager.stats()
    assert stats["samples"] == threads * per_thread
    # Each worker's series alternates 0, 1, ..., 1: 250 fires (pending, firing) and
    # 249 resolutions, so 749 transitions and 499 notifications per worker.
    cycles = per_thread // 2
    assert stats["transitions"] == threads * (3 * cycles - 1)
    assert len(notes) == threads * (2 * cycles - 1)
    for index in range(threads):
        mine = [n for n in notes if n.group_labels["worker"] == str(index)]
        assert [n.sequence for n in mine] == list(range(1, 2 * cycles))
        assert [n.status for n in mine] == ["firing", "resolved"] * (cycles - 1) + ["firing"]


async def test_many_tasks_observing_give_exact_counts() -> None:
    manager, _, notes = make(ThresholdRule("high", "v", above=0.5), group_by=["alertname"])

    async def worker(index: int) -> None:
        for i in range(100):
            manager.observe("v", 1.0 if i == 50 else 0.0, {"task": str(index)})
            await asyncio.sleep(0)

    await asyncio.gather(*(worker(i) for i in range(20)))
    assert manager.stats()["samples"] == 2000
    firing = [a for n in notes for a in n.alerts if a.state is AlertState.FIRING]
    resolved = [a for n in notes for a in n.alerts if a.state is AlertState.RESOLVED]
    assert len({a.fingerprint for a in firing}) == 20
    assert len(resolved) == 20


# -- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"name": ""}, "name"),
        ({"rules": "hot"}, "rules"),
        ({"rules": [object()]}, "rule"),
        ({"rules": [hot(), hot()]}, "rule"),
        ({"group_by": "host"}, "group_by"),
        ({"group_by": ["bad-label"]}, "group_by"),
        ({"group_wait": -1}, "group_wait"),
        ({"group_interval": math.inf}, "group_interval"),
        ({"repeat_interval": 0}, "repeat_interval"),
        ({"history_size": -1}, "history_size"),
        ({"history_size": 1.5}, "history_size"),
        ({"callbacks": [3]}, "callback"),
        ({"callbacks": print}, "callbacks"),
        ({"receiver": ""}, "receiver"),
        ({"clock": "now"}, "clock"),
        ({"listeners": [3]}, "listeners"),
    ],
)
def test_manager_rejects_bad_parameters(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError) as caught:
        AlertManager(**kwargs)
    assert caught.value.parameter == parameter
    assert parameter in str(caught.value)


@pytest.mark.parametrize(
    ("args", "parameter"),
    [
        (("temp", "hot"), "value"),
        (("temp", True), "value"),
        (("temp", math.nan), "value"),
        (("temp", 1.0, {"bad-label": "x"}), "labels"),
        (("temp", 1.0, None, "later"), "at"),
    ],
)
def test_observe_rejects_bad_samples(args: tuple[Any, ...], parameter: str) -> None:
    manager, _, _ = make(hot())
    with pytest.raises(ConfigError) as caught:
        manager.observe(*args)
    assert caught.value.parameter == parameter
    manager.observe("temp", 1)  # an int is fine; nothing was broken by the bad sample
    assert manager.stats()["samples"] == 1
