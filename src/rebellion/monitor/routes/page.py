"""The dashboard page, its favicon and the vendored chart library.

Static files are read once and served from memory; they carry no data, so the app
leaves them open (no token) for the browser to fetch beside the page.

>>> sorted(ASSETS)[:2]
['/favicon.ico', '/favicon.svg']
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

__all__ = ["ASSETS", "router"]

router = APIRouter(tags=["page"])

_STATIC = resources.files("rebellion.monitor").joinpath("static")
_PAGE = _STATIC.joinpath("dashboard.html").read_text()
_ICON = _STATIC.joinpath("favicon.svg").read_bytes()

ASSETS: dict[str, tuple[bytes, str]] = {
    "/favicon.ico": (_ICON, "image/svg+xml"),
    "/favicon.svg": (_ICON, "image/svg+xml"),
    "/static/dashboard.js": (
        _STATIC.joinpath("dashboard.js").read_bytes(),
        "text/javascript; charset=utf-8",
    ),
    "/static/fleet.js": (
        _STATIC.joinpath("fleet.js").read_bytes(),
        "text/javascript; charset=utf-8",
    ),
    "/static/dashboard.css": (
        _STATIC.joinpath("dashboard.css").read_bytes(),
        "text/css; charset=utf-8",
    ),
    "/static/vendor/uPlot.iife.min.js": (
        _STATIC.joinpath("vendor/uPlot.iife.min.js").read_bytes(),
        "text/javascript; charset=utf-8",
    ),
    "/static/vendor/uPlot.min.css": (
        _STATIC.joinpath("vendor/uPlot.min.css").read_bytes(),
        "text/css; charset=utf-8",
    ),
}
"""Path -> (body, content type) of every static file, served without a token."""


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
async def dashboard() -> HTMLResponse:
    """Serve the dashboard."""
    return HTMLResponse(_PAGE, headers={"cache-control": "no-store"})


def _asset(path: str) -> Response:
    body, kind = ASSETS[path]
    return Response(body, media_type=kind, headers={"cache-control": "no-cache"})


for _path in ASSETS:

    async def _serve(path: str = _path) -> Response:
        return _asset(path)

    router.add_api_route(_path, _serve, include_in_schema=False, methods=["GET"])
