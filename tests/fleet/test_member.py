"""Members: a process's primitives and events in the fleet, joined in one line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from _fleet import eventually

from rebellion import CircuitBreaker, registry
from rebellion.errors import CircuitOpenError, ConfigError
from rebellion.fleet import FleetMember, join, join_from_environment, leave, primitive_state
from rebellion.testing import ManualClock


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture(autouse=True)
def _left() -> Iterator[None]:
    yield
    leave()


def latest(client: redis.Redis, key: str) -> tuple[str, str, Any] | None:
    found = client.xrevrange(key, count=1)
    if not found:
        return None
    fields = found[0][1]
    return fields[b"p"].decode(), fields[b"t"].decode(), json.loads(fields[b"d"])


def test_publishes_every_primitive_with_its_true_state(
    redis_url: str, redis_namespace: str, client: redis.Redis
) -> None:
    breaker = CircuitBreaker(name="payments", failure_threshold=1)
    with pytest.raises(ZeroDivisionError):
        breaker.call(lambda: 1 / 0)
    member = FleetMember(
        redis_url, host_id="web-1", process="api", interval=0.1, prefix=redis_namespace
    ).start()
    try:
        key = f"{redis_namespace}:{{web-1}}:state"

        def listed() -> Any:
            entry = latest(client, key)
            return None if entry is None else entry[2]

        body = eventually(listed, what="a listing")
        assert body["role"] == "service"
        assert body["interval"] == 0.1
        rows = {(p["kind"], p["name"]): p for p in body["primitives"]}
        assert primitive_state(rows[("circuit_breaker", "payments")]["stats"]) == "OPEN"
        breaker.reset()
        eventually(
            lambda: any(
                p["name"] == "payments" and primitive_state(p["stats"]) == "CLOSED"
                for p in (listed() or {}).get("primitives", [])
            ),
            what="the breaker closed in a later listing",
        )
    finally:
        member.close()


def test_forwards_events_up_to_the_rate_bound(
    redis_url: str, redis_namespace: str, client: redis.Redis
) -> None:
    clock = ManualClock()  # frozen: every event falls in the same second
    member = FleetMember(
        redis_url,
        host_id="web-1",
        interval=60,
        max_events=5,
        clock=clock,
        prefix=redis_namespace,
    ).start()
    breaker = CircuitBreaker(name="payments", failure_threshold=1)
    try:
        breaker.force_open()
        for _ in range(20):
            with pytest.raises(CircuitOpenError):
                breaker.call(lambda: None)
        key = f"{redis_namespace}:{{web-1}}:events"
        eventually(lambda: client.xlen(key) == 5, what="five events")
        assert all(json.loads(f[b"d"])["source"] == "payments" for _, f in client.xrange(key))
        assert member.stats()["events_suppressed"] >= 15
    finally:
        member.close()


def test_join_is_one_per_process(redis_url: str, redis_namespace: str) -> None:
    first = join(redis_url, host_id="web-1", prefix=redis_namespace)
    assert join(redis_url) is first
    assert join(redis_url, host_id="web-1") is first
    second = join(redis_url, host_id="web-2", prefix=redis_namespace)
    assert second is not first
    assert second.host_id == "web-2"
    leave()
    leave()  # a no-op once left


def test_join_needs_a_url() -> None:
    with pytest.raises(ConfigError, match="url"):
        join()


def test_environment_joins_at_the_first_primitive(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, client: redis.Redis
) -> None:
    monkeypatch.setenv("REBELLION_FLEET_URL", redis_url)
    host = "envjoin-test"
    monkeypatch.setattr("rebellion.fleet._publisher.default_host_id", lambda: host)
    monkeypatch.setattr(registry, "_join_fleet", True)
    try:
        CircuitBreaker(name="from-env")
        key = f"rebellion:fleet:{{{host}}}:state"
        body = eventually(lambda: latest(client, key), what="a listing")[2]
        assert any(p["name"] == "from-env" for p in body["primitives"])
    finally:
        leave()
        client.delete(key, f"rebellion:fleet:{{{host}}}:events")
        client.zrem("rebellion:fleet:hosts", host)


def test_a_bad_environment_url_never_breaks_the_service(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("REBELLION_FLEET_URL", "not-a-url")
    assert join_from_environment() is None
    assert "could not join" in caplog.text


def test_primitive_state_reads_the_one_word_the_dashboard_shows() -> None:
    assert primitive_state({"state": "HALF_OPEN"}) == "HALF_OPEN"
    assert primitive_state({"mode": "DEGRADED"}) == "DEGRADED"
    assert primitive_state({"status": "ok"}) == "ok"
    assert primitive_state({"enabled": False}) == "disabled"
    assert primitive_state({"calls": 3}) == "active"
    assert primitive_state(None) == "active"


def test_bad_member_settings_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match=r"^interval"):
        FleetMember("redis://127.0.0.1:6379/0", interval=0)
    with pytest.raises(ConfigError, match=r"^max_events"):
        FleetMember("redis://127.0.0.1:6379/0", max_events=-1)


FORKING = """
import os, sys, time
import rebellion.fleet
from rebellion import CircuitBreaker

url, host, prefix = sys.argv[1:4]
rebellion.fleet.join(url, host_id=host, prefix=prefix, interval=0.1)
pid = os.fork()
if pid == 0:
    breaker = CircuitBreaker(name="in-child")
    member = rebellion.fleet.join(url)  # the one the child joined with after fork
    deadline = time.monotonic() + 30
    while member.stats()["sent"] < 3 and time.monotonic() < deadline:
        time.sleep(0.05)  # a few listings, the later ones after the breaker was made
    os._exit(0)
# The parent stops publishing at once: its listings would otherwise trim the child's
# out of the bounded stream while a busy machine is slow to run the child.
rebellion.fleet.leave()
print(pid, flush=True)
os.waitpid(pid, 0)
"""


def test_a_forked_child_joins_again_under_its_own_pid(
    redis_url: str, redis_namespace: str, client: redis.Redis, tmp_path: Path
) -> None:
    script = tmp_path / "forking.py"
    script.write_text(FORKING)
    done = subprocess.run(
        [sys.executable, str(script), redis_url, "web-1", redis_namespace],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    child = int(done.stdout.split()[0])
    listings = [
        (f[b"p"].decode(), json.loads(f[b"d"]))
        for _, f in client.xrange(f"{redis_namespace}:{{web-1}}:state")
    ]
    from_child = [body for process, body in listings if process == f"forking:{child}"]
    assert from_child, [p for p, _ in listings]
    assert any(p["name"] == "in-child" for body in from_child for p in body["primitives"])
