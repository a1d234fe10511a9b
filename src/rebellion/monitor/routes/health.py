"""Health: aggregate checks and operation mode, liveness and readiness probes.

>>> [r.path for r in router.routes]
['/api/v1/health', '/healthz', '/readyz']
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from ..._json import jsonable
from ..schemas import HealthResponse, Liveness, Readiness
from ._state import service_of, settings_of

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/api/v1/health", summary="Health checks and operation mode")
async def health(request: Request) -> HealthResponse:
    """Return the checks' aggregate status, each result and the operation mode."""
    body: dict[str, Any] = {"status": "ok"}
    extra = settings_of(request).extra_status
    if extra is not None:
        body.update(jsonable(extra()))
    body["monitor"] = {"ready": service_of(request).ready}
    return HealthResponse.model_validate(body)


@router.get("/healthz", summary="Liveness")
async def healthz() -> Liveness:
    """Answer while the process serves requests."""
    return Liveness(status="ok")


@router.get(
    "/readyz",
    summary="Readiness: first sample taken and sampling running",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "not ready yet"}},
)
async def readyz(request: Request) -> JSONResponse:
    """Return 200 once sampling runs, 503 before."""
    ready = service_of(request).ready
    return JSONResponse({"ready": ready}, status_code=200 if ready else 503)
