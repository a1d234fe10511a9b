"""The monitor's own health and the process's operation mode, for ``/api/v1/health``.

:class:`MonitorHealth` runs a :class:`~rebellion.health.HealthRegistry` with checks on
what the monitor can see (sampling keeps up, disk and memory headroom) and feeds a
:class:`~rebellion.health.SystemOperationMode`, so the dashboard's mode badge shows
NORMAL / DEGRADED / EMERGENCY with the reasons. Applications that embed the monitor
can add their own checks (``monitor_health.registry.add(...)``) or mark components
degraded on ``monitor_health.mode``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, final

from .._clock import Clock
from .._validate import check_clock
from ..health import FunctionHealthCheck, HealthRegistry, HealthStatus, SystemOperationMode

if TYPE_CHECKING:
    from .service import MonitorService

__all__ = ["MonitorHealth"]


def _level(value: float | None, degraded: float, critical: float, what: str) -> HealthStatus:
    if value is None:
        return HealthStatus("ok", f"no {what} reading yet")
    if value >= critical:
        return HealthStatus("critical", f"{what} at {value:.1f}%", {"percent": value})
    if value >= degraded:
        return HealthStatus("degraded", f"{what} at {value:.1f}%", {"percent": value})
    return HealthStatus("ok", f"{what} at {value:.1f}%", {"percent": value})


@final
class MonitorHealth:
    """Health checks of the monitor and host, feeding an operation mode.

    Args:
        service: the monitor whose samples the checks read.
        interval: seconds between check runs.
        clock: time source.
    """

    def __init__(
        self, service: MonitorService, *, interval: float = 10.0, clock: Clock | None = None
    ) -> None:
        self._clock = check_clock(clock)
        self._service = service
        self.mode = SystemOperationMode("monitor.mode", clock=self._clock)
        self.registry = HealthRegistry(
            "monitor.health", interval=interval, timeout=2.0, mode=self.mode, clock=self._clock
        )
        self.registry.add(FunctionHealthCheck("sampling", self._sampling, "monitor"))
        self.registry.add(
            FunctionHealthCheck("disk", lambda: self._percent("disk.percent", 90, 97), "host")
        )
        self.registry.add(
            FunctionHealthCheck(
                "memory", lambda: self._percent("memory.percent", 90, 97), "host", critical=False
            )
        )

    def _latest(self, metric: str) -> float | None:
        latest = self._service.snapshot()
        if latest is None:
            return None
        value = latest["values"].get(metric)
        return float(value) if isinstance(value, int | float) else None

    def _percent(self, metric: str, degraded: float, critical: float) -> HealthStatus:
        return _level(self._latest(metric), degraded, critical, metric)

    def _sampling(self) -> HealthStatus:
        latest = self._service.snapshot()
        if latest is None:
            return HealthStatus("degraded", "no sample taken yet")
        age = self._clock.wall() - float(latest["at"])
        limit = 3 * self._service.interval + 1.0
        details = {"age_seconds": round(age, 3), "limit_seconds": limit}
        if age > 10 * limit:
            return HealthStatus("critical", f"last sample {age:.0f}s old", details)
        if age > limit:
            return HealthStatus("degraded", f"last sample {age:.1f}s old", details)
        return HealthStatus("ok", "sampling on time", details)

    async def start(self) -> None:
        """Run the checks once, then on their interval."""
        await self.registry.run_once()
        await self.registry.start()

    async def stop(self) -> None:
        """Stop running checks."""
        await self.registry.stop()

    def status(self) -> dict[str, Any]:
        """Return the aggregate status, each check's last result and the operation mode."""
        reports = self.registry.reports()
        latest = reports[-1].as_dict() if reports else {"status": None, "checks": {}}
        mode = self.mode.stats()
        return {
            "status": latest["status"] or "ok",
            "checks": latest["checks"],
            "mode": self.mode.current_mode,
            "operation_mode": mode,
        }
