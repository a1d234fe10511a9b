"""The Redis tier: shared across processes, guarded by a circuit breaker.

Every call goes through a :class:`~rebellion.CircuitBreaker`. A refused connection or
a timeout counts as a failure; once the breaker opens, Redis is skipped outright
(no connection attempt, no latency) and the cache keeps serving from its local tiers.
After ``reset_timeout`` one probe checks Redis again; its success closes the breaker.

Values are stored as ``expires_at`` (8-byte wall-clock seconds) + the tagged payload,
with a Redis TTL of ``ttl + stale`` seconds. Freshness is decided from the header with
the cache's clock, so (1) a value promoted to a faster tier keeps its remaining TTL
with one ``GET``, and (2) an expired value stays readable for serve-stale until Redis
itself drops it. Redis expiry is real time; the header is what tests can steer.

Keys are ``{prefix}:{len(namespace)}:{namespace}:{key}``: the length makes the split
unambiguous whatever characters a namespace holds.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Awaitable, Callable
from typing import Any, final

from .._clock import Clock
from .._events import EventStream
from ..errors import CircuitOpenError
from ..policies.circuit_breaker import CircuitBreaker
from ._events import CacheTierFailed, CacheTierRecovered

__all__ = ["RedisTier", "redis_key"]

_HEADER = struct.Struct("<d")
_GLOB = str.maketrans({c: "\\" + c for c in "*?[]\\"})


def redis_key(prefix: str, namespace: str, key: str) -> str:
    """Return the Redis key of ``(namespace, key)``."""
    return f"{prefix}:{len(namespace)}:{namespace}:{key}"


@final
class RedisTier:
    """Async Redis access for the cache, with a breaker and failure accounting."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        timeout: float,
        breaker: CircuitBreaker,
        clock: Clock,
        events: EventStream,
    ) -> None:
        from ..backends.redis import async_client

        self.url = url
        self.prefix = prefix
        self.clock = clock
        self.events = events
        self.breaker = breaker
        self.client: Any = async_client(url, timeout=timeout)
        self.errors = 0
        self.skipped = 0
        self.failing = False

    async def _guarded(self, operation: str, fn: Callable[..., Awaitable[Any]], *args: Any) -> Any:
        """Run one Redis call through the breaker; return ``_DOWN`` if Redis is unusable."""
        try:
            result = await self.breaker.execute(fn, *args)
        except CircuitOpenError:
            self.skipped += 1
            return _DOWN
        except Exception as error:  # redis errors, OSError: the tier failed, the caller not
            self.errors += 1
            self.failing = True
            if self.events.active:
                self.events.emit(
                    CacheTierFailed(
                        self.events.source,
                        self.clock.wall(),
                        "redis",
                        operation,
                        type(error).__name__,
                    )
                )
            return _DOWN
        if self.failing:
            self.failing = False
            if self.events.active:
                self.events.emit(CacheTierRecovered(self.events.source, self.clock.wall(), "redis"))
        return result

    async def get(self, namespace: str, key: str) -> tuple[bytes, float] | None:
        """Return ``(payload, seconds until expiry; negative once stale)`` or ``None``."""
        raw = await self._guarded("get", self.client.get, redis_key(self.prefix, namespace, key))
        if raw is None or raw is _DOWN or len(raw) <= _HEADER.size:
            return None
        (expires_at,) = _HEADER.unpack_from(raw)
        return raw[_HEADER.size :], expires_at - self.clock.wall()

    async def set(
        self, namespace: str, key: str, payload: bytes, *, ttl: float, stale: float
    ) -> bool:
        """Store ``payload`` for ``ttl`` (+ ``stale`` grace) seconds; False if Redis is down."""
        blob = _HEADER.pack(self.clock.wall() + ttl) + payload
        ms = max(1, math.ceil((ttl + stale) * 1000))
        result = await self._guarded(
            "set", self.client.set, redis_key(self.prefix, namespace, key), blob, None, ms
        )
        return result is not _DOWN

    async def delete(self, namespace: str, key: str) -> bool:
        """Delete a key; False if Redis is down."""
        result = await self._guarded(
            "delete", self.client.unlink, redis_key(self.prefix, namespace, key)
        )
        return result is not _DOWN

    async def clear_namespace(self, namespace: str) -> int | None:
        """Delete every key of ``namespace`` (SCAN + UNLINK); ``None`` if Redis is down."""
        pattern = redis_key(self.prefix, namespace, "").translate(_GLOB) + "*"

        async def sweep() -> int:
            removed = 0
            batch: list[bytes] = []
            async for name in self.client.scan_iter(match=pattern, count=500):
                batch.append(name)
                if len(batch) >= 500:
                    removed += await self.client.unlink(*batch)
                    batch = []
            if batch:
                removed += await self.client.unlink(*batch)
            return removed

        result = await self._guarded("clear", sweep)
        return None if result is _DOWN else int(result)

    async def close(self) -> None:
        """Close the connection pool."""
        await self.client.aclose()


_DOWN: Any = object()
