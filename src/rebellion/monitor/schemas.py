"""Response models of the monitor's HTTP API, so ``/openapi.json`` describes every answer.

Nested statistics whose keys depend on the primitive or the check (a breaker's stats
differ from a bulkhead's) stay open mappings; everything the dashboard relies on is
typed.

>>> HistoryPoint(at=1.0, mean=2.0, min=1.0, max=3.0, n=2).model_dump()["max"]
3.0
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AlertsResponse",
    "EventRecord",
    "FleetHost",
    "FleetHostSamples",
    "FleetPrimitive",
    "FleetProcess",
    "FleetResponse",
    "HealthResponse",
    "History",
    "HistoryPoint",
    "Liveness",
    "MetricAnalysis",
    "MetricNames",
    "PrimitiveRow",
    "ProcessRow",
    "Readiness",
    "ResilienceResponse",
    "Snapshot",
    "StatsResponse",
]


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")


class MetricAnalysis(_Open):
    """What the transformer says about one metric this tick."""

    mean: float | None = None
    std_dev: float | None = None
    p95: float | None = None
    z: float | None = None
    anomaly_score: float | None = None
    anomaly: bool = False
    trend: str | None = None
    slope: float | None = Field(None, description="units per second")
    forecast: float | None = Field(None, description="the fitted line `horizon` s ahead")
    forecast_lo: float | None = Field(None, description="lower end of the 95 % band")
    forecast_hi: float | None = Field(None, description="upper end of the 95 % band")
    horizon: float | None = Field(None, description="seconds ahead of the forecast")
    time_to_threshold: float | None = None
    health: str | None = None


class ProcessRow(BaseModel):
    """One process: CPU % of one core, resident memory, I/O bytes per second."""

    pid: int
    name: str
    cpu_percent: float
    memory_rss: int
    memory_percent: float
    user: str = ""
    threads: int = 1
    io_bps: float = 0.0
    cmdline: str = ""


class Snapshot(BaseModel):
    """The latest analysed host sample."""

    at: float = Field(description="wall time, epoch seconds")
    values: dict[str, float | None] = Field(
        description="metric -> value: `cpu.core3`, `disk[sda].read_bps`, `net[eth0].recv_bps`, "
        "`fs[/].percent`, `cgroup[system.slice/x.service].memory`, `temp[chip]`... "
        "(null: not a finite number this tick)"
    )
    analysis: dict[str, MetricAnalysis]
    processes: list[ProcessRow]
    disks: dict[str, float | None] = Field(description="mount point -> used %")


class MetricNames(BaseModel):
    """Every metric name the history store has seen."""

    metrics: list[str]


class HistoryPoint(BaseModel):
    """One bucket: mean, min and max of the ``n`` samples it holds."""

    at: float = Field(description="bucket start, epoch seconds")
    mean: float
    min: float
    max: float
    n: int


class History(BaseModel):
    """A metric's history over a range at one step."""

    metric: str
    since: float
    until: float | None
    step: int | None = Field(None, description="seconds per bucket, as asked")
    points: list[HistoryPoint]


class AlertsResponse(_Open):
    """Active, pending and recent alerts (each an alert snapshot)."""

    active: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []


class HealthResponse(_Open):
    """Aggregate health, each check's result and the operation mode."""

    status: str
    monitor: dict[str, bool]
    checks: dict[str, Any] = {}
    mode: str | None = None


class PrimitiveRow(BaseModel):
    """One live resilience primitive and its statistics snapshot."""

    kind: str
    name: str
    stats: dict[str, Any]


class EventRecord(BaseModel):
    """One resilience event as streamed to the dashboard."""

    event: str
    source: str
    at: float | None
    fields: dict[str, Any]


class ResilienceResponse(BaseModel):
    """Every live primitive (one per kind and name) and the latest events."""

    primitives: list[PrimitiveRow]
    events: list[EventRecord]


class StatsResponse(_Open):
    """The monitor's own cost and counters."""

    ticks: int
    interval: float
    tick_ms_p50: float | None
    tick_ms_max: float | None
    host: dict[str, Any]
    store: dict[str, Any]
    hub: dict[str, Any]


class Liveness(BaseModel):
    """The process answers."""

    status: str


class Readiness(BaseModel):
    """The first sample is taken and sampling runs."""

    ready: bool


class FleetHost(_Open):
    """One agent's host as the hub sees it."""

    id: str
    last_seen: float | None = Field(description="epoch seconds of its last entry (Redis time)")
    stale: bool = Field(description="nothing came for 2.5 of its intervals")
    interval: float
    at: float | None = Field(None, description="its latest sample's time (its own clock)")
    health: str | None = None
    mode: str | None = None
    open_incidents: int | None = None
    incidents: list[dict[str, Any]] = []


class FleetProcess(_Open):
    """One process publishing primitives (an agent or a service)."""

    host: str
    process: str
    pid: int | None = None
    role: str | None = None
    last_seen: float
    stale: bool
    interval: float
    primitives: int


class FleetPrimitive(_Open):
    """One primitive of one process on one host."""

    host: str
    process: str
    kind: str
    name: str
    state: str = Field(description="the state word: CLOSED/OPEN/HALF_OPEN, a mode, active")
    stale: bool = False
    last_seen: float | None = None
    stats: dict[str, Any] = {}


class FleetResponse(_Open):
    """The whole fleet: hosts, processes and every process's primitives."""

    hosts: list[FleetHost]
    primitives: list[FleetPrimitive]
    processes: list[FleetProcess] = []
    redis: dict[str, Any] = {}
    events: list[dict[str, Any]] = []


class FleetHostSamples(BaseModel):
    """A host's latest samples, oldest first."""

    host: str
    samples: list[dict[str, Any]]
