"""Alerts: active, pending and the latest transitions.

>>> [r.path for r in router.routes]
['/api/v1/alerts']
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..._json import jsonable
from ..schemas import AlertsResponse
from ._state import service_of

__all__ = ["router"]

router = APIRouter(tags=["alerts"])


@router.get("/api/v1/alerts", summary="Active alerts and recent alert history")
async def alerts(request: Request) -> AlertsResponse:
    """Return the alert engine's snapshot (empty lists without an engine)."""
    engine = service_of(request).alerts
    if engine is None:
        return AlertsResponse()
    return AlertsResponse.model_validate(jsonable(engine.snapshot()))
