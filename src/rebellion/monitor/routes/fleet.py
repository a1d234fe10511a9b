"""The fleet, on a hub (``rebellion serve --fleet``): hosts, processes, primitives.

>>> sorted(r.path for r in router.routes)
['/api/v1/fleet', '/api/v1/fleet/hosts/{host_id}/samples']
"""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, HTTPException, Query, Request

from ...fleet import FleetView
from ..schemas import FleetHostSamples, FleetResponse

__all__ = ["router"]

router = APIRouter(tags=["fleet"])


def _view(request: Request) -> FleetView:
    return cast(FleetView, request.app.state.fleet)


@router.get("/api/v1/fleet", summary="Every host and every process's primitives")
async def fleet(request: Request) -> FleetResponse:
    """Return the hosts (health, mode, open incidents, last seen, stale), the processes
    and every primitive of every process, with its state."""
    view = _view(request)
    body: dict[str, Any] = view.snapshot()
    body["events"] = view.events()[-100:]
    body["hub"] = view.stats()
    return FleetResponse.model_validate(body)


@router.get(
    "/api/v1/fleet/hosts/{host_id}/samples", summary="A host's latest samples, for its charts"
)
async def host_samples(
    request: Request,
    host_id: str,
    count: Annotated[int, Query(ge=1, le=1000, description="samples, newest last")] = 300,
) -> FleetHostSamples:
    """Return up to ``count`` of the host's latest samples, read from its stream."""
    view = _view(request)
    if not view.knows(host_id):
        raise HTTPException(404, f"host_id: no agent {host_id!r} in the fleet")
    try:
        samples = await view.host_samples(host_id, count)
    except view.redis_errors as error:
        raise HTTPException(503, f"Redis unreachable: {type(error).__name__}") from None
    return FleetHostSamples(host=host_id, samples=samples)
