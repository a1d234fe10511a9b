"""The hub's view: hosts, processes and primitives from the streams; staleness; faults."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from _fleet import eventually_async

from _redis import RedisServer
from rebellion import CircuitBreaker
from rebellion.errors import ConfigError
from rebellion.fleet import FleetMember, FleetView, Publisher


def sample(at: float, cpu: float = 10.0) -> dict[str, Any]:
    return {
        "at": at,
        "interval": 1.0,
        "values": {"cpu.total": cpu},
        "health": "ok",
        "mode": "NORMAL",
        "incidents_open": 0,
    }


@pytest.fixture
def publishers(redis_url: str, redis_namespace: str) -> Iterator[dict[str, Publisher]]:
    made = {
        host: Publisher(redis_url, host_id=host, process="agent", prefix=redis_namespace)
        for host in ("a", "b", "c")
    }
    for publisher in made.values():
        publisher.start()
    yield made
    for publisher in made.values():
        publisher.close()


@pytest.fixture
async def view(redis_url: str, redis_namespace: str) -> AsyncIterator[FleetView]:
    updates: list[dict[str, Any]] = []
    made = FleetView(
        redis_url,
        prefix=redis_namespace,
        discover_every=0.05,
        block=0.1,
        on_update=updates.append,
    )
    made.updates = updates  # type: ignore[attr-defined]
    await made.start()
    yield made
    await made.stop()


def hosts(view: FleetView) -> dict[str, dict[str, Any]]:
    return {h["id"]: h for h in view.snapshot()["hosts"]}


async def test_lists_every_agent_host_with_its_health(
    view: FleetView, publishers: dict[str, Publisher]
) -> None:
    for n, publisher in enumerate(publishers.values()):
        publisher.publish("samples", "sample", sample(1000.0 + n))
    found = await eventually_async(lambda: len(hosts(view)) == 3 and hosts(view))
    assert set(found) == {"a", "b", "c"}
    assert found["b"]["health"] == "ok"
    assert found["b"]["mode"] == "NORMAL"
    assert found["b"]["open_incidents"] == 0
    assert found["b"]["at"] == 1001.0
    assert all(h["stale"] is False for h in found.values())
    pushed = [s["host"] for u in view.updates for s in u["samples"]]  # type: ignore[attr-defined]
    assert sorted(pushed) == ["a", "b", "c"]


async def test_foreign_and_malformed_entries_are_skipped(
    redis_url: str, redis_namespace: str, view: FleetView, publishers: dict[str, Publisher]
) -> None:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        key = f"{redis_namespace}:{{a}}:events"
        client.xadd(key, {"something": "else"})
        client.xadd(key, {"p": "x", "t": "event", "d": "{not json"})
        client.xadd(key, {"p": "x", "t": "event", "d": "[1, 2]"})
        client.xadd(key, {"p": "x", "t": "incident", "d": '{"incident": "no id"}'})
        client.zadd(f"{redis_namespace}:hosts", {"bad host id": 1e12})
        publishers["a"].publish("samples", "sample", sample(5.0))
        publishers["a"].publish("events", "event", {"event": "Valid", "source": "s"})
        found = await eventually_async(lambda: hosts(view).get("a"))
        assert found["at"] == 5.0
        # The valid event comes after the malformed ones: once it is in, they were read.
        await eventually_async(lambda: view.events(), what="the valid event")
        assert [e["event"] for e in view.events()] == ["Valid"]
        assert hosts(view)["a"]["incidents"] == []
        assert view.snapshot()["redis"]["connected"] is True
    finally:
        client.close()


async def test_a_silent_host_goes_stale_after_its_intervals(
    view: FleetView, publishers: dict[str, Publisher]
) -> None:
    publishers["a"].publish("samples", "sample", sample(1.0))
    found = await eventually_async(lambda: hosts(view).get("a"))
    seen = found["last_seen"]
    at = view.snapshot
    assert {h["id"]: h["stale"] for h in at(now=seen + 2.4)["hosts"]} == {"a": False}
    assert {h["id"]: h["stale"] for h in at(now=seen + 2.6)["hosts"]} == {"a": True}


async def test_hosts_and_processes_silent_past_forget_after_are_dropped(
    redis_url: str, redis_namespace: str, publishers: dict[str, Publisher]
) -> None:
    import redis

    view = FleetView(redis_url, prefix=redis_namespace, discover_every=0.05, forget_after=600)
    await view.start()
    try:
        publishers["a"].publish("samples", "sample", sample(1.0))
        publishers["a"].publish("state", "primitives", {"interval": 1.0, "primitives": []})
        await eventually_async(lambda: hosts(view) and view.snapshot()["processes"])
        seen = hosts(view)["a"]["last_seen"]
        assert view.snapshot(now=seen + 599)["hosts"] != []
        later = view.snapshot(now=seen + 601)
        assert later["hosts"] == []
        assert later["processes"] == []
        client = redis.Redis.from_url(redis_url)
        client.zadd(f"{redis_namespace}:hosts", {"long-gone": 1.0})
        await eventually_async(
            lambda: client.zscore(f"{redis_namespace}:hosts", "long-gone") is None,
            what="a host silent for longer than forget_after removed from the set",
        )
        client.close()
    finally:
        await view.stop()


async def test_lists_each_process_primitives_with_their_state(
    redis_url: str, redis_namespace: str, view: FleetView
) -> None:
    breaker = CircuitBreaker(name="payments", failure_threshold=1)
    with pytest.raises(ZeroDivisionError):
        breaker.call(lambda: 1 / 0)
    member = FleetMember(
        redis_url, host_id="svc-host", process="checkout", interval=0.1, prefix=redis_namespace
    ).start()
    try:

        def payments() -> list[dict[str, Any]]:
            rows = view.snapshot()["primitives"]
            return [p for p in rows if p["name"] == "payments"]

        rows = await eventually_async(payments)
        assert rows[0]["host"] == "svc-host"
        assert rows[0]["process"] == "checkout"
        assert rows[0]["kind"] == "circuit_breaker"
        assert rows[0]["state"] == "OPEN"
        assert rows[0]["stale"] is False
        process = view.snapshot()["processes"][0]
        assert process["role"] == "service"
        assert process["primitives"] >= 1
        # A service alone does not make its host an agent's host.
        assert hosts(view) == {}
        with pytest.raises(Exception, match="payments"):
            breaker.call(lambda: None)  # rejected: an event the member forwards
        await eventually_async(
            lambda: any(e.get("source") == "payments" for e in view.events()), what="events"
        )
    finally:
        await asyncio.to_thread(member.close)


async def test_a_restarted_hub_catches_up_from_the_streams(
    redis_url: str, redis_namespace: str, publishers: dict[str, Publisher]
) -> None:
    incident = {"incident": {"id": 7, "status": "open", "title": "CPU saturated"}}
    publishers["a"].publish("events", "incident", incident)
    for n in range(5):
        publishers["a"].publish("samples", "sample", sample(float(n), cpu=float(n)))
    await eventually_async(lambda: publishers["a"].stats()["sent"] == 6)
    fresh = FleetView(redis_url, prefix=redis_namespace, discover_every=0.05, block=0.1)
    await fresh.start()
    try:
        found = await eventually_async(lambda: hosts(fresh).get("a"))
        assert found["at"] == 4.0  # the newest sample, not the first
        assert [i["id"] for i in found["incidents"]] == [7]
        history = await fresh.host_samples("a", 3)
        assert [s["values"]["cpu.total"] for s in history] == [2.0, 3.0, 4.0]
    finally:
        await fresh.stop()


async def test_survives_a_redis_restart(redis_server: RedisServer) -> None:
    publisher = Publisher(redis_server.url, host_id="a")
    publisher.start()
    view = FleetView(redis_server.url, discover_every=0.05, block=0.1)
    await view.start()
    try:
        publisher.publish("samples", "sample", sample(1.0))
        await eventually_async(lambda: hosts(view).get("a"))
        redis_server.stop()
        await eventually_async(lambda: not view.snapshot()["redis"]["connected"])
        publisher.publish("samples", "sample", sample(2.0))  # kept in the backlog
        redis_server.start()
        await eventually_async(
            lambda: hosts(view)["a"]["at"] == 2.0, within=45, what="the sample sent after restart"
        )
        assert view.snapshot()["redis"]["connected"]
        assert view.stats()["reconnects"] >= 1
    finally:
        await view.stop()
        await asyncio.to_thread(publisher.close)


def test_bad_view_settings_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match=r"^stale_intervals"):
        FleetView("redis://127.0.0.1:6379/0", stale_intervals=0.5)
    with pytest.raises(ConfigError, match=r"^block"):
        FleetView("redis://127.0.0.1:6379/0", block=0)
    with pytest.raises(ConfigError, match="redis_url"):
        FleetView("nowhere")
