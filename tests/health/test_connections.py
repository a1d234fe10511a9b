"""ConnectionManager under virtual time: detection, backoff, give-up, revival, stats."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from rebellion import ConfigError
from rebellion.health import (
    ConnectionManager,
    ConnectionState,
    ConnectionStateChanged,
    ConnectionUnavailableError,
    ReconnectScheduled,
)
from rebellion.testing import ManualClock, RecordingListener

CONNECTED, RECONNECTING, FAILED = "CONNECTED", "RECONNECTING", "FAILED"


class FakeServer:
    """A server that can go down; connections remember whether they were cut."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.alive = True
        self.hang_pings = False
        self.hang_connects = False
        self.ping_delay = 0.0
        self.ids = itertools.count(1)
        self.closed: list[int] = []
        self.connect_times: list[float] = []

    async def connect(self) -> dict[str, Any]:
        self.connect_times.append(self.clock.monotonic())
        if self.hang_connects:
            await asyncio.Event().wait()
        if not self.alive:
            raise ConnectionRefusedError("refused")
        return {"id": next(self.ids), "cut": False}

    async def ping(self, conn: dict[str, Any]) -> None:
        if self.hang_pings:
            await asyncio.Event().wait()
        if self.ping_delay:
            await self.clock.sleep_async(self.ping_delay)
        if not self.alive or conn["cut"]:
            raise ConnectionResetError("reset by peer")

    async def close(self, conn: dict[str, Any]) -> None:
        self.closed.append(conn["id"])


def make(
    **options: Any,
) -> tuple[ConnectionManager, FakeServer, ManualClock, RecordingListener[Any]]:
    clock = ManualClock(auto_advance=False)
    server = FakeServer(clock)
    recorder: RecordingListener[Any] = RecordingListener()
    settings: dict[str, Any] = {
        "ping_interval": 1.0,
        "ping_timeout": 0.5,
        "connect_timeout": 0.5,
        "base_delay": 0.125,
        "max_delay": 1.0,
        "jitter": "none",
        "failure_threshold": 2,
        "max_attempts": 10,
    }
    settings.update(options)
    manager = ConnectionManager(clock=clock, listeners=[recorder], **settings)
    manager.register("db", server.connect, ping=server.ping, close=server.close)
    return manager, server, clock, recorder


async def run_for(clock: ManualClock, seconds: float, step: float = 1 / 64) -> None:
    """Advance in binary-exact steps, letting every woken task run to its next wait."""
    for _ in range(round(seconds / step)):
        await clock.advance_async(step, settle=40)


async def test_connects_on_start_and_hands_out_the_live_object() -> None:
    manager, _, clock, _ = make()
    with pytest.raises(ConnectionUnavailableError):
        manager.get("db")
    await manager.start()
    await clock.advance_async(0, settle=40)
    assert manager.state("db") is ConnectionState.CONNECTED
    assert manager.get("db")["id"] == 1
    await manager.stop()
    assert manager.state("db") is ConnectionState.DISCONNECTED


async def test_lost_pings_trigger_a_reconnect_with_exponential_backoff() -> None:
    manager, server, clock, recorder = make()
    await manager.start()
    await clock.advance_async(0, settle=40)
    server.alive = False
    await run_for(clock, 2.0)  # pings at t=1 and t=2 are lost: reconnect at t=2
    assert manager.state("db") is ConnectionState.RECONNECTING
    await run_for(clock, 1.0)  # attempts at 2.0, 2.125, 2.375, 2.875 (0.125, 0.25, 0.5)
    server.alive = True
    await run_for(clock, 0.75)
    assert manager.state("db") is ConnectionState.RECONNECTING
    await run_for(clock, 0.125)  # the attempt at 3.875 (after the capped 1.0) succeeds
    assert manager.state("db") is ConnectionState.CONNECTED
    assert manager.get("db")["id"] == 2
    delays = [e.delay for e in recorder.of_type(ReconnectScheduled)]
    assert delays == [0.125, 0.25, 0.5, 1.0]
    assert server.connect_times[1:] == [2.0, 2.125, 2.375, 2.875, 3.875]
    assert server.closed == [1]
    stats = manager.get_stats()
    assert stats["reconnects"] == 1
    assert stats["by_state"][CONNECTED] == 1
    assert stats["connections"]["db"]["ping_failures"] == 2
    await manager.stop()


