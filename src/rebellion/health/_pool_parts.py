"""The pieces of ``pool.py`` that are not the acquire/release path.

>>> PooledConnection(1, "conn", 0.0).latency is None
True
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, final

from .._validate import check_number

if TYPE_CHECKING:
    from .pool import ConnectionPool

__all__ = ["PooledConnection", "check_positive", "pool_metrics"]


@final
class PooledConnection:
    """One pooled connection and what the pool knows about it."""

    __slots__ = (
        "consecutive_failures",
        "created_at",
        "failures",
        "id",
        "idle_since",
        "in_use",
        "latency",
        "needs_check",
        "obj",
        "uses",
    )

    def __init__(self, conn_id: int, obj: Any, now: float) -> None:
        self.id = conn_id
        self.obj = obj
        self.created_at = now
        self.idle_since = now
        self.latency: float | None = None
        self.uses = 0
        self.failures = 0
        self.consecutive_failures = 0
        self.needs_check = False
        self.in_use = False


def check_positive(parameter: str, value: object) -> float:
    """Return ``value`` checked to be a finite number > 0."""
    return check_number(parameter, value, minimum=0.0, exclusive_minimum=True)


def pool_metrics(
    pool: ConnectionPool, connections: Iterable[PooledConnection], idle: int, waiters: int
) -> dict[str, Any]:
    """Return the metrics snapshot of ``pool``."""
    conns = sorted(connections, key=lambda c: c.id)
    latencies = [c.latency for c in conns if c.latency is not None]
    size = pool.size
    return {
        "kind": pool.kind,
        "name": pool.name,
        "size": size,
        "idle": idle,
        "in_use": pool.in_use,
        "waiters": waiters,
        "target": pool.target,
        "min_size": pool.min_size,
        "max_size": pool.max_size,
        "utilisation": pool.in_use / size if size else 0.0,
        "recent_utilisation": pool._last_utilisation,
        "timeouts": pool.counts["timeouts"],
        "opened": pool.counts["opened"],
        "closed": dict(sorted(pool.closed_by_reason.items())),
        "average_latency": sum(latencies) / len(latencies) if latencies else None,
        "breaker_state": pool.breaker.state.value,
        "connections": [
            {
                "id": c.id,
                "latency": c.latency,
                "uses": c.uses,
                "failures": c.failures,
                "in_use": c.in_use,
            }
            for c in conns
        ],
    }
