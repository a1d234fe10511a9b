"""The monitor's health checks and operation mode, on virtual time."""

from __future__ import annotations

from typing import Any

from rebellion.monitor.health import MonitorHealth
from rebellion.testing import ManualClock


class FakeService:
    interval = 1.0

    def __init__(self) -> None:
        self.latest: dict[str, Any] | None = None

    def snapshot(self) -> dict[str, Any] | None:
        return self.latest


async def test_a_stale_sampler_degrades_then_a_full_disk_means_emergency() -> None:
    clock = ManualClock(wall_start=1000.0)
    service = FakeService()
    health = MonitorHealth(service, clock=clock)  # type: ignore[arg-type]
    report = await health.registry.run_once()
    assert report.checks["sampling"].status == "degraded"
    service.latest = {"at": clock.wall(), "values": {"disk.percent": 40.0, "memory.percent": 50.0}}
    report = await health.registry.run_once()
    assert report.status == "ok"
    assert health.status()["mode"] == "NORMAL"
    clock.advance(10)  # no new sample for 10 s at a 1 s interval
    report = await health.registry.run_once()
    assert report.checks["sampling"].status == "degraded"
    assert health.mode.current_mode == "DEGRADED"
    service.latest = {"at": clock.wall(), "values": {"disk.percent": 98.0, "memory.percent": 50.0}}
    await health.registry.run_once()
    assert health.mode.current_mode == "EMERGENCY"
    service.latest = {"at": clock.wall(), "values": {"disk.percent": 50.0, "memory.percent": 50.0}}
    await health.registry.run_once()
    status = health.status()
    assert status["mode"] == "NORMAL"
    assert status["checks"]["disk"]["status"] == "ok"