async def test_the_backoff_exponent_and_delay_are_capped() -> None:
    base = 1 / 1024
    manager, server, clock, recorder = make(base_delay=base, max_delay=100.0, max_attempts=14)
    server.alive = False
    await manager.start()
    expected = [base * 2**n for n in range(11)] + [base * 2**10] * 2
    await clock.advance_async(0, settle=40)
    for delay in expected:  # wake exactly when each attempt is due
        await clock.advance_async(delay, settle=40)
    assert [e.delay for e in recorder.of_type(ReconnectScheduled)] == expected
    assert manager.state("db") is ConnectionState.FAILED
    await manager.stop()


async def test_gives_up_to_failed_and_reconnect_revives() -> None:
    manager, server, clock, recorder = make(max_attempts=3)
    server.alive = False
    await manager.start()
    await run_for(clock, 1.0)
    assert manager.state("db") is ConnectionState.FAILED
    assert len(server.connect_times) == 3
    with pytest.raises(ConnectionUnavailableError) as caught:
        manager.get("db")
    assert caught.value.retry_after is None
    server.alive = True
    await manager.reconnect("db")
    await clock.advance_async(0, settle=40)
    assert manager.state("db") is ConnectionState.CONNECTED
    states = [e.new_state for e in recorder.of_type(ConnectionStateChanged)]
    assert states == [RECONNECTING, FAILED, CONNECTED]
    await manager.stop()


async def test_get_while_reconnecting_tells_when_to_retry() -> None:
    manager, server, clock, _ = make()
    server.alive = False
    await manager.start()
    await clock.advance_async(0, settle=40)
    with pytest.raises(ConnectionUnavailableError) as caught:
        manager.get("db")
    assert caught.value.retry_after == 0.125
    assert "RECONNECTING" in str(caught.value)
    await manager.stop()


async def test_a_hanging_ping_counts_as_lost_after_its_timeout() -> None:
    manager, server, clock, recorder = make(failure_threshold=1)
    await manager.start()
    await clock.advance_async(0, settle=40)
    server.hang_pings = True
    await run_for(clock, 1.25)  # the ping that started at t=1 is still pending
    assert manager.connection_stats("db")["reconnects"] == 0
    await run_for(clock, 0.25)  # its 0.5 s timeout ends at t=1.5: reconnect at once
    stats = manager.connection_stats("db")
    assert stats["reconnects"] == 1
    assert "TimeoutExceededError" in stats["last_error"]
    changes = recorder.of_type(ConnectionStateChanged)
    assert [(e.new_state, e.at - clock.wall() + clock.monotonic()) for e in changes] == [
        (CONNECTED, 0.0),
        (RECONNECTING, 1.5),
        (CONNECTED, 1.5),
    ]
    await manager.stop()


async def test_a_hanging_connect_is_a_failed_attempt() -> None:
    manager, server, clock, _ = make(max_attempts=2)
    server.hang_connects = True
    await manager.start()
    await clock.advance_async(0, settle=40)
    await run_for(clock, 0.5)
    assert manager.state("db") is ConnectionState.RECONNECTING
    await run_for(clock, 0.65)
    assert manager.state("db") is ConnectionState.FAILED
    await manager.stop()


async def test_a_reported_failure_reconnects_without_waiting_for_pings() -> None:
    manager, _, clock, _ = make()
    await manager.start()
    await clock.advance_async(0, settle=40)
    first = manager.get("db")
    manager.report_failure("db", BrokenPipeError("write failed"))
    await clock.advance_async(0, settle=40)
    assert manager.get("db")["id"] == first["id"] + 1
    assert manager.connection_stats("db")["last_error"] == "BrokenPipeError: write failed"
    await manager.stop()


