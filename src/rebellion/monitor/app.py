"""The HTTP and WebSocket face of the monitor (FastAPI), wrapped in the security guard.

Routes (SPEC §6): ``GET /`` dashboard, ``/api/v1/snapshot``, ``/api/v1/history``,
``/api/v1/metrics``, ``/api/v1/alerts``, ``/api/v1/health``, ``/api/v1/resilience``,
``/api/v1/stats``, ``/api/v1/incidents``, ``/metrics`` (Prometheus), ``/healthz``,
``/readyz``, ``WS /ws``; the OpenAPI document at ``/openapi.json``. Bad parameters are
4xx with a message naming the parameter, never 5xx.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterable
from importlib import resources
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, WebSocket
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.websockets import WebSocketDisconnect

from .._json import jsonable
from ..errors import ConfigError
from .incidents_api import router as incidents_router
from .security import TOKEN_SUBPROTOCOL, Guard, token_from_scope
from .service import MonitorService

__all__ = ["create_app"]

_MAX_SPAN = 366 * 86400.0


def create_app(
    service: MonitorService,
    *,
    token: str | None = None,
    allowed_origins: Iterable[str] = (),
    max_body: int = 64 * 1024,
    extra_status: Callable[[], dict[str, Any]] | None = None,
    metrics_text: Callable[[], tuple[bytes, str]] | None = None,
    manage_service: bool = True,
) -> Guard:
    """Build the monitor's ASGI application around ``service``.

    Args:
        service: the running (or to be started) monitor service.
        token: the access token; None leaves the API open (loopback binds only).
        allowed_origins: extra browser origins accepted on WebSocket upgrades.
        max_body: largest accepted request body in bytes.
        extra_status: returns health and operation-mode details for ``/api/v1/health``.
        metrics_text: returns the Prometheus exposition and its content type.
        manage_service: start and stop ``service`` with the application's lifespan.

    Returns:
        The application, guarded (token, origin and size checks).
    """

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
        version="0.1.0",
        description="Host metrics that understand themselves, and every resilience "
        "primitive of the process, live.",
        lifespan=lifespan,
    )
    app.state.monitor = service
    app.include_router(incidents_router)
    page = resources.files("rebellion.monitor").joinpath("static/dashboard.html").read_text()

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard() -> HTMLResponse:
        return HTMLResponse(page, headers={"cache-control": "no-store"})

    @app.get("/api/v1/snapshot", summary="Latest analysed host sample")
    async def snapshot() -> JSONResponse:
        latest = service.snapshot()
        if latest is None:
            raise HTTPException(503, "no sample yet: the monitor is starting")
        return JSONResponse(latest)

    @app.get("/api/v1/metrics", summary="Names of the metrics kept in history")
    async def metric_names() -> dict[str, list[str]]:
        return {"metrics": service.store.metrics()}

    @app.get("/api/v1/history", summary="A metric's history, downsampled")
    async def history(
        metric: Annotated[str, Query(min_length=1, max_length=200)],
        since: Annotated[
            float,
            Query(description="epoch seconds, or a negative number of seconds before now"),
        ] = -3600.0,
        until: Annotated[float | None, Query(description="epoch seconds")] = None,
        resolution: Annotated[int | None, Query(ge=1)] = None,
        max_points: Annotated[int, Query(ge=1, le=10_000)] = 2000,
    ) -> dict[str, Any]:
        now = time.time()
        start = now + since if since < 0 else since
        if since < -_MAX_SPAN:
            raise HTTPException(422, f"since must be >= -{_MAX_SPAN:.0f} seconds")
        if until is not None and until < start:
            raise HTTPException(422, "until must not be before since")
        known = service.store.metrics()
        if metric not in known:
            raise HTTPException(
                404, f"unknown metric {metric!r}; GET /api/v1/metrics lists the known ones"
            )
        try:
            points = service.store.history(
                metric, start, until, resolution=resolution, max_points=max_points
            )
        except ConfigError as error:
            raise HTTPException(422, str(error)) from None
        return {
            "metric": metric,
            "since": start,
            "until": until,
            "points": [p.to_dict() for p in points],
        }

    @app.get("/api/v1/alerts", summary="Active alerts and recent alert history")
    async def alerts() -> JSONResponse:
        engine = service.alerts
        body: dict[str, Any] = {"active": [], "history": []}
        if engine is not None:
            body = jsonable(engine.snapshot())
        return JSONResponse(body)

    @app.get("/api/v1/health", summary="Health checks and operation mode")
    async def health() -> JSONResponse:
        body: dict[str, Any] = {"status": "ok", "monitor": {"ready": service.ready}}
        if extra_status is not None:
            body.update(jsonable(extra_status()))
        body["monitor"] = {"ready": service.ready}
        return JSONResponse(body)

    @app.get("/api/v1/resilience", summary="Every registered resilience primitive")
    async def resilience() -> JSONResponse:
        return JSONResponse(
            {"primitives": service.resilience(), "events": service.recent_events()[-50:]}
        )

    @app.get("/api/v1/stats", summary="The monitor's own cost and counters")
    async def stats() -> JSONResponse:
        return JSONResponse(jsonable(service.stats()))

    @app.get("/metrics", summary="Prometheus exposition", response_class=Response)
    async def prometheus() -> Response:
        if metrics_text is None:
            raise HTTPException(404, "Prometheus exposition is not configured")
        body, content_type = metrics_text()
        return Response(body, media_type=content_type)

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="Readiness: first sample taken and sampling running")
    async def readyz() -> JSONResponse:
        ready = service.ready
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    @app.websocket("/ws")
    async def stream(websocket: WebSocket) -> None:
        offered = websocket.scope.get("subprotocols", [])
        chosen = next((p for p in offered if p == "rebellion.v1"), None)
        if chosen is None and token_from_scope(websocket.scope) is not None:
            chosen = next((p for p in offered if p.startswith(TOKEN_SUBPROTOCOL)), None)
        await websocket.accept(subprotocol=chosen)
        try:
            await service.hub.serve(websocket)
        except WebSocketDisconnect:
            pass

    return Guard(app, token=token, allowed_origins=allowed_origins, max_body=max_body)
