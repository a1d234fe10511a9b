"""Operation mode: rules, listeners, reasons, time in mode, and policy adjustments."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from rebellion import (
    AdaptiveLimiter,
    Bulkhead,
    ConfigError,
    RateLimiter,
    Retry,
    RetryExhaustedError,
)
from rebellion.health import (
    ComponentDegraded,
    ComponentRecovered,
    ModeAdjustment,
    ModeRule,
    OperationModeChanged,
    RetryOff,
    ScaleCap,
    SystemOperationMode,
)
from rebellion.testing import FlakyCallable, ManualClock, RecordingListener

NORMAL, DEGRADED, EMERGENCY = "NORMAL", "DEGRADED", "EMERGENCY"


def make(**options: Any) -> tuple[SystemOperationMode, ManualClock]:
    clock = ManualClock()
    return SystemOperationMode(clock=clock, **options), clock


async def test_seed_example_works_as_written() -> None:
    sent: list[tuple[str, str]] = []

    async def broadcast_message(title: str, text: str) -> None:
        sent.append((title, text))

    operation_mode = SystemOperationMode()

    async def notify_users(old_mode: str, new_mode: str, reasons: list[dict[str, Any]]) -> None:
        if new_mode != SystemOperationMode.NORMAL:
            await broadcast_message(
                "System Status Change",
                f"System is now in {new_mode} mode. Reason: {reasons[-1]['reason']}",
            )

    operation_mode.add_mode_change_listener(notify_users)
    await operation_mode.mark_component_degraded(
        "openai", "API rate limit exceeded", severity="medium"
    )
    assert operation_mode.current_mode == SystemOperationMode.DEGRADED
    assert sent == [
        (
            "System Status Change",
            "System is now in DEGRADED mode. Reason: API rate limit exceeded",
        )
    ]


async def test_default_rules_critical_means_emergency_and_any_degraded_means_degraded() -> None:
    mode, _ = make()
    assert await mode.mark_component_degraded("cache", "slow", severity="low") == DEGRADED
    assert await mode.mark_component_degraded("db", "down", severity="critical") == EMERGENCY
    assert await mode.mark_component_recovered("db") == DEGRADED
    assert await mode.mark_component_recovered("cache") == NORMAL
    assert await mode.mark_component_recovered("never-degraded") == NORMAL


async def test_a_user_rule_two_degraded_components_mean_emergency() -> None:
    mode, _ = make(rules=[ModeRule.degraded(EMERGENCY, count=2)])
    await mode.mark_component_degraded("a", "x")
    assert mode.current_mode == DEGRADED
    await mode.mark_component_degraded("b", "y", severity="low")
    assert mode.current_mode == EMERGENCY
    await mode.mark_component_recovered("a")
    assert mode.current_mode == DEGRADED


async def test_rules_can_be_scoped_to_components_and_defaults_dropped() -> None:
    rules = [ModeRule.degraded(EMERGENCY, components=["payments"])]
    mode, _ = make(rules=rules, default_rules=False)
    await mode.mark_component_degraded("search", "slow", severity="critical")
    assert mode.current_mode == NORMAL
    await mode.mark_component_degraded("payments", "errors", severity="low")
    assert mode.current_mode == EMERGENCY
    custom = ModeRule(DEGRADED, lambda states: "search" in states, "search matters")
    assert custom.description == "search matters"


async def test_re_marking_updates_the_reason_and_can_escalate() -> None:
    mode, clock = make()
    await mode.mark_component_degraded("db", "slow", severity="medium")
    clock.advance(5)
    await mode.mark_component_degraded("db", "refusing", severity="critical")
    assert mode.current_mode == EMERGENCY
    state = mode.degraded_components["db"]
    assert (state["reason"], state["severity"], state["since"]) == ("refusing", "critical", 0.0)
    assert [r["reason"] for r in mode.degradation_reasons] == ["slow", "refusing"]
    assert mode.degradation_reasons[-1]["mode"] == EMERGENCY


async def test_listeners_sync_and_async_hear_old_new_and_reasons() -> None:
    mode, _ = make()
    heard: list[tuple[str, str, str]] = []

    def sync_listener(old: str, new: str, reasons: list[dict[str, Any]]) -> None:
        heard.append((old, new, reasons[-1]["reason"]))

    async def async_listener(old: str, new: str, reasons: list[dict[str, Any]]) -> None:
        await asyncio.sleep(0)
        heard.append((old, new, "async"))

    remove = mode.add_mode_change_listener(sync_listener)
    mode.add_mode_change_listener(async_listener)
    await mode.mark_component_degraded("db", "down")
    await mode.mark_component_degraded("db", "still down")  # no mode change: no call
    await mode.mark_component_recovered("db", "back")
    assert heard == [
        (NORMAL, DEGRADED, "down"),
        (NORMAL, DEGRADED, "async"),
        (DEGRADED, NORMAL, "back"),
        (DEGRADED, NORMAL, "async"),
    ]
    remove()
    await mode.mark_component_degraded("db", "again")
    assert heard[-1] == (NORMAL, DEGRADED, "async")
    assert len(mode.mode_change_listeners) == 1


async def test_a_raising_listener_is_skipped_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    mode, _ = make()
    heard: list[str] = []

    def broken(old: str, new: str, reasons: list[dict[str, Any]]) -> None:
        raise RuntimeError("listener bug")

    mode.add_mode_change_listener(broken)
    mode.add_mode_change_listener(lambda old, new, reasons: heard.append(new))
    await mode.mark_component_degraded("db", "down")
    assert heard == [DEGRADED]
    assert mode.stats()["errors"] == 1
    assert "listener" in caplog.text


async def test_events_are_emitted() -> None:
    recorder: RecordingListener[Any] = RecordingListener()
    mode, clock = make(listeners=[recorder])
    await mode.mark_component_degraded("db", "down", severity="high")
    clock.advance(3)
    await mode.mark_component_recovered("db")
    assert recorder.names() == [
        "OperationModeChanged",
        "ComponentDegraded",
        "OperationModeChanged",
        "ComponentRecovered",
    ]
    assert recorder.of_type(ComponentDegraded)[0].severity == "high"
    assert recorder.of_type(ComponentRecovered)[0].degraded_for == 3.0
    assert recorder.of_type(OperationModeChanged)[1].new_mode == NORMAL


async def test_time_in_mode_uses_the_injected_clock() -> None:
    mode, clock = make()
    clock.advance(10)
    await mode.mark_component_degraded("db", "slow")
    clock.advance(4)
    await mode.mark_component_degraded("db", "down", severity="critical")
    clock.advance(1)
    await mode.mark_component_recovered("db")
    clock.advance(2)
    assert mode.time_in_mode() == {NORMAL: 12.0, DEGRADED: 4.0, EMERGENCY: 1.0}
    stats = mode.stats()
    assert stats["mode_changes"] == 3
    assert stats["average_time_in_mode"] == {NORMAL: 6.0, DEGRADED: 4.0, EMERGENCY: 1.0}
    assert [t["to"] for t in stats["transitions"]] == [DEGRADED, EMERGENCY, NORMAL]
    assert stats["mode_for"] == 2.0


async def test_concurrent_marks_from_many_tasks_end_consistent() -> None:
    mode, _ = make(rules=[ModeRule.degraded(EMERGENCY, count=50)])
    changes: list[tuple[str, str]] = []

    async def slow_listener(old: str, new: str, reasons: list[dict[str, Any]]) -> None:
        await asyncio.sleep(0)
        changes.append((old, new))

    mode.add_mode_change_listener(slow_listener)
    await asyncio.gather(*(mode.mark_component_degraded(f"c{i}", "x") for i in range(100)))
    assert mode.current_mode == EMERGENCY
    await asyncio.gather(*(mode.mark_component_recovered(f"c{i}") for i in range(100)))
    assert mode.current_mode == NORMAL
    # Delivered in order, each transition continuing from the previous one.
    assert changes == [
        (NORMAL, DEGRADED),
        (DEGRADED, EMERGENCY),
        (EMERGENCY, DEGRADED),
        (DEGRADED, NORMAL),
    ]


def test_marks_from_threads_keep_the_component_set_exact() -> None:
    mode, _ = make()

    def worker(index: int) -> None:
        async def go() -> None:
            for j in range(20):
                await mode.mark_component_degraded(f"t{index}-{j}", "x")
                await mode.mark_component_recovered(f"t{index}-{j}")

        asyncio.run(go())

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mode.degraded_components == {}
    assert mode.current_mode == NORMAL


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"name": ""}, "name"),
        ({"rules": ["x"]}, "rules"),
        ({"default_rules": 1}, "default_rules"),
        ({"history_size": 0}, "history_size"),
        ({"clock": object()}, "clock"),
        ({"listeners": ["x"]}, "listeners"),
    ],
)
def test_bad_mode_settings_name_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError, match=parameter):
        SystemOperationMode(**kwargs)


async def test_bad_marks_and_rules_name_the_parameter() -> None:
    mode, _ = make()
    with pytest.raises(ConfigError, match="severity"):
        await mode.mark_component_degraded("db", "x", severity="apocalyptic")
    with pytest.raises(ConfigError, match="component"):
        await mode.mark_component_degraded("", "x")
    with pytest.raises(ConfigError, match="reason"):
        await mode.mark_component_degraded("db", None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="count"):
        ModeRule.degraded(EMERGENCY, count=0)
    with pytest.raises(ConfigError, match="mode"):
        ModeRule.degraded(NORMAL)
    with pytest.raises(ConfigError, match="when"):
        ModeRule(DEGRADED, "always")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="listener"):
        mode.add_mode_change_listener(3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="adjustment"):
        mode.add_adjustment(object())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="modes"):
        mode.add_adjustment(ModeAdjustment(print, print), modes="PANIC")
    with pytest.raises(ConfigError, match="modes"):
        mode.add_adjustment(ModeAdjustment(print, print), modes=[])


# -- adjustments ---------------------------------------------------------------------------


async def test_emergency_switches_retries_off_and_recovery_switches_them_back() -> None:
    mode, _ = make()
    retry = Retry(max_attempts=3, initial_delay=0.0, clock=ManualClock())
    mode.add_adjustment(RetryOff(retry))
    await mode.mark_component_degraded("db", "slow")
    assert not retry.stats()["suspended"]  # DEGRADED is not EMERGENCY
    await mode.mark_component_degraded("db", "down", severity="critical")
    assert retry.suspended
    flaky = FlakyCallable([ConnectionError()], then="ok")
    with pytest.raises(RetryExhaustedError):
        retry.call(flaky)
    assert flaky.calls == 1
    await mode.mark_component_recovered("db")
    assert not retry.stats()["suspended"]
    assert retry.call(FlakyCallable([ConnectionError()], then="ok")) == "ok"


async def test_scale_cap_shrinks_real_bulkhead_limiter_and_adaptive_caps_and_restores() -> None:
    mode, _ = make()
    bulkhead = Bulkhead(max_concurrent=10, max_queue=4)
    limiter = RateLimiter(100.0, burst=10)
    adaptive = AdaptiveLimiter(algorithm="aimd", initial_limit=20, min_limit=2, max_limit=40)
    mode.add_adjustment(ScaleCap(bulkhead, 0.5))
    mode.add_adjustment(ScaleCap(limiter, 0.25))
    mode.add_adjustment(ScaleCap(adaptive, 0.01))  # floors at the limiter's min_limit
    await mode.mark_component_degraded("db", "down", severity="critical")
    assert (bulkhead.max_concurrent, bulkhead.max_queue) == (5, 4)
    assert (limiter.rate, limiter.burst) == (25.0, 10)
    assert adaptive.max_limit == 2
    await mode.mark_component_recovered("db")
    assert (bulkhead.max_concurrent, limiter.rate, adaptive.max_limit) == (10, 100.0, 40)


async def test_adjustments_per_mode_swap_on_escalation_and_revert_in_reverse_order() -> None:
    mode, _ = make()
    bulkhead = Bulkhead(max_concurrent=10)
    log: list[str] = []
    mode.add_adjustment(ScaleCap(bulkhead, 0.8), modes=DEGRADED)
    mode.add_adjustment(ScaleCap(bulkhead, 0.3), modes=EMERGENCY)
    mode.add_adjustment(
        ModeAdjustment(lambda m: log.append(f"apply {m}"), lambda: log.append("revert")),
        modes=[DEGRADED, EMERGENCY],
    )
    await mode.mark_component_degraded("a", "x")
    assert bulkhead.max_concurrent == 8
    await mode.mark_component_degraded("b", "y", severity="critical")
    assert bulkhead.max_concurrent == 3
    await mode.mark_component_recovered("b")
    assert bulkhead.max_concurrent == 8
    await mode.mark_component_recovered("a")
    assert bulkhead.max_concurrent == 10
    assert log == ["apply DEGRADED", "revert"]  # stayed applied across the escalation


async def test_an_adjustment_added_during_its_mode_applies_at_once_and_removal_reverts() -> None:
    mode, _ = make()
    await mode.mark_component_degraded("db", "down", severity="critical")
    bulkhead = Bulkhead(max_concurrent=4)
    remove = mode.add_adjustment(ScaleCap(bulkhead, 0.5))
    assert bulkhead.max_concurrent == 2
    remove()
    remove()
    assert bulkhead.max_concurrent == 4


async def test_a_failing_adjustment_does_not_stop_the_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mode, _ = make()
    retry = Retry(max_attempts=3)

    def broken(mode_name: str) -> None:
        raise RuntimeError("adjustment bug")

    mode.add_adjustment(ModeAdjustment(broken, lambda: None, name="broken"))
    mode.add_adjustment(RetryOff(retry))
    await mode.mark_component_degraded("db", "down", severity="critical")
    assert retry.suspended
    assert mode.stats()["errors"] == 1


def test_scale_cap_and_retry_off_refuse_bad_input() -> None:
    with pytest.raises(ConfigError, match="target"):
        ScaleCap(object(), 0.5)
    with pytest.raises(ConfigError, match="factor"):
        ScaleCap(Bulkhead(), 0)
    with pytest.raises(ConfigError, match="minimum"):
        ScaleCap(Bulkhead(), 0.5, minimum=-1)
    with pytest.raises(ConfigError, match="retry"):
        RetryOff("retry")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="apply"):
        ModeAdjustment(1, print)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="revert"):
        ModeAdjustment(print, 1)  # type: ignore[arg-type]

    class HalfBuilt:
        def resize(self, n: int) -> None: ...

    with pytest.raises(ConfigError, match="target"):
        ScaleCap(HalfBuilt(), 0.5)


def test_scale_cap_and_retry_off_are_idempotent() -> None:
    bulkhead = Bulkhead(max_concurrent=9)
    cap = ScaleCap(bulkhead, 0.5)
    cap.apply(EMERGENCY)
    cap.apply(EMERGENCY)
    assert (bulkhead.max_concurrent, cap.active) == (4, True)
    cap.revert()
    cap.revert()
    assert (bulkhead.max_concurrent, cap.active) == (9, False)
    retry = Retry(max_attempts=2)
    off = RetryOff(retry)
    off.apply(EMERGENCY)
    off.apply(EMERGENCY)
    off.revert()
    assert not retry.suspended
