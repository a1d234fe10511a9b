"""Adopting connections opened elsewhere, and the awaitable release and metrics."""

from __future__ import annotations

import pytest

from rebellion import RejectedError
from rebellion.errors import PoolExhaustedError
from rebellion.health import ConnectionPool, PoolConnectionOpened
from rebellion.testing import ManualClock, RecordingListener


async def never_connect() -> object:
    raise AssertionError("the pool should not open a connection")


def make(**options: object) -> ConnectionPool:
    options.setdefault("min_size", 0)
    return ConnectionPool("p", connect=never_connect, clock=ManualClock(), **options)  # type: ignore[arg-type]


async def test_an_added_connection_is_lent_and_stays_after_release() -> None:
    recorder = RecordingListener()
    pool = make(listeners=[recorder])
    conn_id = await pool.add_connection("outside")
    assert await pool.get_connection() == ("outside", conn_id)
    pool.release_connection(conn_id, success=True, response_time=0.01)
    assert pool.get_pool_metrics()["size"] == 1
    assert await pool.get_connection() == ("outside", conn_id)
    (opened,) = [e for e in recorder.events if isinstance(e, PoolConnectionOpened)]
    assert opened.reason == "added"


async def test_a_full_pool_refuses_another_connection() -> None:
    pool = make(max_size=1)
    await pool.add_connection("a")
    with pytest.raises(PoolExhaustedError, match="full"):
        await pool.add_connection("b")


async def test_a_closed_pool_refuses_connections() -> None:
    pool = make()
    await pool.close()
    with pytest.raises(RejectedError, match="closed"):
        await pool.add_connection("a")


async def test_a_connection_that_fails_its_ping_is_not_adopted() -> None:
    async def ping(conn: object) -> None:
        raise ConnectionError("dead")

    pool = make(ping=ping, max_size=1)
    with pytest.raises(ConnectionError):
        await pool.add_connection("dead")
    assert pool.get_pool_metrics()["size"] == 0


async def test_release_and_metrics_may_be_awaited_or_not() -> None:
    pool = make()
    conn_id = await pool.add_connection("c")
    _, lent = await pool.get_connection()
    assert lent == conn_id
    assert await pool.release_connection(lent, success=False) is None
    metrics = await pool.get_pool_metrics()
    assert metrics == pool.get_pool_metrics()
