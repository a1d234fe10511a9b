"""The monitor's HTTP API on a real uvicorn server bound to a free loopback port."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor._server import running, wait_ready
from rebellion import CircuitBreaker
from rebellion.monitor.server import ServeOptions, build

pytestmark = pytest.mark.e2e


@pytest.fixture
def base(tmp_path: Path) -> Iterator[str]:
    app, _ = build(ServeOptions(db=str(tmp_path / "h.db"), interval=0.1))
    with running(app) as url:
        wait_ready(url)
        yield url


def test_liveness_and_readiness(base: str) -> None:
    assert httpx.get(base + "/healthz").json() == {"status": "ok"}
    assert httpx.get(base + "/readyz").json() == {"ready": True}


def test_snapshot_has_host_values_and_processes(base: str) -> None:
    body = httpx.get(base + "/api/v1/snapshot").json()
    values = body["values"]
    for key in ("cpu.total", "cpu.core0", "memory.percent", "swap.percent", "load.1"):
        assert key in values, key
    assert 0 <= values["cpu.total"] <= 100
    assert body["at"] == pytest.approx(time.time(), abs=30)
    assert isinstance(body["processes"], list)


def test_history_returns_points_of_a_known_metric(base: str) -> None:
    deadline = time.monotonic() + 5
    points: list[dict[str, float]] = []
    while time.monotonic() < deadline and len(points) < 3:
        response = httpx.get(base + "/api/v1/history", params={"metric": "memory.percent"})
        assert response.status_code == 200, response.text
        points = response.json()["points"]
        time.sleep(0.1)
    assert len(points) >= 3
    assert all(0 <= p["mean"] <= 100 for p in points)
    assert [p["at"] for p in points] == sorted(p["at"] for p in points)


@pytest.mark.parametrize(
    ("params", "status", "needle"),
    [
        ({}, 422, "metric"),
        ({"metric": "no.such.metric"}, 404, "unknown metric"),
        ({"metric": "cpu.total", "since": "yesterday"}, 422, "since"),
        ({"metric": "cpu.total", "max_points": "0"}, 422, "max_points"),
        ({"metric": "cpu.total", "resolution": "7"}, 422, "resolution"),
        ({"metric": "cpu.total", "since": "100", "until": "50"}, 422, "until"),
        ({"metric": "cpu.total", "since": "-1e12"}, 422, "since"),
    ],
)
def test_bad_history_parameters_are_4xx_naming_the_parameter(
    base: str, params: dict[str, str], status: int, needle: str
) -> None:
    response = httpx.get(base + "/api/v1/history", params=params)
    assert response.status_code == status, response.text
    assert needle in response.text


def test_resilience_lists_registered_primitives(base: str) -> None:
    breaker = CircuitBreaker(name="payments-api")
    body = httpx.get(base + "/api/v1/resilience").json()
    names = {(p["kind"], p["name"]) for p in body["primitives"]}
    assert ("circuit_breaker", "payments-api") in names
    del breaker


def test_alerts_and_health_answer(base: str) -> None:
    alerts = httpx.get(base + "/api/v1/alerts")
    assert alerts.status_code == 200
    assert {"active", "history"} <= set(alerts.json())
    health = httpx.get(base + "/api/v1/health").json()
    assert health["monitor"]["ready"] is True
    assert health["mode"] in {"NORMAL", "DEGRADED", "EMERGENCY"}
    assert {"sampling", "disk", "memory"} <= set(health["checks"])
    assert health["checks"]["sampling"]["status"] == "ok"
    assert "time_in_mode" in str(health["operation_mode"]) or "mode" in health["operation_mode"]


def test_openapi_document_lists_the_routes(base: str) -> None:
    paths = httpx.get(base + "/openapi.json").json()["paths"]
    for route in (
        "/api/v1/snapshot",
        "/api/v1/history",
        "/api/v1/alerts",
        "/api/v1/health",
        "/api/v1/resilience",
        "/metrics",
        "/healthz",
        "/readyz",
    ):
        assert route in paths, route


def test_dashboard_page_is_served(base: str) -> None:
    page = httpx.get(base + "/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    assert 'id="resilience"' in page.text


def test_metrics_is_prometheus_text(base: str) -> None:
    response = httpx.get(base + "/metrics")
    assert response.status_code == 200, response.text
    families = {f.name for f in text_string_to_metric_families(response.text)}
    assert any(name.startswith("rebellion_") for name in families), families


def test_oversized_body_is_refused(base: str) -> None:
    response = httpx.post(base + "/api/v1/snapshot", content=b"x" * (65 * 1024))
    assert response.status_code == 413


def test_snapshot_carries_the_analysis_of_every_metric(base: str) -> None:
    body = httpx.get(base + "/api/v1/snapshot").json()
    analysis = body["analysis"]
    assert set(analysis) == set(body["values"])
    cpu = analysis["cpu.total"]
    assert {"mean", "z", "anomaly_score", "anomaly", "trend", "slope", "forecast"} <= set(cpu)
    assert 0.0 <= cpu["anomaly_score"] <= 1.0
