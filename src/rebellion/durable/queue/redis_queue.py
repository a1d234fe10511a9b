"""Redis storage for the durable queue (Streams), shared across hosts; RedisRequestQueue.

:class:`RedisQueueStore` keeps requests in Redis, every step one atomic Lua script (see
:mod:`._redis_lua`); :class:`RedisRequestQueue` is a
:class:`~rebellion.durable.queue.RequestQueue` over it, with the same interface as
``PersistentRequestQueue``. ``redis`` is imported only when a store is built.

Durability is the Redis server's: ``enqueue`` returns once Redis has applied the write;
it survives a Redis crash only as far as the server persists it (``appendonly yes`` with
``appendfsync always`` for every write, ``everysec`` loses up to a second). Lease expiry
is measured on the Redis server's clock (``XAUTOCLAIM`` idle time), which every host
shares; delays and retry backoff use the queue's ``clock``. A lease lasts the queue's
``lease_timeout``; :meth:`extend_lease` restarts it (it cannot exceed one
``lease_timeout`` from now).

Faults: every command waits at most ``timeout`` seconds, so a frozen server cannot
block a caller for longer; an unreachable, frozen or overloaded server raises
:class:`~rebellion.errors.BackendUnavailableError` (``retry_after``: the queue's
``poll_interval``), an out-of-memory one :class:`~rebellion.errors.StorageFullError`.
An enqueue that raised may still have been stored (the reply was lost, not the write);
enqueueing the same ``RetryableRequest`` object again sends the same id (the queue
remembers it), and Redis stores it once, also when it has completed meanwhile (for
``retry_window`` seconds).

>>> RedisRequestQueue.kind
'durable_queue'
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Iterable
from typing import Any, NoReturn, final
from urllib.parse import urlsplit

from ..._clock import Clock
from ..._events import Listener
from ..._validate import check_int, check_name, check_number
from ...backends.redis import async_client, redis_module, sync_client
from ...errors import ConfigError
from ...policies._backoff import Backoff
from ...policies._counter import AtomicCounter
from . import _redis_lua as lua
from ._model import QUARANTINED, DeadLetter, Delivery
from ._queue import RequestQueue
from ._redis_codec import dead_letter, storage_error, text
from ._request import decode_payload
from ._store import NewRequest

__all__ = ["RedisQueueStore", "RedisRequestQueue"]


@final
class RedisQueueStore:
    """The requests of a queue in Redis Streams, shared by every host that names it.

    Args:
        redis_url: the server, e.g. ``"redis://127.0.0.1:6379/0"``.
        name: the queue's name; with ``prefix`` it names the keys.
        prefix: key prefix; every key is ``<prefix>:<name>:...``.
        max_connections: connections per client; more concurrent callers wait for one.
        timeout: seconds a command (or a wait for a free connection) may take before
            :class:`~rebellion.errors.BackendUnavailableError`; ``None`` waits forever.
        connect_timeout: seconds to connect (default: ``timeout``).
        retry_window: seconds a completed request's id is remembered, so that a retried
            enqueue of it is not stored again (``0``: only while it is queued or dead).
        retry_after: the ``retry_after`` of a ``BackendUnavailableError``.

    Raises:
        ConfigError: a parameter is invalid (the message names it).
        ImportError: the ``redis`` package is not installed.
    """

    backend = "redis"
    max_priority = 2**53  # priorities are Redis sorted-set scores: exact doubles only

    def __init__(
        self,
        redis_url: str = "redis://127.0.0.1:6379/0",
        *,
        name: str = "requests",
        prefix: str = "rebellion:queue",
        max_connections: int = 32,
        timeout: float | None = 2.0,
        connect_timeout: float | None = None,
        retry_window: float = 300.0,
        retry_after: float = 1.0,
    ) -> None:
        redis_module()  # a clear ImportError before any other check
        if not isinstance(redis_url, str) or "://" not in redis_url:
            raise ConfigError("redis_url", "a URL such as 'redis://127.0.0.1:6379/0'", redis_url)
        self.redis_url = redis_url
        self.name = check_name("name", name)
        self.prefix = check_name("prefix", prefix)
        self._keys = f"{prefix}:{name}"
        self._max_connections = check_int("max_connections", max_connections, minimum=1)
        self._timeout, self._connect_timeout = timeout, connect_timeout
        window = check_number("retry_window", retry_window, minimum=0.0, maximum=86_400.0 * 30)
        self._retry_window_ms = round(window * 1000)
        self._retry_after = check_number("retry_after", retry_after, minimum=0.0)
        self._where = urlsplit(redis_url).netloc.rpartition("@")[2] or redis_url
        self._sync = sync_client(
            redis_url,
            max_connections=self._max_connections,
            timeout=timeout,
            connect_timeout=connect_timeout,
        )
        self._consumer = uuid.uuid4().hex[:16]
        self._tokens = AtomicCounter()
        self._async: Any = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._sync_scripts: dict[str, Any] = {}
        self._async_scripts: dict[str, Any] = {}

    # -- clients and scripts ----------------------------------------------------------
    def _aio(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._async is None or self._async_loop is not loop:
            # redis.asyncio connections belong to one event loop.
            self._async = async_client(
                self.redis_url,
                max_connections=self._max_connections,
                timeout=self._timeout,
                connect_timeout=self._connect_timeout,
            )
            self._async_loop = loop
        return self._async

    async def _eval(self, script: str, *args: Any) -> Any:
        client = self._aio()
        scripts = self._async_scripts
        if scripts.get("client") is not client:
            scripts.clear()
            scripts["client"] = client
        runner = scripts.get(script)
        if runner is None:
            # EVALSHA, re-sending the source only after a SCRIPT FLUSH or a restart.
            runner = scripts[script] = client.register_script(script)
        try:
            return await runner(args=[self._keys, *args])
        except Exception as error:
            self._fault(error)

    def _eval_sync(self, script: str, *args: Any) -> Any:
        runner = self._sync_scripts.get(script)
        if runner is None:
            runner = self._sync_scripts[script] = self._sync.register_script(script)
        try:
            return runner(args=[self._keys, *args])
        except Exception as error:
            self._fault(error)

    def _fault(self, error: Exception) -> NoReturn:
        """Raise ``error`` as the rebellion error it means (or as it is)."""
        mapped = storage_error(error, self.name, self._where, self._retry_after)
        if mapped is None:
            raise error
        raise mapped from error

    # -- producing --------------------------------------------------------------------
    def _args(self, record: NewRequest, max_size: int, key_ttl: float) -> list[Any]:
        return [
            record.id,
            record.priority,
            record.operation,
            record.payload,
            record.max_retries,
            record.idempotency_key or "",
            repr(record.enqueued_at),
            repr(record.visible_at),
            max_size,
            -1 if math.isinf(key_ttl) else round(key_ttl * 1000),
        ]

    async def enqueue(self, record: NewRequest, max_size: int, key_ttl: float) -> tuple[str, int]:
        """Store ``record`` once Redis has applied it; see :class:`.QueueStore`."""
        reply = await self._eval(lua.ENQUEUE, *self._args(record, max_size, key_ttl))
        return text(reply[0]), int(reply[1])

    def enqueue_sync(self, record: NewRequest, max_size: int, key_ttl: float) -> tuple[str, int]:
        """Blocking :meth:`enqueue`."""
        reply = self._eval_sync(lua.ENQUEUE, *self._args(record, max_size, key_ttl))
        return text(reply[0]), int(reply[1])

    # -- the durable steps workers use ------------------------------------------------
    async def claim(
        self, now: float, lease: float
    ) -> tuple[list[Delivery], list[tuple[str, int, str]], float | None]:
        """Lease one due request; quarantine one that cannot be decoded."""
        token = f"{self._consumer}-{self._tokens.increment()}"
        reply = await self._eval(
            lua.CLAIM, repr(now), self._consumer, token, max(1, round(lease * 1000))
        )
        raw_dead = [text(x) for x in reply[-1]]
        dead = [
            (raw_dead[i], int(raw_dead[i + 1]), raw_dead[i + 2]) for i in range(0, len(raw_dead), 3)
        ]
        if int(reply[0]) == 0:
            upcoming = text(reply[1])
            return [], dead, float(upcoming) if upcoming else None
        raw_id, raw_op, payload, prio, attempt, retries = reply[1:7]
        rid = text(raw_id)
        try:
            op = raw_op.decode() if isinstance(raw_op, bytes) else str(raw_op)
            args, kwargs = decode_payload(payload)
            delivery = Delivery(
                rid, op, args, kwargs, int(prio), int(attempt), int(retries), token, now + lease
            )
        except ValueError as damage:  # includes UnicodeDecodeError
            # Quarantine: dead-letter it with the reason; the requests behind it go on.
            reason = f"{QUARANTINED}{damage}"
            await self._eval(lua.FAIL, raw_id, token, repr(now), -1, reason)
            return [], [*dead, (rid, int(attempt), reason)], None
        return [delivery], dead, None

    async def ack(self, delivery: Delivery) -> bool:
        """Remove a completed request; remember its id for the retry window."""
        return bool(
            await self._eval(lua.ACK, delivery.id, delivery.lease_token, self._retry_window_ms)
        )

    async def fail(self, delivery: Delivery, now: float, delay: float | None, error: str) -> str:
        """Schedule the retry or dead-letter; ``"retry"``, ``"dead"`` or ``"lost"``."""
        outcome = await self._eval(
            lua.FAIL,
            delivery.id,
            delivery.lease_token,
            repr(now),
            -1 if delay is None else repr(delay),
            error,
        )
        return {0: "lost", 1: "retry", 2: "dead"}[int(outcome)]

    async def release(self, delivery: Delivery, now: float) -> bool:
        """Give a lease back unused, ahead of new work at its priority."""
        return bool(
            await self._eval(lua.RELEASE, delivery.id, delivery.lease_token, self._consumer)
        )

    async def extend(self, delivery: Delivery, until: float) -> bool:
        """Restart the lease (Redis measures it from now, for one lease_timeout)."""
        return bool(await self._eval(lua.EXTEND, delivery.id, delivery.lease_token, self._consumer))

    # -- dead letters -----------------------------------------------------------------
    def dead_letters(self, limit: int) -> list[DeadLetter]:
        """Return up to ``limit`` dead letters, oldest failure first."""
        try:
            ids = [text(x) for x in self._sync.zrange(f"{self._keys}:deadidx", 0, limit - 1)]
            pipe = self._sync.pipeline(transaction=False)
            for rid in ids:
                pipe.hgetall(f"{self._keys}:dead:{rid}")
            replies = pipe.execute()
        except Exception as error:
            self._fault(error)
        return [dead_letter(rid, raw) for rid, raw in zip(ids, replies, strict=True) if raw]

    async def replay(self, request_id: str | None, now: float, max_size: int) -> int:
        """Requeue one dead letter (or all); ``-1`` if the one asked for did not fit."""
        return int(await self._eval(lua.REPLAY, max_size, request_id or ""))

    async def purge_dead_letters(self) -> int:
        """Delete every dead letter; return how many were deleted."""
        return int(await self._eval(lua.DEAD))

    # -- observing --------------------------------------------------------------------
    def counts(self, now: float) -> dict[str, int]:
        """Return ``pending``, ``delayed``, ``leased``, ``done`` and ``dead``."""
        keys = self._keys
        try:
            prios = [text(x) for x in self._sync.zrange(f"{keys}:prios", 0, -1)]
            pipe = self._sync.pipeline(transaction=False)
            for prio in prios:
                pipe.xlen(f"{keys}:s:{prio}")
                pipe.xpending(f"{keys}:s:{prio}", "workers")
            pipe.zcard(f"{keys}:delayed")
            pipe.zcard(f"{keys}:deadidx")
            pipe.get(f"{keys}:done")
            replies = pipe.execute()
        except Exception as error:
            self._fault(error)
        streamed = sum(replies[i] for i in range(0, 2 * len(prios), 2))
        leased = sum(replies[i]["pending"] for i in range(1, 2 * len(prios), 2))
        delayed, dead, done = replies[-3], replies[-2], int(replies[-1] or 0)
        return {
            "pending": streamed - leased,
            "delayed": delayed,
            "leased": leased,
            "done": done,
            "dead": dead,
        }

    def extra_stats(self) -> dict[str, Any]:
        """Nothing beyond the shared figures."""
        return {}

    # -- lifetime ---------------------------------------------------------------------
    def close(self) -> None:
        """Close the blocking client (use :meth:`aclose` inside an event loop)."""
        self._sync.close()
        self._sync.connection_pool.disconnect()

    async def aclose(self) -> None:
        """Close both clients."""
        if self._async is not None and self._async_loop is asyncio.get_running_loop():
            await self._async.aclose(close_connection_pool=True)
        self._async = None
        self.close()

    def abandon(self) -> bool:
        """Nothing to do: redis-py's clients release their sockets when collected."""
        return False

    def __repr__(self) -> str:
        return f"RedisQueueStore({self.redis_url!r}, name={self.name!r})"


