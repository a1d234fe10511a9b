"""The live stream: ``WS /ws`` sends samples, alerts, events and heartbeats.

>>> [r.path for r in router.routes]
['/ws']
"""

from __future__ import annotations

from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from ..security import TOKEN_SUBPROTOCOL, token_from_scope
from ._state import service_of

__all__ = ["router"]

router = APIRouter()


@router.websocket("/ws")
async def stream(websocket: WebSocket) -> None:
    """Accept the subprotocol the client offered and serve it until it closes."""
    offered = websocket.scope.get("subprotocols", [])
    chosen = next((p for p in offered if p == "rebellion.v1"), None)
    if chosen is None and token_from_scope(websocket.scope) is not None:
        chosen = next((p for p in offered if p.startswith(TOKEN_SUBPROTOCOL)), None)
    await websocket.accept(subprotocol=chosen)
    try:
        await service_of(websocket).hub.serve(websocket)
    except WebSocketDisconnect:
        pass
