"""ConnectionPool against a real TCP server that drops 30% of connections (real time)."""

from __future__ import annotations

import asyncio

import pytest
from _tcp import EchoClient, EchoServer

from rebellion import CircuitBreaker, Retry
from rebellion.health import ConnectionPool

pytestmark = pytest.mark.e2e


async def test_callers_with_retry_see_no_errors_from_a_server_dropping_connections() -> None:
    server = await EchoServer(drop_rate=0.3, seed=1234).start()
    pool = ConnectionPool(
        connect=lambda: EchoClient.connect(server.port),
        ping=EchoClient.ping,
        close=EchoClient.close,
        min_size=2,
        max_size=6,
        acquire_timeout=30.0,  # generous: only a busy machine waits this long
        ping_timeout=30.0,
        max_failures=1,
        # A server that drops 30 % of connections is flaky, not down: five drops in a row
        # (likely over a few hundred connections) must not open the breaker for 30 s.
        breaker=CircuitBreaker("pool-e2e.breaker", failure_threshold=25, reset_timeout=0.05),
    )
    retry = Retry(
        max_attempts=10, initial_delay=0.001, max_delay=0.01, jitter="none", retry_rejected=True
    )
    first_try_failures = 0

    async def request(i: int) -> str:
        nonlocal first_try_failures
        client, conn_id = await pool.get_connection()
        try:
            answer: str = await client.request(f"r{i}")
        except Exception:
            pool.release_connection(conn_id, success=False)
            first_try_failures += 1
            raise
        pool.release_connection(conn_id, success=True, response_time=0.001)
        return answer

    async def caller(offset: int) -> list[str]:
        return [await retry.execute(request, offset + i) for i in range(25)]

    try:
        async with pool:
            results = await asyncio.gather(*(caller(100 * c) for c in range(8)))
            # New connections are pinged before use, so most drops never reach a caller;
            # cut live connections too, so callers do see failures that Retry must absorb.
            for _, conn_id in [await pool.get_connection() for _ in range(2)]:
                pool.release_connection(conn_id)
            server.drop_rate = 0.0
            await server.kill()
            await server.start()
            server.drop_rate = 0.3
            after = await asyncio.gather(*(caller(10_000 + 100 * c) for c in range(4)))
    finally:
        await server.kill()  # a failed run must not leave a listening socket behind
    for c, answers in enumerate(results):
        assert answers == [f"echo:r{100 * c + i}" for i in range(25)]
    for c, answers in enumerate(after):
        assert answers == [f"echo:r{10_000 + 100 * c + i}" for i in range(25)]
    assert server.dropped > 0  # the server really dropped connections
    assert first_try_failures > 0  # and callers really saw some, absorbed by Retry
    stats = retry.stats()
    assert stats["failures"] == 0
    assert stats["retries"] >= first_try_failures
    metrics = pool.get_pool_metrics()
    assert metrics["closed"]
