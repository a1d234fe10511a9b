"""Small helpers of the ASGI middleware: response tracking and JSON-safe snapshots.

>>> jsonable({"rate": float("inf"), "states": ("OPEN",)})
{'rate': None, 'states': ['OPEN']}
"""

from __future__ import annotations

import enum
import math
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any, final

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


def jsonable(value: Any) -> Any:
    """Return ``value`` with everything JSON can't carry made plain (inf/NaN -> None)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, enum.Enum):
        return value.value if isinstance(value.value, str | int) else value.name
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)
