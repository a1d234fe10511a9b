"""Resilience: every live primitive of the process and the latest events.

>>> [r.path for r in router.routes]
['/api/v1/resilience']
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from ..schemas import EventRecord, PrimitiveRow, ResilienceResponse
from ._state import service_of

__all__ = ["router"]

router = APIRouter(tags=["resilience"])


@router.get("/api/v1/resilience", summary="Every live resilience primitive, one per name")
async def resilience(request: Request) -> ResilienceResponse:
    """Return each live primitive's statistics and the last 200 events."""
    service = service_of(request)
    return ResilienceResponse(
        primitives=[PrimitiveRow.model_validate(p) for p in service.resilience()],
        events=[EventRecord.model_validate(e) for e in service.recent_events()],
    )