@final
class RedisRequestQueue(RequestQueue):
    """A :class:`~rebellion.durable.queue.RequestQueue` over a :class:`RedisQueueStore`.

    Args:
        redis_url: the server, e.g. ``"redis://127.0.0.1:6379/0"``.
        max_size: most requests waiting, delayed or leased (``QueueFullError`` beyond).
        clock: time source for delays and backoff (a ``ManualClock`` in tests).
        name: the queue's name; with ``prefix`` it names the keys.
        prefix: key prefix; every key is ``<prefix>:<name>:...``.
        lease_timeout: seconds a worker holds a request before it is redelivered.
        retry_backoff: delays between attempts (default: 1 s doubling up to 5 min).
        poll_interval: longest idle wait before looking for new requests again; also
            the ``retry_after`` of a ``BackendUnavailableError``.
        idempotency_ttl: seconds an idempotency key is remembered (``inf``: forever).
        max_connections: connections per client; more concurrent callers wait for one.
        timeout: seconds a command (or a wait for a free connection) may take before
            :class:`~rebellion.errors.BackendUnavailableError`; ``None`` waits forever.
        connect_timeout: seconds to connect (default: ``timeout``).
        retry_window: seconds a completed request's id is remembered, so that a retried
            enqueue of it is not stored again (``0``: only while it is queued or dead).
        listeners: event listeners.

    Raises:
        ConfigError: a parameter is invalid (the message names it).
        ImportError: the ``redis`` package is not installed.
    """

    store: RedisQueueStore

    def __init__(
        self,
        redis_url: str = "redis://127.0.0.1:6379/0",
        max_size: int = 1000,
        *,
        clock: Clock | None = None,
        name: str = "requests",
        prefix: str = "rebellion:queue",
        lease_timeout: float = 30.0,
        retry_backoff: Backoff | None = None,
        poll_interval: float = 1.0,
        idempotency_ttl: float = 86_400.0,
        max_connections: int = 32,
        timeout: float | None = 2.0,
        connect_timeout: float | None = None,
        retry_window: float = 300.0,
        listeners: Iterable[Listener] = (),
    ) -> None:
        store = RedisQueueStore(
            redis_url,
            name=name,
            prefix=prefix,
            max_connections=max_connections,
            timeout=timeout,
            connect_timeout=connect_timeout,
            retry_window=retry_window,
            retry_after=check_number(
                "poll_interval", poll_interval, minimum=0.0, exclusive_minimum=True
            ),
        )
        self.redis_url, self.prefix = store.redis_url, store.prefix
        super().__init__(
            store,
            max_size,
            clock=clock,
            lease_timeout=lease_timeout,
            retry_backoff=retry_backoff,
            poll_interval=poll_interval,
            idempotency_ttl=idempotency_ttl,
            listeners=listeners,
        )

    def __repr__(self) -> str:
        return f"RedisRequestQueue({self.redis_url!r}, name={self.name!r})"
