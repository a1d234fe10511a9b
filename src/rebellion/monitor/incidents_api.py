"""``GET /api/v1/incidents``: the monitor's incidents, newest first (a FastAPI router).

The body is ``{"incidents": [{"id", "status", "started", "ended", "severity", "summary",
"metrics": [{"name", "score", ...}], "processes": [{"pid", "name", "share", ...}],
"forecasts": [...]}]}``: the same objects the WebSocket streams as ``incident``
messages. ``started`` and ``ended`` are epoch seconds (``ended`` is null while open).
Query parameters: ``status`` (``open`` or ``resolved``) and ``limit`` (1-1000, default
50). The router reads the service from ``app.state.monitor``.

>>> [route.path for route in router.routes]
['/api/v1/incidents', '/api/v1/incidents/{ident}']
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ExhaustionForecast",
    "Incident",
    "IncidentList",
    "MetricChange",
    "ProcessShare",
    "router",
]


class MetricChange(BaseModel):
    """A metric that changed against the baseline before the incident (KS statistic)."""

    model_config = ConfigDict(extra="allow")
    name: str
    score: float = Field(description="two-sample KS statistic D, 0-1")
    p_value: float | None = None
    before: float | None = Field(None, description="median over the baseline")
    after: float | None = Field(None, description="median over the window")
    direction: Literal["up", "down"] | None = None
    trigger: bool = Field(False, description="this metric's anomaly opened or joined it")


class ProcessShare(BaseModel):
    """A process ranked by its share of the rise in CPU, memory or writes."""

    model_config = ConfigDict(extra="allow")
    pid: int
    name: str
    share: float = Field(description="part of the summed rises, 0-1")
    resource: Literal["cpu", "memory", "io"] | None = None
    rate: float | None = Field(None, description="rise per second (CPU: cores)")
    cpu_percent: float | None = None
    memory_rss: int | None = None


class ExhaustionForecast(BaseModel):
    """When memory, disk or swap will be full if the current trend holds."""

    model_config = ConfigDict(extra="allow")
    metric: str
    threshold: float
    time_to_threshold: float = Field(description="seconds")
    low: float | None = Field(None, description="95 % interval, seconds")
    high: float | None = Field(None, description="95 % interval, seconds (null: unbounded)")
    text: str


class Incident(BaseModel):
    """One incident: overlapping anomalies, explained."""

    model_config = ConfigDict(extra="allow")
    id: str
    status: Literal["open", "resolved"]
    started: float
    ended: float | None
    severity: str
    summary: str
    metrics: list[MetricChange]
    processes: list[ProcessShare]
    forecasts: list[ExhaustionForecast]


class IncidentList(BaseModel):
    """The answer of ``GET /api/v1/incidents``."""

    incidents: list[Incident]


router = APIRouter(tags=["incidents"])


def _tracker(request: Request) -> Any:
    service = getattr(request.app.state, "monitor", None)
    return getattr(service, "incidents", None)


@router.get(
    "/api/v1/incidents",
    response_model=IncidentList,
    summary="Incidents, newest first, each with its metrics, processes and forecasts",
)
async def incidents(
    request: Request,
    status: Annotated[Literal["open", "resolved"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> dict[str, Any]:
    """Return the incidents, newest first."""
    tracker = _tracker(request)
    return {"incidents": [] if tracker is None else tracker.list(status, limit)}


@router.get("/api/v1/incidents/{ident}", response_model=Incident, summary="One incident by its id")
async def incident(request: Request, ident: Annotated[str, Field(max_length=100)]) -> Any:
    """Return one incident, or 404."""
    tracker = _tracker(request)
    found = None if tracker is None else tracker.get(ident)
    if found is None:
        raise HTTPException(404, f"no incident {ident!r}; GET /api/v1/incidents lists them")
    return found
