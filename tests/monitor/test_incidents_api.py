"""GET /api/v1/incidents: the contract the dashboard and tools rely on (real uvicorn)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor._server import running, wait_ready
from rebellion.monitor.server import ServeOptions, build
from rebellion.monitor.service import MonitorService

pytestmark = pytest.mark.e2e


def incident(ident: str, started: float, status: str = "resolved") -> dict[str, Any]:
    return {
        "id": ident,
        "status": status,
        "started": started,
        "ended": None if status == "open" else started + 30.0,
        "updated": started + 30.0,
        "severity": "warning",
        "summary": "CPU at 98 % since 12:03:10 UTC (was 4 %); stress-ng-cpu (pid 42) ...",
        "triggers": ["cpu.total"],
        "metrics": [{"name": "cpu.total", "score": 1.0, "p_value": 1e-9, "trigger": True}],
        "processes": [{"pid": 42, "name": "stress-ng-cpu", "share": 0.94, "resource": "cpu"}],
        "forecasts": [],
    }


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, MonitorService]]:
    app, service = build(ServeOptions(db=str(tmp_path / "h.db"), interval=0.1))
    store = service.incidents.store
    store.save(incident("a", 1000.0))
    store.save(incident("b", 2000.0, "open"))
    store.save(incident("c", 1500.0))
    with running(app) as url:
        wait_ready(url)
        yield url, service


def test_incidents_come_newest_first_in_the_agreed_shape(
    served: tuple[str, MonitorService],
) -> None:
    base, _ = served
    body = httpx.get(base + "/api/v1/incidents").json()
    assert [i["id"] for i in body["incidents"]] == ["b", "c", "a"]
    first = body["incidents"][0]
    for key in ("id", "status", "started", "ended", "severity", "summary"):
        assert key in first
    assert first["ended"] is None
    assert first["metrics"][0]["name"] == "cpu.total"
    assert first["metrics"][0]["score"] == 1.0
    assert first["processes"][0] == {
        "pid": 42,
        "name": "stress-ng-cpu",
        "share": 0.94,
        "resource": "cpu",
        "rate": None,
        "cpu_percent": None,
        "memory_rss": None,
    }
    assert first["triggers"] == ["cpu.total"]  # extra fields pass through


def test_status_and_limit_filter_and_one_incident_by_id(
    served: tuple[str, MonitorService],
) -> None:
    base, _ = served
    get = httpx.get
    opened = get(base + "/api/v1/incidents", params={"status": "open"}).json()["incidents"]
    assert [i["id"] for i in opened] == ["b"]
    limited = get(base + "/api/v1/incidents", params={"limit": 2}).json()["incidents"]
    assert [i["id"] for i in limited] == ["b", "c"]
    assert get(base + "/api/v1/incidents/c").json()["id"] == "c"
    missing = get(base + "/api/v1/incidents/zzz")
    assert missing.status_code == 404
    assert "no incident" in missing.text


@pytest.mark.parametrize(
    ("params", "needle"),
    [({"status": "closed"}, "status"), ({"limit": "0"}, "limit"), ({"limit": "5000"}, "limit")],
)
def test_bad_parameters_are_422_naming_the_parameter(
    served: tuple[str, MonitorService], params: dict[str, str], needle: str
) -> None:
    base, _ = served
    response = httpx.get(base + "/api/v1/incidents", params=params)
    assert response.status_code == 422
    assert needle in response.text


def test_the_openapi_document_describes_the_incident_models(
    served: tuple[str, MonitorService],
) -> None:
    base, _ = served
    schemas = httpx.get(base + "/openapi.json").json()["components"]["schemas"]
    assert {"Incident", "IncidentList", "MetricChange", "ProcessShare"} <= set(schemas)
