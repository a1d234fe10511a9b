"""What a health registry records: one check's result and one run's report.

>>> CheckResult("db", "critical", "down", {}, False, 0.1, 0.0).effective_status
'degraded'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, final

from .checks import CRITICAL, DEGRADED

__all__ = ["CheckResult", "HealthReport"]


@final
@dataclass(frozen=True, slots=True)
class CheckResult:
    """One run of one check.

    Attributes:
        name: the check's name.
        status: ``"ok" | "degraded" | "critical"`` as the check reported it.
        message: the check's message (or what went wrong running it).
        details: the check's details (``error``/``error_type`` when it raised).
        critical: whether the check is critical for the aggregate.
        duration: seconds the check took (its timeout when it timed out).
        at: wall-clock time the run finished.
        timed_out: whether the check overran its timeout.
    """

    name: str
    status: str
    message: str
    details: Mapping[str, Any]
    critical: bool
    duration: float
    at: float
    timed_out: bool = False

    @property
    def effective_status(self) -> str:
        """The status as counted in the aggregate (non-critical: at most degraded)."""
        if self.status == CRITICAL and not self.critical:
            return DEGRADED
        return self.status

    def as_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-friendly dict."""
        return {
            "status": self.status,
            "message": self.message,
            "details": dict(self.details),
            "critical": self.critical,
            "duration": self.duration,
            "at": self.at,
            "timed_out": self.timed_out,
        }


@final
@dataclass(frozen=True, slots=True)
class HealthReport:
    """The outcome of one :meth:`HealthRegistry.run_once`: aggregate and per-check."""

    status: str
    checks: Mapping[str, CheckResult]
    at: float
    duration: float

    def as_dict(self) -> dict[str, Any]:
        """Return the report as a JSON-friendly dict."""
        return {
            "status": self.status,
            "at": self.at,
            "duration": self.duration,
            "checks": {name: result.as_dict() for name, result in self.checks.items()},
        }
