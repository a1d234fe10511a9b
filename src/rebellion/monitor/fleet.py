"""Connect a running monitor to the fleet: as an agent (publish) or as a hub (read).

:class:`AgentLink` makes ``rebellion serve --publish`` an agent: every sample, incident
and alert of the local monitor is also queued for Redis (never awaited: a slow, full or
absent Redis cannot delay a tick), and the process's own primitives are published as a
:class:`~rebellion.fleet.FleetMember`. :class:`HubLink` makes ``rebellion serve --fleet``
a hub: a :class:`~rebellion.fleet.FleetView` whose new samples go out on the WebSocket
as ``fleet`` messages, and which ``GET /api/v1/fleet`` reads.

>>> link = AgentLink("redis://127.0.0.1:1/0", host_id="web-1")
>>> link.member.role, link.member.host_id
('agent', 'web-1')
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from typing import Any, final

from ..fleet import FleetMember, FleetView

__all__ = ["AgentLink", "HubLink"]

_TOP_PROCESSES = 5


@final
class AgentLink:
    """Publish a monitor's samples, incidents, alerts and primitives to the fleet.

    Args:
        url: the Redis URL.
        host_id: this host's id in the fleet (default: the host name).
        interval: the monitor's sampling interval (also the member's heartbeat).
        status: returns the monitor's health (``{"status", "mode", "incidents_open"}``)
            for each sample.
        options: more :class:`~rebellion.fleet.FleetMember` options.
    """

    def __init__(
        self,
        url: str,
        *,
        host_id: str | None = None,
        interval: float = 1.0,
        status: Callable[[], dict[str, Any]] | None = None,
        **options: Any,
    ) -> None:
        options.setdefault("process", f"rebellion-serve:{os.getpid()}")
        self.member = FleetMember(url, host_id=host_id, interval=interval, role="agent", **options)
        self._status = status

    def relay(self, kind: str, payload: dict[str, Any]) -> None:
        """Queue one monitor message for Redis (the monitor's relay hook)."""
        publish = self.member.publisher.publish
        if kind == "sample":
            publish("samples", "sample", self._sample(payload))
        elif kind == "incident":
            publish("events", "incident", payload)
        elif kind == "alert":
            publish("events", "alert", payload)

    def _sample(self, message: dict[str, Any]) -> dict[str, Any]:
        status = self._status() if self._status is not None else {}
        values = message.get("values", {})
        processes = message.get("processes", [])
        return {
            "at": message.get("at"),
            "interval": self.member.interval,
            "values": values,
            "health": status.get("status"),
            "mode": status.get("mode"),
            "incidents_open": status.get("incidents_open"),
            "processes": processes[:_TOP_PROCESSES],
        }

    async def start(self) -> None:
        """Start publishing."""
        self.member.start()

    async def stop(self) -> None:
        """Stop publishing (what is queued gets a moment to go)."""
        await asyncio.to_thread(self.member.close)


@final
class HubLink:
    """Follow the fleet on Redis for a hub monitor.

    Args:
        url: the Redis URL the agents publish to.
        publish: the hub's WebSocket fan-out (``Hub.publish``).
        options: more :class:`~rebellion.fleet.FleetView` options.
    """

    def __init__(
        self, url: str, *, publish: Callable[[str, dict[str, Any]], object], **options: Any
    ) -> None:
        self.view = FleetView(url, on_update=lambda update: publish("fleet", update), **options)

    async def start(self) -> None:
        """Start following the streams."""
        await self.view.start()

    async def stop(self) -> None:
        """Stop following."""
        await self.view.stop()
