"""The monitor's own cost and the Prometheus exposition.

>>> [r.path for r in router.routes]
['/api/v1/stats', '/metrics']
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import Response

from ..._json import jsonable
from ..schemas import StatsResponse
from ._state import service_of, settings_of

__all__ = ["router"]

router = APIRouter(tags=["stats"])


@router.get("/api/v1/stats", summary="The monitor's own cost and counters")
async def stats(request: Request) -> StatsResponse:
    """Return tick cost percentiles and the host, store and hub counters."""
    return StatsResponse.model_validate(jsonable(service_of(request).stats()))


@router.get(
    "/metrics",
    summary="Prometheus exposition",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
async def prometheus(request: Request) -> Response:
    """Return every host value and primitive counter in the Prometheus text format."""
    metrics_text = settings_of(request).metrics_text
    if metrics_text is None:
        raise HTTPException(404, "Prometheus exposition is not configured")
    body, content_type = metrics_text()
    return Response(body, media_type=content_type)
