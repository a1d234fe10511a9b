"""The live stream: ``WS /ws`` sends samples, alerts, events and heartbeats.

>>> [r.path for r in router.routes]
['/ws']
"""

from __future__ import annotations

from typing import final

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
        await service_of(websocket).hub.serve(_TextFrames(websocket))
    except WebSocketDisconnect:
        pass


@final
class _TextFrames:
    """A WebSocket whose binary frames read as UTF-8 text, so the hub can answer them."""

    __slots__ = ("_ws",)

    def __init__(self, websocket: WebSocket) -> None:
        self._ws = websocket

    async def send_text(self, data: str) -> None:
        await self._ws.send_text(data)

    async def receive_text(self) -> str:
        message = await self._ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason"))
        text = message.get("text")
        if text is None:
            return bytes(message.get("bytes") or b"").decode("utf-8", "replace")
        return str(text)

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        await self._ws.close(code, reason)
