"""Health checks and the registry: timeouts, errors, aggregate, history, breakers, mode."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rebellion import CircuitBreaker, ConfigError
from rebellion.health import (
    BreakerHealthCheck,
    FunctionHealthCheck,
    HealthCheck,
    HealthCheckChanged,
    HealthRegistry,
    HealthStatus,
    SystemHealthChanged,
    SystemOperationMode,
)
from rebellion.testing import ManualClock, RecordingListener


class Fixed(HealthCheck):
    def __init__(self, name: str, status: str = "ok", **options: Any) -> None:
        super().__init__(name, "test", **options)
        self.status = status
        self.runs = 0

    async def check_health(self) -> HealthStatus:
        self.runs += 1
        return HealthStatus(status=self.status, message=f"{self.name} is {self.status}")


class Hanging(HealthCheck):
    """Never answers; with ``stubborn`` it even swallows cancellation."""

    def __init__(self, name: str, stubborn: bool = False, **options: Any) -> None:
        super().__init__(name, "test", **options)
        self.stubborn = stubborn
        self.release = asyncio.Event()

    async def check_health(self) -> HealthStatus:
        while True:
            try:
                await self.release.wait()
                return HealthStatus("ok")
            except asyncio.CancelledError:
                if not self.stubborn:
                    raise


class Raising(HealthCheck):
    async def check_health(self) -> HealthStatus:
        raise ConnectionRefusedError("db refused")


def make(**options: Any) -> tuple[HealthRegistry, ManualClock]:
    clock = ManualClock(auto_advance=False)
    return HealthRegistry(clock=clock, timeout=1.0, **options), clock


# -- statuses and checks ---------------------------------------------------------------


def test_health_status_accepts_the_three_levels_only() -> None:
    assert HealthStatus("degraded", "slow").rank == 1
    assert HealthStatus(status="ok").ok
    with pytest.raises(ConfigError, match="status"):
        HealthStatus("warning")
    with pytest.raises(ConfigError, match="details"):
        HealthStatus("ok", "", details=[1])  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="message"):
        HealthStatus("ok", 3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"name": ""}, "name"),
        ({"name": 3}, "name"),
        ({"component_type": " x"}, "component_type"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": -1.0}, "timeout"),
        ({"critical": "yes"}, "critical"),
    ],
)
def test_bad_check_settings_name_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    options: dict[str, Any] = {"name": "c"} | kwargs
    with pytest.raises(ConfigError, match=parameter):
        Raising(**options)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"interval": 0}, "interval"),
        ({"timeout": -1}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"history_size": 0}, "history_size"),
        ({"mode": "EMERGENCY"}, "mode"),
        ({"clock": "now"}, "clock"),
        ({"name": ""}, "name"),
        ({"listeners": [3]}, "listeners"),
    ],
)
def test_bad_registry_settings_name_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError, match=parameter):
        HealthRegistry(**kwargs)


def test_function_checks_and_breaker_checks_refuse_bad_input() -> None:
    with pytest.raises(ConfigError, match="fn"):
        FunctionHealthCheck("f", "not callable")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="breaker"):
        BreakerHealthCheck("cb")  # type: ignore[arg-type]
    health, _ = make()
    with pytest.raises(ConfigError, match="check"):
        health.add("check")  # type: ignore[arg-type]
    health.add(Fixed("a"))
    with pytest.raises(ConfigError, match="check"):
        health.add(Fixed("a"))


# -- running ---------------------------------------------------------------------------


async def test_aggregate_is_the_worst_status() -> None:
    health, _ = make()
    health.add(Fixed("a"))
    health.add(Fixed("b", "degraded"))
    assert (await health.run_once()).status == "degraded"
    health.add(Fixed("c", "critical"))
    report = await health.run_once()
    assert report.status == "critical"
    assert list(report.checks) == ["a", "b", "c"]
    assert health.status == "critical"


async def test_a_non_critical_check_counts_at_most_as_degraded() -> None:
    health, _ = make()
    health.add(Fixed("a"))
    health.add(Fixed("optional", "critical", critical=False))
    report = await health.run_once()
    assert report.status == "degraded"
    assert report.checks["optional"].status == "critical"
    assert report.checks["optional"].effective_status == "degraded"


async def test_a_hanging_check_is_critical_after_its_timeout_and_others_still_report() -> None:
    health, clock = make()
    health.add(Fixed("fast"))
    hanging = health.add(Hanging("slow"))
    run = asyncio.create_task(health.run_once())
    await clock.advance_async(0)  # the run starts and arms its timers
    await clock.advance_async(0.99)
    assert not run.done()
    await clock.advance_async(0.01)
    report = await run
    slow = report.checks["slow"]
    assert (slow.status, slow.timed_out, slow.duration) == ("critical", True, 1.0)
    assert "within 1s" in slow.message
    assert report.checks["fast"].status == "ok"
    assert report.status == "critical"
    assert health.stats()["timeouts"] == 1
    assert isinstance(hanging, Hanging)


async def test_a_check_that_swallows_cancellation_never_hangs_the_registry() -> None:
    health, clock = make()
    stubborn = Hanging("stubborn", stubborn=True)
    health.add(stubborn)
    run = asyncio.create_task(health.run_once())
    await clock.advance_async(0)
    await clock.advance_async(1.0)
    report = await run
    assert report.checks["stubborn"].timed_out
    stubborn.release.set()  # let the abandoned task end so the loop closes cleanly
    await asyncio.sleep(0)


async def test_per_check_timeout_overrides_the_default() -> None:
    health, clock = make()
    health.add(Hanging("patient", timeout=3.0))
    health.add(Hanging("impatient", timeout=0.5))
    run = asyncio.create_task(health.run_once())
    await clock.advance_async(0)
    await clock.advance_async(0.5)
    assert not run.done()
    await clock.advance_async(2.5)
    report = await run
    assert report.checks["impatient"].duration == 0.5
    assert report.checks["patient"].duration == 3.0


async def test_a_raising_check_is_critical_with_the_error_in_details() -> None:
    health, _ = make()
    health.add(Raising("db", "database"))
    result = (await health.run_once()).checks["db"]
    assert result.status == "critical"
    assert result.details == {"error": "db refused", "error_type": "ConnectionRefusedError"}
    assert health.stats()["errors"] == 1


async def test_a_check_returning_garbage_is_critical() -> None:
    health, _ = make()
    health.add(FunctionHealthCheck("odd", lambda: "fine"))  # type: ignore[arg-type,return-value]

    class NotAsync(HealthCheck):
        def check_health(self) -> HealthStatus:  # type: ignore[override]
            raise RuntimeError("sync body")

    health.add(NotAsync("sync"))
    report = await health.run_once()
    assert report.checks["odd"].details["error_type"] == "TypeError"
    assert report.checks["sync"].details["error"] == "sync body"


async def test_function_checks_accept_bools_statuses_and_coroutines() -> None:
    async def degraded() -> HealthStatus:
        return HealthStatus("degraded", "slow")

    health, _ = make()
    health.add(FunctionHealthCheck("yes", lambda: True))
    health.add(FunctionHealthCheck("no", lambda: False))
    health.add(FunctionHealthCheck("slow", degraded))
    report = await health.run_once()
    assert {n: r.status for n, r in report.checks.items()} == {
        "yes": "ok",
        "no": "critical",
        "slow": "degraded",
    }


async def test_history_is_bounded_and_reports_are_kept() -> None:
    health, _ = make(history_size=3)
    check = Fixed("a")
    health.add(check)
    for _ in range(5):
        await health.run_once()
    assert check.runs == 5
    assert len(health.history("a")) == 3
    assert len(health.reports()) == 3
    health.remove("a")
    with pytest.raises(KeyError):
        health.history("a")


async def test_events_announce_changes_only() -> None:
    recorder: RecordingListener[Any] = RecordingListener()
    health, _ = make(listeners=[recorder])
    check = Fixed("a")
    health.add(check)
    await health.run_once()
    await health.run_once()
    check.status = "critical"
    await health.run_once()
    changes = recorder.of_type(HealthCheckChanged)
    assert [(e.old_status, e.new_status) for e in changes] == [(None, "ok"), ("ok", "critical")]
    overall = recorder.of_type(SystemHealthChanged)
    assert [(e.old_status, e.new_status) for e in overall] == [(None, "ok"), ("ok", "critical")]


async def test_start_runs_on_the_interval_until_stopped() -> None:
    health, clock = make(interval=10.0)
    check = Fixed("a")
    health.add(check)
    await health.start()
    await health.start()  # idempotent
    await clock.advance_async(0)
    assert check.runs == 1
    assert health.stats()["running"]
    await clock.advance_async(10.0)
    await clock.advance_async(10.0)
    assert check.runs == 3
    await health.stop()
    await clock.advance_async(30.0)
    assert check.runs == 3
    assert not health.running
    await health.stop()  # harmless


async def test_stop_cancels_a_run_in_progress() -> None:
    health, clock = make(interval=10.0)
    health.add(Hanging("h"))
    async with health:
        await clock.advance_async(0.5)
    assert not health.running


async def test_breakers_are_health_checks() -> None:
    clock = ManualClock(auto_advance=False)
    breaker = CircuitBreaker("payments", failure_threshold=1, reset_timeout=5, clock=clock)
    health = HealthRegistry(clock=clock)
    check = health.add_breaker(breaker)
    assert check.name == "breaker:payments"
    assert (await health.run_once()).status == "ok"
    with pytest.raises(ZeroDivisionError):
        breaker.call(lambda: 1 / 0)
    result = (await health.run_once()).checks["breaker:payments"]
    assert result.status == "critical"
    assert result.details["state"] == "OPEN"
    await clock.advance_async(5.0)
    assert (await health.run_once()).status == "degraded"  # HALF_OPEN
    breaker.isolate("incident")
    assert (await health.run_once()).status == "critical"
    breaker.force_close()
    assert (await health.run_once()).status == "ok"


async def test_the_registry_feeds_the_operation_mode() -> None:
    mode = SystemOperationMode(clock=ManualClock())
    health = HealthRegistry(clock=ManualClock(), mode=mode)
    db = health.add(Fixed("db"))
    search = health.add(Fixed("search", critical=False))
    await health.run_once()
    assert mode.current_mode == "NORMAL"
    assert isinstance(search, Fixed)
    assert isinstance(db, Fixed)
    search.status = "critical"
    await health.run_once()
    assert mode.current_mode == "DEGRADED"
    assert mode.degraded_components["search"]["severity"] == "high"
    db.status = "critical"
    await health.run_once()
    assert mode.current_mode == "EMERGENCY"
    assert mode.degradation_reasons[-1]["reason"] == "db is critical"
    db.status = search.status = "ok"
    await health.run_once()
    assert mode.current_mode == "NORMAL"


async def test_a_thousand_checks_run_concurrently() -> None:
    clock = ManualClock(auto_advance=False)
    health = HealthRegistry(clock=clock, timeout=2.0)

    async def slow() -> bool:
        await clock.sleep_async(1.0)
        return True

    for i in range(1000):
        health.add(FunctionHealthCheck(f"c{i}", slow))
    run = asyncio.create_task(health.run_once())
    await clock.advance_async(0)
    await clock.advance_async(1.0, settle=20)
    report = await run
    assert report.status == "ok"
    assert len(report.checks) == 1000
    assert all(r.duration == 1.0 for r in report.checks.values())


async def test_seed_style_subclass_works_as_written() -> None:
    class Client:
        def __init__(self) -> None:
            self.circuit_breaker = CircuitBreaker("openai", failure_threshold=5)

        async def check_availability(self) -> dict[str, Any]:
            return {"response_time_ms": 12}

    class LLMProviderHealthCheck(HealthCheck):
        def __init__(self, provider_name: str, client: Client) -> None:
            super().__init__(f"llm_provider_{provider_name}", "llm_provider")
            self.provider_name = provider_name
            self.client = client

        async def check_health(self) -> HealthStatus:
            circuit_breaker = self.client.circuit_breaker
            if circuit_breaker.state == CircuitBreaker.OPEN:
                return HealthStatus(
                    status="critical",
                    message=f"{self.provider_name} circuit breaker is open",
                    details={"last_failure_time": circuit_breaker.last_failure_time},
                )
            result = await self.client.check_availability()
            return HealthStatus(
                status="ok",
                message=f"{self.provider_name} is available",
                details={"response_time_ms": result.get("response_time_ms")},
            )

    health = HealthRegistry()
    health.add(LLMProviderHealthCheck("openai", Client()))
    report = await health.run_once()
    assert report.checks["llm_provider_openai"].details == {"response_time_ms": 12}
