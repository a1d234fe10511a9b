"""The fleet end to end: a hub, three agents and a service, as real processes on one Redis.

All three hosts and the service's breaker (with its true state) appear in one view; an
agent killed with SIGKILL goes stale; a restarted hub catches up; agents outlive a Redis
restart and keep monitoring locally while Redis is down.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from _redis import RedisServer, free_port

pytestmark = pytest.mark.e2e

SERVICE = textwrap.dedent(
    """
    import sys, time
    from rebellion import CircuitBreaker

    # No fleet code: REBELLION_FLEET_URL joins the process at its first primitive.
    breaker = CircuitBreaker(name="payments", failure_threshold=1, reset_timeout=3600)
    try:
        breaker.call(lambda: 1 / 0)
    except ZeroDivisionError:
        pass
    print("ready", flush=True)
    while True:
        time.sleep(0.5)
    """
)


class Processes:
    """Start processes; kill whatever is left at the end."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=self.cwd,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.started.append(proc)
        return proc

    def serve(self, port: int, *extra: str) -> subprocess.Popen[bytes]:
        return self.start(
            ["-m", "rebellion.cli", "serve", "--port", str(port), "--db", ":memory:", *extra]
        )

    def close(self) -> None:
        for proc in self.started:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=30)


@pytest.fixture
def procs(tmp_path: Path) -> Iterator[Processes]:
    made = Processes(tmp_path)
    yield made
    made.close()


def poll(check: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except httpx.HTTPError as error:
            last = error
        else:
            if last:
                return last
        time.sleep(0.25)
    raise AssertionError(f"{what} never held (last: {last!r})")


def fleet(hub: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(hub + "/api/v1/fleet", timeout=10).json()
    return body


def host_states(hub: str) -> dict[str, bool]:
    return {h["id"]: h["stale"] for h in fleet(hub)["hosts"]}


def test_hub_shows_every_host_and_the_service_breaker_and_a_killed_agent_goes_stale(
    procs: Processes, redis_server: RedisServer
) -> None:
    url = redis_server.url
    port = free_port()
    hub = f"http://127.0.0.1:{port}"
    procs.serve(port, "--fleet", url)
    agents = {
        name: procs.serve(free_port(), "--publish", url, "--host-id", name, "--interval", "0.5")
        for name in ("agent-a", "agent-b", "agent-c")
    }
    service = procs.start(["-c", SERVICE], env={"REBELLION_FLEET_URL": url})

    poll(
        lambda: host_states(hub) == dict.fromkeys(agents, False),
        "three live hosts in the hub",
    )

    def payments() -> list[dict[str, Any]]:
        return [
            p
            for p in fleet(hub)["primitives"]
            if p["name"] == "payments" and p["kind"] == "circuit_breaker"
        ]

    (row,) = poll(payments, "the service's breaker in the fleet")
    assert row["state"] == "OPEN"
    assert row["process"].endswith(f":{service.pid}")
    assert row["stale"] is False
    # Every agent's own primitives are there too, each on its host.
    hosts_with_primitives = {p["host"] for p in fleet(hub)["primitives"]}
    assert set(agents) <= hosts_with_primitives

    # The dashboard is served with its fleet panel.
    assert 'id="fleet"' in httpx.get(hub + "/").text
    assert httpx.get(hub + "/static/fleet.js").status_code == 200

    agents["agent-b"].send_signal(signal.SIGKILL)
    poll(
        lambda: host_states(hub) == {"agent-a": False, "agent-b": True, "agent-c": False},
        "agent-b stale, the others live",
    )
    killed = [p for p in fleet(hub)["processes"] if p["host"] == "agent-b"]
    assert killed
    assert all(p["stale"] for p in killed)


def test_agents_outlive_a_redis_restart_and_a_restarted_hub_catches_up(
    procs: Processes, redis_server: RedisServer
) -> None:
    url = redis_server.url
    agent_port, hub_port = free_port(), free_port()
    agent = f"http://127.0.0.1:{agent_port}"
    hub = f"http://127.0.0.1:{hub_port}"
    procs.serve(agent_port, "--publish", url, "--host-id", "agent-r", "--interval", "0.5")
    first_hub = procs.serve(hub_port, "--fleet", url)
    poll(lambda: host_states(hub) == {"agent-r": False}, "the agent in the hub")

    redis_server.stop()
    before = httpx.get(agent + "/api/v1/snapshot", timeout=10).json()["at"]
    # The agent's own monitor goes on sampling while Redis is gone.
    poll(
        lambda: httpx.get(agent + "/api/v1/snapshot", timeout=10).json()["at"] > before + 1,
        "local samples while Redis is down",
    )
    redis_server.start()
    poll(lambda: host_states(hub) == {"agent-r": False}, "the agent live again after restart")

    first_hub.kill()
    first_hub.wait(timeout=30)
    procs.serve(hub_port, "--fleet", url)
    poll(lambda: host_states(hub) == {"agent-r": False}, "a restarted hub sees the agent")
    assert any(p["host"] == "agent-r" for p in fleet(hub)["primitives"])
