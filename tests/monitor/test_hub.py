"""The WebSocket hub: per-client bounded buffers, filters, heartbeats, stalls, idle clients."""

from __future__ import annotations

import asyncio
import json

import pytest

from rebellion.errors import ConfigError
from rebellion.monitor.hub import Hub
from rebellion.testing import ManualClock


class FakeSocket:
    """An in-memory WebSocket: records what it was sent; ``stalled`` ones never finish a send."""

    def __init__(self, *, stalled: bool = False) -> None:
        self.sent: list[dict[str, object]] = []
        self.inbox: asyncio.Queue[str | None] = asyncio.Queue()
        self.stalled = stalled
        self.closed: tuple[int, str | None] | None = None

    async def send_text(self, data: str) -> None:
        if self.stalled:
            await asyncio.Event().wait()
        self.sent.append(json.loads(data))

    async def receive_text(self) -> str:
        message = await self.inbox.get()
        if message is None:
            raise ConnectionError("client went away")
        return message

    async def close(self, code: int = 1000, reason: str | None = None) -> None:
        self.closed = (code, reason)
        self.inbox.put_nowait(None)

    def of(self, kind: str) -> list[dict[str, object]]:
        return [m for m in self.sent if m["type"] == kind]


async def settle(rounds: int = 20) -> None:
    for _ in range(rounds):
        await asyncio.sleep(0)


async def connect(hub: Hub, socket: FakeSocket) -> asyncio.Task[None]:
    task = asyncio.create_task(hub.serve(socket))
    await settle()
    return task


async def test_every_client_gets_every_message_in_order() -> None:
    hub = Hub(heartbeat=3600)
    sockets = [FakeSocket() for _ in range(50)]
    tasks = [await connect(hub, s) for s in sockets]
    for seq in range(30):
        assert hub.publish("sample", {"seq": seq}) == 50
        await settle(3)
    await settle()
    for socket in sockets:
        assert [m["seq"] for m in socket.of("sample")] == list(range(30))
    await hub.close()
    await asyncio.gather(*tasks)


async def test_a_stalled_client_drops_its_oldest_and_never_delays_the_others() -> None:
    hub = Hub(heartbeat=3600, max_queue=8, send_timeout=0.2)
    stalled = FakeSocket(stalled=True)
    healthy = [FakeSocket() for _ in range(10)]
    tasks = [await connect(hub, s) for s in [stalled, *healthy]]
    for seq in range(100):
        hub.publish("sample", {"seq": seq})
        await settle(3)
    for socket in healthy:
        assert [m["seq"] for m in socket.of("sample")] == list(range(100))
    per_client = {c["id"]: c for c in hub.stats()["per_client"]}
    stuck = per_client[1]
    # One message is stuck in the socket, 8 wait in the buffer: the rest were dropped.
    assert stuck["dropped"] == 100 - 1 - 8
    assert stuck["queued"] == 8
    await asyncio.sleep(0.3)  # past send_timeout: the stalled client is cut off
    await settle()
    assert stalled.closed is not None
    assert stalled.closed[1] == "stalled"
    assert hub.stats()["disconnects"]["stalled"] == 1
    assert hub.clients == 10
    await hub.close()
    await asyncio.gather(*tasks)


async def test_subscription_filters_types_and_metrics() -> None:
    hub = Hub(heartbeat=3600)
    socket = FakeSocket()
    task = await connect(hub, socket)
    socket.inbox.put_nowait(
        json.dumps({"type": "subscribe", "types": ["sample"], "metrics": ["cpu.*"]})
    )
    await settle()
    hub.publish("event", {"event": "CircuitStateChanged"})
    hub.publish(
        "sample",
        {"values": {"cpu.total": 5.0, "memory.percent": 40.0}, "analysis": {"cpu.total": {}}},
    )
    await settle()
    assert [m["type"] for m in socket.sent] == ["sample"]
    assert socket.sent[0]["values"] == {"cpu.total": 5.0}
    await hub.close()
    await task


async def test_heartbeats_flow_and_silent_clients_are_closed_as_idle() -> None:
    clock = ManualClock(auto_advance=False)
    hub = Hub(clock=clock, heartbeat=5, idle_timeout=12)
    chatty, silent = FakeSocket(), FakeSocket()
    tasks = [await connect(hub, chatty), await connect(hub, silent)]
    for _ in range(4):
        await clock.advance_async(5)
        chatty.inbox.put_nowait(json.dumps({"type": "pong"}))
        await settle()
    assert len(chatty.of("heartbeat")) == 4
    assert silent.closed is not None
    assert silent.closed[1] == "idle"
    assert chatty.closed is None
    assert hub.stats()["disconnects"] == {"idle": 1}
    await hub.close()
    await asyncio.gather(*tasks)


async def test_a_client_that_disconnects_is_forgotten() -> None:
    hub = Hub(heartbeat=3600)
    socket = FakeSocket()
    task = await connect(hub, socket)
    socket.inbox.put_nowait(None)
    await task
    assert hub.clients == 0
    assert hub.publish("sample", {"seq": 1}) == 0


async def test_clients_beyond_the_cap_are_refused() -> None:
    hub = Hub(heartbeat=3600, max_clients=2)
    sockets = [FakeSocket() for _ in range(3)]
    tasks = [await connect(hub, s) for s in sockets]
    assert sockets[2].closed == (1013, "too many clients")
    assert hub.clients == 2
    await hub.close()
    await asyncio.gather(*tasks)


def test_unknown_message_type_is_refused() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        Hub().publish("gossip", {})


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("max_queue", 0),
        ("heartbeat", 0),
        ("idle_timeout", -1),
        ("send_timeout", 0),
        ("max_clients", 0),
        ("clock", "now"),
    ],
)
def test_bad_settings_name_the_parameter(parameter: str, value: object) -> None:
    with pytest.raises(ConfigError, match=parameter):
        Hub(**{parameter: value})  # type: ignore[arg-type]
