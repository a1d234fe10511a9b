"""Host samples: the latest analysed one, the metric names and their history.

>>> [r.path for r in router.routes]
['/api/v1/snapshot', '/api/v1/metrics', '/api/v1/history']
"""

from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request

from ...errors import ConfigError
from ..schemas import History, HistoryPoint, MetricNames, Snapshot
from ..store import MAX_TIME
from ._state import service_of

__all__ = ["router"]

router = APIRouter(tags=["samples"])

_MAX_SPAN = 366 * 86400.0


@router.get("/api/v1/snapshot", summary="Latest analysed host sample", response_model=Snapshot)
async def snapshot(request: Request) -> object:
    """Return the latest sample with its analysis, process table and mount usage."""
    latest = service_of(request).snapshot()
    if latest is None:
        raise HTTPException(503, "no sample yet: the monitor is starting")
    return latest


@router.get("/api/v1/metrics", summary="Names of the metrics kept in history")
async def metric_names(request: Request) -> MetricNames:
    """Return every metric name the history store has seen."""
    return MetricNames(metrics=service_of(request).store.metrics())


@router.get("/api/v1/history", summary="A metric's history, downsampled")
async def history(
    request: Request,
    metric: Annotated[str, Query(min_length=1, max_length=200)],
    since: Annotated[
        float,
        Query(
            description="epoch seconds, or a negative number of seconds before now",
            ge=-_MAX_SPAN,
            le=MAX_TIME,
            allow_inf_nan=False,
        ),
    ] = -3600.0,
    until: Annotated[
        float | None,
        Query(description="epoch seconds", ge=0, le=MAX_TIME, allow_inf_nan=False),
    ] = None,
    resolution: Annotated[
        int | None, Query(ge=1, le=86_400, description="read this tier only (seconds)")
    ] = None,
    step: Annotated[
        int | None,
        Query(ge=1, le=366 * 86400, description="seconds per bucket (mean, min, max)"),
    ] = None,
    max_points: Annotated[int, Query(ge=1, le=10_000)] = 2000,
) -> History:
    """Return ``metric``'s buckets in ``[since, until)``; a closed range fits ``max_points``."""
    start = time.time() + since if since < 0 else since
    if until is not None and until < start:
        raise HTTPException(422, "until must not be before since")
    store = service_of(request).store
    if metric not in store.metrics():
        raise HTTPException(
            404, f"unknown metric {metric!r}; GET /api/v1/metrics lists the known ones"
        )
    try:
        points = store.history(
            metric, start, until, resolution=resolution, max_points=max_points, step=step
        )
    except ConfigError as error:
        raise HTTPException(422, str(error)) from None
    return History(
        metric=metric,
        since=start,
        until=until,
        step=step,
        points=[
            HistoryPoint(at=p.at, mean=p.mean, min=p.min, max=p.max, n=p.count) for p in points
        ],
    )
