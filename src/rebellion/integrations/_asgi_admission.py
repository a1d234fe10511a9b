"""Small helpers of the ASGI middleware: response tracking and JSON-safe snapshots."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, final

from .._json import jsonable

__all__ = ["Exchange", "jsonable"]


@final
class Exchange:
    """Wrap an ASGI ``send`` to remember whether (and with which status) a response began."""

    __slots__ = ("_send", "started", "status")

    def __init__(self, send: Callable[[MutableMapping[str, Any]], Awaitable[None]]) -> None:
        self._send = send
        self.started = False
        self.status: int | None = None

    async def send(self, message: MutableMapping[str, Any]) -> None:
        """Forward ``message``, noting the status of ``http.response.start``."""
        if message["type"] == "http.response.start":
            self.started = True
            self.status = message["status"]
        await self._send(message)
