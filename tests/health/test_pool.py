"""ConnectionPool under virtual time: sizing, fast-first, checks, replacement, timeouts."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import pytest

from rebellion import CircuitBreaker, CircuitOpenError, ConfigError, RejectedError
from rebellion.health import ConnectionPool, PoolExhaustedError, PoolTargetResized
from rebellion.testing import ManualClock, RecordingListener


class Backend:
    def __init__(self) -> None:
        self.ids = itertools.count(1)
        self.alive = True
        self.bad: set[int] = set()
        self.closed: list[int] = []
        self.pings = 0

    async def connect(self) -> dict[str, int]:
        if not self.alive:
            raise ConnectionRefusedError("down")
        return {"id": next(self.ids)}

    async def ping(self, conn: dict[str, int]) -> None:
        self.pings += 1
        if not self.alive or conn["id"] in self.bad:
            raise ConnectionResetError("dead")

    def close(self, conn: dict[str, int]) -> None:
        self.closed.append(conn["id"])


def make(**options: Any) -> tuple[ConnectionPool, Backend, ManualClock]:
    clock = ManualClock(auto_advance=False)
    backend = Backend()
    settings: dict[str, Any] = {
        "min_size": 2,
        "max_size": 4,
        "acquire_timeout": 1.0,
        "validate_idle_after": None,
        "clock": clock,
        "connect": backend.connect,
        "ping": backend.ping,
        "close": backend.close,
    }
    settings.update(options)
    return ConnectionPool(**settings), backend, clock


async def test_warm_up_opens_min_size_and_acquire_reuses_them() -> None:
    pool, _backend, _ = make()
    await pool.start()
    assert pool.get_pool_metrics()["size"] == 2
    conn, conn_id = await pool.get_connection()
    pool.release_connection(conn_id)
    again, _ = await pool.get_connection()
    assert again is conn or again["id"] in (1, 2)
    assert pool.get_pool_metrics()["opened"] == 2
    await pool.close()


async def test_grows_on_demand_up_to_max_size_then_times_out_with_a_rejection() -> None:
    pool, _, clock = make()
    await pool.start()
    held = [await pool.get_connection() for _ in range(4)]
    assert pool.size == 4
    waiting = asyncio.create_task(pool.get_connection())
    await clock.advance_async(0)
    await clock.advance_async(0.5)
    assert not waiting.done()
    await clock.advance_async(0.5)
    with pytest.raises(PoolExhaustedError) as caught:
        await waiting
    assert isinstance(caught.value, RejectedError)
    assert "within 1s" in str(caught.value)
    assert pool.get_pool_metrics()["timeouts"] == 1
    for _, conn_id in held:
        pool.release_connection(conn_id)
    await pool.close()


async def test_a_release_hands_the_connection_to_the_first_waiter() -> None:
    pool, _, clock = make(max_size=2)
    await pool.start()
    a = await pool.get_connection()
    b = await pool.get_connection()
    first = asyncio.create_task(pool.get_connection())
    second = asyncio.create_task(pool.get_connection())
    await clock.advance_async(0)
    pool.release_connection(a[1])
    assert (await first)[1] == a[1]
    pool.release_connection(b[1])
    assert (await second)[1] == b[1]
    await pool.close()


async def test_prefers_the_fastest_idle_connection() -> None:
    pool, _, _ = make(min_size=3)
    await pool.start()
    lent = [await pool.get_connection() for _ in range(3)]
    for (_, conn_id), latency in zip(lent, [0.3, 0.05, 0.2], strict=True):
        pool.release_connection(conn_id, True, latency)
    order = [(await pool.get_connection())[1] for _ in range(3)]
    assert order == [lent[1][1], lent[2][1], lent[0][1]]
    await pool.close()


async def test_a_failed_use_triggers_a_health_check_and_dead_connections_are_replaced() -> None:
    pool, backend, _ = make(min_size=1, max_size=1)
    await pool.start()
    conn, conn_id = await pool.get_connection()
    backend.bad.add(conn["id"])
    pool.release_connection(conn_id, success=False)
    fresh, fresh_id = await pool.get_connection()
    assert fresh["id"] != conn["id"]
    assert backend.closed == [conn["id"]]
    assert pool.get_pool_metrics()["closed"] == {"failed health check": 1}
    pool.release_connection(fresh_id)
    await pool.close()


async def test_max_failures_in_a_row_replace_a_connection_without_a_ping() -> None:
    pool, _backend, _ = make(min_size=1, max_size=1, ping=None, max_failures=2)
    await pool.start()
    conn, conn_id = await pool.get_connection()
    pool.release_connection(conn_id, success=False)
    again, again_id = await pool.get_connection()
    assert again is conn
    pool.release_connection(again_id, success=False)
    fresh, fresh_id = await pool.get_connection()
    assert fresh["id"] == 2
    assert pool.get_pool_metrics()["closed"] == {"failing": 1}
    pool.release_connection(fresh_id)
    await pool.close()


async def test_long_idle_connections_are_checked_before_use() -> None:
    pool, backend, clock = make(validate_idle_after=10.0, min_size=1, max_size=1)
    await pool.start()
    _, conn_id = await pool.get_connection()
    pool.release_connection(conn_id)
    pings = backend.pings
    await pool.get_connection()
    assert backend.pings == pings  # fresh: no check
    pool.release_connection(conn_id)
    clock.advance(11.0)
    _, conn_id = await pool.get_connection()
    assert backend.pings == pings + 1
    pool.release_connection(conn_id)
    await pool.close()


async def test_a_dead_backend_opens_the_breaker_and_acquire_fails_fast() -> None:
    clock = ManualClock(auto_advance=False)
    breaker = CircuitBreaker("pool-db", failure_threshold=2, reset_timeout=5.0, clock=clock)
    pool, backend, _ = make(min_size=0, breaker=breaker, clock=clock)
    backend.alive = False
    for _ in range(2):
        with pytest.raises(ConnectionRefusedError):
            await pool.get_connection()
    with pytest.raises(CircuitOpenError):
        await pool.get_connection()
    assert pool.size == 0
    assert pool.get_pool_metrics()["breaker_state"] == "OPEN"
    backend.alive = True
    clock.advance(5.0)
    _, conn_id = await pool.get_connection()
    pool.release_connection(conn_id)
    await pool.close()


async def test_adaptive_sizing_follows_utilisation() -> None:
    recorder: RecordingListener[Any] = RecordingListener()
    pool, _, _ = make(min_size=2, max_size=8, listeners=[recorder])
    await pool.start()
    held = [await pool.get_connection() for _ in range(2)]
    await pool.maintain()  # 2 of 2 in use: scale up and warm up
    assert pool.target == 3
    assert pool.size == 3
    for _, conn_id in held:
        pool.release_connection(conn_id)
    await pool.maintain()  # idle: scale back down, surplus closed
    await pool.maintain()
    assert pool.target == 2
    assert pool.size == 2
    changes = [(e.old_target, e.new_target) for e in recorder.of_type(PoolTargetResized)]
    assert changes == [(2, 3), (3, 2)]
    await pool.close()


async def test_maintenance_replenishes_lost_connections_on_its_interval() -> None:
    pool, backend, clock = make(min_size=2, adaptive=False, maintenance_interval=5.0)
    await pool.start()
    (bad, bad_id), (_, good_id) = [await pool.get_connection() for _ in range(2)]
    backend.bad.add(bad["id"])
    pool.release_connection(bad_id, success=False)
    pool.release_connection(good_id)
    _, conn_id = await pool.get_connection()  # checks the suspect first and drops it
    assert conn_id == good_id
    assert pool.size == 1
    pool.release_connection(conn_id)
    await clock.advance_async(5.0, settle=20)
    assert pool.size == 2
    assert backend.closed == [bad["id"]]
    await pool.close()


async def test_many_tasks_share_a_small_pool_without_losing_connections() -> None:
    pool, _, clock = make(min_size=1, max_size=3, acquire_timeout=100.0)
    await pool.start()
    in_use = 0
    peak = 0

    async def worker() -> None:
        nonlocal in_use, peak
        async with pool.connection():
            in_use += 1
            peak = max(peak, in_use)
            await asyncio.sleep(0)
            in_use -= 1

    await asyncio.gather(*(worker() for _ in range(200)))
    metrics = pool.get_pool_metrics()
    assert peak <= 3
    assert (metrics["in_use"], metrics["waiters"]) == (0, 0)
    assert metrics["size"] <= 3
    assert clock.monotonic() == 0.0
    await pool.close()


async def test_cancelled_waiters_do_not_leak_connections() -> None:
    pool, _, clock = make(min_size=1, max_size=1)
    await pool.start()
    _, conn_id = await pool.get_connection()
    waiter = asyncio.create_task(pool.get_connection())
    await clock.advance_async(0)
    waiter.cancel()
    pool.release_connection(conn_id)
    with pytest.raises(asyncio.CancelledError):
        await waiter
    metrics = pool.get_pool_metrics()
    assert (metrics["idle"], metrics["in_use"]) == (1, 0)
    await pool.close()


async def test_release_of_an_unknown_or_returned_id_is_refused() -> None:
    pool, _, _ = make()
    await pool.start()
    _, conn_id = await pool.get_connection()
    pool.release_connection(conn_id)
    with pytest.raises(ConfigError, match="conn_id"):
        pool.release_connection(conn_id)
    with pytest.raises(ConfigError, match="conn_id"):
        pool.release_connection(999)
    await pool.close()
    with pytest.raises(RejectedError):
        await pool.get_connection()


def _connect() -> Any:
    return None


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"connect": "x"}, "connect"),
        ({"close": 1}, "close"),
        ({"ping": 1}, "ping"),
        ({"min_size": -1}, "min_size"),
        ({"max_size": 0}, "max_size"),
        ({"min_size": 5, "max_size": 4}, "max_size"),
        ({"acquire_timeout": 0}, "acquire_timeout"),
        ({"connect_timeout": -1}, "connect_timeout"),
        ({"ping_timeout": "1"}, "ping_timeout"),
        ({"validate_idle_after": 0}, "validate_idle_after"),
        ({"max_failures": 0}, "max_failures"),
        ({"prefer_fast": 1}, "prefer_fast"),
        ({"adaptive": None}, "adaptive"),
        ({"latency_alpha": 0}, "latency_alpha"),
        ({"scale_up_threshold": 1.5}, "scale_up_threshold"),
        ({"scale_down_threshold": 0.9}, "scale_down_threshold"),
        ({"maintenance_interval": 0}, "maintenance_interval"),
        ({"breaker": "cb"}, "breaker"),
        ({"clock": 1}, "clock"),
        ({"name": ""}, "name"),
        ({"listeners": [1]}, "listeners"),
    ],
)
def test_bad_settings_name_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    settings: dict[str, Any] = {"connect": _connect} | kwargs
    with pytest.raises(ConfigError, match=parameter):
        ConnectionPool(**settings)
