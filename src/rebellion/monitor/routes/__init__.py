"""The monitor's HTTP and WebSocket routes, one router per area.

Each module exports ``router``; handlers find the running service and the app's
settings on ``app.state`` (see :mod:`rebellion.monitor.routes._state`).

>>> sorted(ROUTERS)[:3]
['alerts', 'health', 'page']
"""

from __future__ import annotations

from fastapi import APIRouter

from . import alerts, health, page, resilience, samples, stats, stream

__all__ = ["ROUTERS"]

ROUTERS: dict[str, APIRouter] = {
    "page": page.router,
    "samples": samples.router,
    "alerts": alerts.router,
    "health": health.router,
    "resilience": resilience.router,
    "stats": stats.router,
    "stream": stream.router,
}
"""Every area's router, by area name, in the order they are included."""
