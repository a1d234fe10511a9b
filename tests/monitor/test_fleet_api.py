"""The hub's fleet API on a real server: one process both an agent and a hub."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import connect

from _redis import RedisServer
from fleet._fleet import eventually
from monitor._server import running, wait_ready
from rebellion.errors import ConfigError
from rebellion.monitor.server import ServeOptions, build

pytestmark = pytest.mark.e2e

TOKEN = "fleet-token-0123456789"


@pytest.fixture
def base(tmp_path: Path, redis_server: RedisServer) -> Iterator[str]:
    options = ServeOptions(
        db=str(tmp_path / "h.db"),
        interval=0.2,
        publish=redis_server.url,
        fleet=redis_server.url,
        host_id="local-1",
        token=TOKEN,
    ).checked()
    app, _ = build(options)
    with running(app) as url:
        wait_ready(url, headers=AUTH)
        yield url


AUTH = {"Authorization": f"Bearer {TOKEN}"}


def fleet(base: str) -> dict[str, Any]:
    response = httpx.get(base + "/api/v1/fleet", headers=AUTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_fleet_lists_the_host_and_its_process_primitives(base: str) -> None:
    body = eventually(lambda: fleet(base)["hosts"] and fleet(base), what="the host listed")
    (host,) = body["hosts"]
    assert host["id"] == "local-1"
    assert host["stale"] is False
    assert host["health"] in {"ok", "degraded", "critical"}
    assert host["mode"] is not None
    assert host["open_incidents"] == 0
    assert isinstance(host["last_seen"], float)
    rows = eventually(lambda: fleet(base)["primitives"], what="the agent's primitives")
    assert {"host", "process", "kind", "name", "state"} <= set(rows[0])
    assert {r["host"] for r in rows} == {"local-1"}
    assert any(r["kind"] == "operation_mode" and r["state"] == "NORMAL" for r in rows)
    (process,) = fleet(base)["processes"]
    assert process["role"] == "agent"


def test_a_host_charts_come_from_its_stream(base: str) -> None:
    eventually(lambda: fleet(base)["hosts"], what="the host listed")
    url = base + "/api/v1/fleet/hosts/local-1/samples"
    samples = eventually(
        lambda: (
            len(got := httpx.get(url, params={"count": 3}, headers=AUTH).json()["samples"]) == 3
            and got
        ),
        what="three samples",
    )
    assert [s["at"] for s in samples] == sorted(s["at"] for s in samples)
    assert "cpu.total" in samples[-1]["values"]


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        ("/api/v1/fleet/hosts/nobody/samples", 404, "host_id"),
        ("/api/v1/fleet/hosts/local-1/samples?count=0", 422, "count"),
        ("/api/v1/fleet/hosts/local-1/samples?count=5000", 422, "count"),
        ("/api/v1/fleet/hosts/bad%20id/samples", 404, "host_id"),
    ],
)
def test_bad_requests_get_a_4xx_naming_the_parameter(
    base: str, path: str, status: int, needle: str
) -> None:
    eventually(lambda: fleet(base)["hosts"], what="the host listed")
    response = httpx.get(base + path, headers=AUTH)
    assert response.status_code == status
    assert needle in response.text


def test_the_fleet_routes_sit_behind_the_same_guards(base: str) -> None:
    assert httpx.get(base + "/api/v1/fleet").status_code == 401
    forged = {**AUTH, "Host": "evil.example"}
    assert httpx.get(base + "/api/v1/fleet", headers=forged).status_code == 400
    assert "/api/v1/fleet" in httpx.get(base + "/openapi.json", headers=AUTH).json()["paths"]


def test_new_samples_reach_websocket_clients_as_fleet_messages(base: str) -> None:
    url = base.replace("http://", "ws://") + f"/ws?token={TOKEN}"
    with connect(url, open_timeout=30) as ws:
        ws.send(json.dumps({"type": "subscribe", "types": ["fleet"]}))
        for _ in range(200):
            message = json.loads(ws.recv(timeout=30))
            if message["type"] == "fleet":
                break
        else:
            raise AssertionError("no fleet message")
    (sample,) = {s["host"]: s for s in message["samples"]}.values()
    assert sample["host"] == "local-1"
    assert sample["received"] >= sample["at"]


def test_fleet_options_are_checked() -> None:
    with pytest.raises(ConfigError, match="publish"):
        ServeOptions(publish="localhost:6379").checked()
    with pytest.raises(ConfigError, match="fleet"):
        ServeOptions(fleet="http://x").checked()
    with pytest.raises(ConfigError, match="host_id"):
        ServeOptions(host_id="a b").checked()


def test_a_full_redis_never_stops_the_agent_monitoring_its_host(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.set("ballast", b"x" * 4_000_000)
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", "2mb")  # every write is refused with an OOM error
    options = ServeOptions(
        db=str(tmp_path / "h.db"), interval=0.2, publish=redis_server.url, host_id="full-1"
    ).checked()
    app, service = build(options)
    try:
        with running(app) as url:
            wait_ready(url)
            first = httpx.get(url + "/api/v1/snapshot").json()["at"]
            eventually(
                lambda: httpx.get(url + "/api/v1/snapshot").json()["at"] > first + 1,
                what="local samples while Redis refuses writes",
            )
            agent = next(c for c in service.companions if type(c).__name__ == "AgentLink")
            stats = eventually(lambda: agent.member.stats()["failures"] and agent.member.stats())
            assert "maxmemory" in stats["last_error"]
            assert stats["pending"] <= stats["backlog"]
    finally:
        client.close()
