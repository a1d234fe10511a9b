"""The documented API: response schemas, one router per area, open static files, steps."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitor._server import running, wait_ready
from rebellion.monitor.routes import ROUTERS
from rebellion.monitor.server import ServeOptions, build

pytestmark = pytest.mark.e2e

TOKEN = "api-docs-test-token-0123"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def base(tmp_path: Path) -> Iterator[str]:
    app, _ = build(ServeOptions(db=str(tmp_path / "h.db"), interval=0.1, token=TOKEN).checked())
    with running(app) as url:
        wait_ready(url, headers=AUTH)
        yield url


def test_every_json_answer_has_a_response_schema(base: str) -> None:
    document = httpx.get(base + "/openapi.json", headers=AUTH).json()
    for path, methods in document["paths"].items():
        ok = methods["get"]["responses"]["200"]["content"]
        if path == "/metrics":
            assert "text/plain" in ok
            continue
        schema = ok["application/json"]["schema"]
        assert schema.get("$ref") or schema.get("type") == "object", (path, schema)
    names = set(document["components"]["schemas"])
    assert {"Snapshot", "History", "ResilienceResponse", "ProcessRow"} <= names


def test_there_is_one_router_per_area() -> None:
    assert set(ROUTERS) == {"page", "samples", "alerts", "health", "resilience", "stats", "stream"}


def test_favicon_and_chart_library_need_no_token(base: str) -> None:
    icon = httpx.get(base + "/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    script = httpx.get(base + "/static/vendor/uPlot.iife.min.js")
    assert script.status_code == 200
    assert "uPlot" in script.text
    assert httpx.get(base + "/api/v1/snapshot").status_code == 401


def test_history_answers_at_the_step_asked(base: str) -> None:
    deadline = time.monotonic() + 30
    points: list[dict[str, float]] = []
    now = time.time()
    while time.monotonic() < deadline and sum(p["n"] for p in points) < 10:
        params = {"metric": "cpu.total", "since": str(now - 60), "until": str(now + 60), "step": 5}
        response = httpx.get(base + "/api/v1/history", params=params, headers=AUTH)
        assert response.status_code == 200, response.text
        points = response.json()["points"]
        time.sleep(0.1)
    assert all(p["at"] % 5 == 0 for p in points)
    assert all(p["min"] <= p["mean"] <= p["max"] for p in points)
    bad = httpx.get(
        base + "/api/v1/history", params={"metric": "cpu.total", "step": 0}, headers=AUTH
    )
    assert bad.status_code == 422
    assert "step" in bad.text


def test_prometheus_labels_devices_and_interfaces(base: str) -> None:
    text = httpx.get(base + "/metrics", headers=AUTH).text
    assert 'host_cpu_core_percent{core="0"}' in text
    assert "host_net_interface_recv_bps{interface=" in text or "net[" not in text
    assert 'interface="lo"' not in text
