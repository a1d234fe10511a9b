"""The HTTP and WebSocket face of the monitor (FastAPI), wrapped in the security guard.

Routes, one router per area (:mod:`rebellion.monitor.routes`): ``GET /`` dashboard,
``/api/v1/snapshot``, ``/api/v1/history``, ``/api/v1/metrics``, ``/api/v1/alerts``,
``/api/v1/health``, ``/api/v1/resilience``, ``/api/v1/stats``, ``/metrics``
(Prometheus), ``/healthz``, ``/readyz``, ``WS /ws``, ``/api/v1/incidents`` when the
incident analysis is installed, and ``/api/v1/fleet`` on a fleet hub. Every JSON answer
has a response model, so ``/openapi.json`` describes it. Bad parameters are 4xx with a
message naming the parameter, never 5xx.

>>> from rebellion.monitor.store import HistoryStore
>>> app = create_app(MonitorService(HistoryStore(":memory:")), manage_service=False)
>>> type(app).__name__
'Guard'
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from fastapi import APIRouter, FastAPI

from .. import __version__
from .hosts import AllowedHosts
from .routes import ROUTERS
from .routes._state import Settings
from .routes.page import ASSETS
from .security import Guard
from .service import MonitorService

__all__ = ["create_app"]


def _optional_routers() -> list[APIRouter]:
    """Return routers of optional areas that are installed (incident analysis)."""
    found = []
    for module in ("rebellion.monitor.incidents_api",):
        try:
            router = importlib.import_module(module).router
        except ImportError:
            continue
        found.append(router)
    return found


def create_app(
    service: MonitorService,
    *,
    token: str | None = None,
    allowed_origins: Iterable[str] = (),
    allowed_hosts: Iterable[str] = (),
    bind: str = "127.0.0.1",
    max_body: int = 64 * 1024,
    extra_status: Callable[[], dict[str, Any]] | None = None,
    metrics_text: Callable[[], tuple[bytes, str]] | None = None,
    manage_service: bool = True,
    fleet: Any = None,
) -> Guard:
    """Build the monitor's ASGI application around ``service``.

    Args:
        service: the running (or to be started) monitor service.
        token: the access token; None leaves the API open (loopback binds only).
        allowed_origins: extra browser origins accepted on WebSocket upgrades.
        allowed_hosts: extra ``Host`` names answered besides loopback ones (see
            :class:`~rebellion.monitor.hosts.AllowedHosts`).
        bind: the address the server listens on (a non-loopback one is answered too).
        max_body: largest accepted request body in bytes.
        extra_status: returns health and operation-mode details for ``/api/v1/health``.
        metrics_text: returns the Prometheus exposition and its content type.
        manage_service: start and stop ``service`` with the application's lifespan.
        fleet: a :class:`~rebellion.fleet.FleetView` to serve ``/api/v1/fleet`` from
            (a hub); None leaves the fleet routes out.

    Returns:
        The application, guarded (Host, token, origin and size checks); the favicon
        and the vendored chart library are served without a token (they carry no data).

    Raises:
        ConfigError: ``allowed_hosts`` holds something that is not a host.
    """
    hosts = AllowedHosts(allowed_hosts, bind=bind)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if manage_service:
            await service.start()
        try:
            yield
        finally:
            if manage_service:
                await service.stop()

    app = FastAPI(
        title="System Rebellion monitor",
        version=__version__,
        description="Host metrics that understand themselves, and every resilience "
        "primitive of the process, live.",
        lifespan=lifespan,
    )
    app.state.monitor = service
    app.state.settings = Settings(extra_status=extra_status, metrics_text=metrics_text)
    for router in [*ROUTERS.values(), *_optional_routers()]:
        app.include_router(router)
    if fleet is not None:
        from .routes.fleet import router as fleet_router

        app.state.fleet = fleet
        app.include_router(fleet_router)
    return Guard(
        app,
        token=token,
        allowed_origins=allowed_origins,
        hosts=hosts,
        max_body=max_body,
        open_paths=("/healthz", "/readyz", *ASSETS),
    )
