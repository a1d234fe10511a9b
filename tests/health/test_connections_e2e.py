"""ConnectionManager against a real TCP server that dies and comes back (real time)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from _tcp import EchoClient, EchoServer

from rebellion import Retry
from rebellion.health import ConnectionManager, ConnectionState


async def until(condition: Callable[[], bool], within: float = 30.0) -> None:
    """Wait for ``condition`` (generously: a busy machine is slow, never wrong)."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


pytestmark = pytest.mark.e2e


async def test_manager_reconnects_to_a_restarted_server_and_traffic_resumes() -> None:
    server = await EchoServer().start()
    manager = ConnectionManager(
        ping_interval=0.05,
        ping_timeout=0.2,
        connect_timeout=0.5,
        failure_threshold=1,
        base_delay=0.05,
        max_delay=0.2,
        jitter="none",
        max_attempts=100,
    )
    manager.register(
        "echo",
        lambda: EchoClient.connect(server.port),
        ping=EchoClient.ping,
        close=EchoClient.close,
    )
    # A steady 10 ms between attempts; max_delay above the manager's backoff cap, so its
    # retry_after hints ("next connect attempt in ...") are honoured, not refused.
    retry = Retry(
        max_attempts=200,
        initial_delay=0.01,
        backoff_factor=1.0,
        max_delay=0.5,
        jitter="none",
        retry_rejected=True,  # ConnectionUnavailableError is a rejection: wait it out here
    )
    answers: list[str] = []

    async def call(i: int) -> str:
        client: EchoClient = manager.get("echo")
        return await client.request(f"m{i}")

    async def traffic() -> None:
        for i in range(10_000):
            answers.append(await retry.execute(call, i))
            await asyncio.sleep(0.01)

    async with manager:
        first = await manager.wait_connected("echo", timeout=2.0)
        caller = asyncio.create_task(traffic())
        await until(lambda: len(answers) > 5)
        before = len(answers)
        await server.kill()
        await until(lambda: manager.state("echo") is ConnectionState.RECONNECTING)
        await asyncio.sleep(0.3)  # the server stays down a while: backoff grows to its cap
        await server.start()
        restarted = time.monotonic()
        second = await manager.wait_connected("echo", timeout=30.0)
        took = time.monotonic() - restarted
        during = len(answers)
        await until(lambda: len(answers) > during + 5)  # traffic resumed by itself
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
    await server.kill()
    assert second is not first
    # The next attempt is at most one capped backoff (0.2 s) away; the rest is slack for
    # a busy machine (an uncapped backoff would have grown far past it by now).
    assert took < 0.2 + 5.0
    assert before > 5
    assert answers == [f"echo:m{i}" for i in range(len(answers))]  # nothing lost or mixed
    stats = manager.get_stats()["connections"]["echo"]
    assert stats["reconnects"] == 1
    assert stats["latency_ewma"] is not None