async def test_latency_and_loss_statistics_and_phi() -> None:
    manager, server, clock, _ = make(failure_threshold=5)
    server.ping_delay = 0.25
    await manager.start()
    await run_for(clock, 4.0)
    stats = manager.connection_stats("db")
    assert stats["latency_ewma"] == 0.25
    assert stats["loss_rate"] == 0.0
    assert stats["phi"] < 1.0
    manager.get("db")["cut"] = True
    await run_for(clock, 2.5)
    stats = manager.connection_stats("db")
    assert stats["pings"] == 5
    assert stats["loss_rate"] == pytest.approx(2 / 5)
    await manager.stop()


async def test_phi_declares_a_silent_connection_dead_before_the_lost_ping_count() -> None:
    manager, server, clock, _ = make(failure_threshold=100, phi_threshold=1.0)
    await manager.start()
    await run_for(clock, 5.0)
    server.alive = False
    await run_for(clock, 2.0)
    assert manager.state("db") is not ConnectionState.CONNECTED
    await manager.stop()


async def test_wait_connected_returns_the_live_object_or_times_out() -> None:
    manager, server, clock, _ = make(max_attempts=100)
    server.alive = False
    await manager.start()
    waiter = asyncio.create_task(manager.wait_connected("db", timeout=5.0))
    await run_for(clock, 1.0)
    server.alive = True
    await run_for(clock, 1.0)
    assert (await waiter)["id"] == 1
    server.alive = False
    manager.report_failure("db")
    late = asyncio.create_task(manager.wait_connected("db", timeout=0.5))
    await run_for(clock, 0.6)
    with pytest.raises(TimeoutError):
        await late
    await manager.stop()


async def test_a_failing_close_is_swallowed() -> None:
    manager, server, clock, _ = make()

    async def broken_close(conn: Any) -> None:
        raise OSError("already closed")

    manager.register("other", server.connect, ping=server.ping, close=broken_close)
    await manager.start()
    await clock.advance_async(0, settle=40)
    manager.report_failure("other")
    await clock.advance_async(0, settle=40)
    assert manager.state("other") is ConnectionState.CONNECTED
    await manager.stop()
    await manager.unregister("other")
    with pytest.raises(KeyError, match="other"):
        manager.state("other")


async def test_a_hundred_connections_recover_from_an_outage() -> None:
    manager, server, clock, _ = make(jitter="full", seed=7)
    for i in range(100):
        manager.register(f"c{i}", server.connect, ping=server.ping, close=server.close)
    await manager.start()
    await clock.advance_async(0, settle=40)
    assert manager.get_stats()["by_state"][CONNECTED] == 101
    server.alive = False
    await run_for(clock, 3.0)
    assert manager.get_stats()["by_state"][CONNECTED] == 0
    server.alive = True
    await run_for(clock, 3.0)
    stats = manager.get_stats()
    assert stats["by_state"][CONNECTED] == 101
    assert stats["reconnects"] == 101
    await manager.stop()


async def test_registering_while_running_connects_at_once() -> None:
    manager, server, clock, _ = make()
    await manager.start()
    manager.register("late", server.connect)
    await clock.advance_async(0, settle=40)
    assert manager.state("late") is ConnectionState.CONNECTED
    await manager.stop()


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"ping_interval": 0}, "ping_interval"),
        ({"ping_timeout": -1}, "ping_timeout"),
        ({"connect_timeout": "1"}, "connect_timeout"),
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"base_delay": -0.1}, "initial_delay"),
        ({"max_delay": -1}, "max_delay"),
        ({"jitter": "some"}, "jitter"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"phi_threshold": 0}, "phi_threshold"),
        ({"seed": "x"}, "seed"),
        ({"clock": 3}, "clock"),
        ({"name": ""}, "name"),
        ({"listeners": [None]}, "listeners"),
    ],
)
def test_bad_settings_name_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError, match=parameter):
        ConnectionManager(**kwargs)


def test_bad_registrations_name_the_parameter() -> None:
    manager = ConnectionManager()

    async def connect() -> None:
        return None

    with pytest.raises(ConfigError, match="connect"):
        manager.register("a", "nope")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="ping"):
        manager.register("a", connect, ping=1)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="close"):
        manager.register("a", connect, close=1)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="name"):
        manager.register(" a", connect)
    manager.register("a", connect)
    with pytest.raises(ConfigError, match="name"):
        manager.register("a", connect)
