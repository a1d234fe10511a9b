"""Health groups: pool acquire + release, phi heartbeat + query, 1,000 health checks.

* ``pool_acquire_release``: one ``get_connection`` + ``release_connection`` (with a
  response time) on a warm pool, against the floor of pooling: an ``asyncio.Queue`` of
  connections (``await get()`` + ``put_nowait``). Both run one ``await`` per operation.
* ``phi_heartbeat``: one ``heartbeat(peer)`` plus one ``phi(peer)`` on the real clock.
* ``health_run_once_1000``: ``await registry.run_once()`` over 1,000 trivial checks
  (each one a task, under its timeout), against ``asyncio.gather`` of 1,000 trivial
  coroutines as tasks: reported, no target.

>>> [g.name for g in groups()]
['pool_acquire_release', 'phi_heartbeat', 'health_run_once_1000']
"""

from __future__ import annotations

import asyncio
import itertools

from _common import Contender, Group
from _harness import Op, Runner
from _targets import absolute, at_most_times

__all__ = ["TARGETS", "groups"]

_POOL = "rebellion ConnectionPool get+release (async)"
_QUEUE = "asyncio.Queue pool get+put_nowait (async)"
_PHI = "rebellion PhiAccrualFailureDetector heartbeat+phi"
_AVAILABLE = "rebellion PhiAccrualFailureDetector is_available"
_RUN_ONCE = "rebellion HealthRegistry.run_once (1,000 checks) (async)"


def _queue_pool(runner: Runner) -> Op:
    queue: asyncio.Queue[object] = asyncio.Queue()
    for i in range(4):
        queue.put_nowait(f"conn-{i}")

    async def op(x: int) -> int:
        conn = await queue.get()
        queue.put_nowait(conn)
        return x + 1

    return Op(fn=op, args=(1,), is_async=True, returns=2)


def _rebellion_pool(runner: Runner) -> Op:
    from rebellion.health import ConnectionPool

    ids = itertools.count()

    async def connect() -> str:
        return f"conn-{next(ids)}"

    # Defaults otherwise (idle validation after 30 s, fast-first selection, breaker);
    # no start(): the first acquire opens the connection, and no maintenance task runs.
    pool = ConnectionPool("bench-pool", connect=connect, min_size=4, max_size=8)
    get, release = pool.get_connection, pool.release_connection

    async def op(x: int) -> int:
        _, conn_id = await get()
        release(conn_id, True, 0.001)
        return x + 1

    return Op(fn=op, args=(1,), is_async=True, returns=2)


def _phi(runner: Runner) -> Op:
    from rebellion.health import PhiAccrualFailureDetector

    detector = PhiAccrualFailureDetector("bench-phi")
    heartbeat, phi = detector.heartbeat, detector.phi

    def op(peer: str) -> bool:
        heartbeat(peer)
        return phi(peer) < 8.0

    return Op(fn=op, args=("peer-1",), returns=True)


def _phi_available(runner: Runner) -> Op:
    from rebellion.health import PhiAccrualFailureDetector

    detector = PhiAccrualFailureDetector("bench-phi-available")
    detector.heartbeat("peer-1")
    return Op(fn=detector.is_available, args=("peer-1",), returns=True)


async def _trivial() -> bool:
    return True


def _gather(runner: Runner) -> Op:
    async def op(n: int) -> int:
        return len(await asyncio.gather(*(_trivial() for _ in range(n))))

    return Op(fn=op, args=(1000,), is_async=True, returns=1000)


def _registry(runner: Runner) -> Op:
    from rebellion.health import FunctionHealthCheck, HealthRegistry

    health = HealthRegistry("bench-health", timeout=5.0)
    for i in range(1000):
        health.add(FunctionHealthCheck(f"check-{i}", _trivial))

    async def op(n: int) -> int:
        report = await health.run_once()
        return len(report.checks) if report.status == "ok" else -1

    return Op(fn=op, args=(1000,), is_async=True, returns=1000)


def groups() -> list[Group]:
    """Return the health groups."""
    return [
        Group(
            "pool_acquire_release",
            "Connection pool: acquire + release of a warm connection",
            [
                Contender(_QUEUE, "python", _queue_pool),
                Contender(_POOL, "rebellion", _rebellion_pool),
            ],
        ),
        Group(
            "phi_heartbeat",
            "Phi-accrual detector: one heartbeat plus one phi query",
            [
                Contender(_PHI, "rebellion", _phi),
                Contender(
                    "rebellion PhiAccrualFailureDetector is_available", "rebellion", _phi_available
                ),
            ],
        ),
        Group(
            "health_run_once_1000",
            "Health registry: run_once over 1,000 trivial async checks (one op = one run)",
            [
                Contender("asyncio.gather(1,000 trivial coroutines) (async)", "python", _gather),
                Contender(
                    "rebellion HealthRegistry.run_once (1,000 checks) (async)",
                    "rebellion",
                    _registry,
                ),
            ],
        ),
    ]


TARGETS = [
    at_most_times("pool_acquire_release", _POOL, _QUEUE, 2.0),
    absolute("phi_heartbeat", _PHI, 2000.0),
]
"""Targets: pool acquire + release <= 2x an asyncio.Queue pool; phi update + query <= 2 us."""
