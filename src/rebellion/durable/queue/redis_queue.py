"""RedisRequestQueue: the same durable queue on Redis Streams, shared across hosts.

Same interface as :class:`~rebellion.durable.PersistentRequestQueue` (enqueue, handlers,
``process_queue``, ``stop``, leases, retries, dead letters, idempotency, ``max_size``);
every step is one atomic Lua script (see :mod:`._redis_lua`). ``redis`` is imported
only here, when a queue is built.

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
An enqueue that raised may still have been stored (the reply was lost, not the write),
so the queue keeps that attempt's request id, weakly, on the request object: enqueueing
the same :class:`RetryableRequest` again sends the same id, and Redis stores it once
(also when it has completed meanwhile, for ``retry_window`` seconds).

>>> RedisRequestQueue.kind
'durable_queue'
"""

from __future__ import annotations

import asyncio
import math
import uuid
import weakref
from collections.abc import Iterable
from typing import Any, NoReturn, final
from urllib.parse import urlsplit

from ..._clock import Clock
from ..._events import EventStream, Listener
from ..._registry import registry
from ..._validate import check_clock, check_int, check_name, check_number
from ...backends.redis import async_client, redis_module, sync_client
from ...errors import (
    BackendUnavailableError,
    ConfigError,
    QueueFullError,
    StorageError,
    StorageFullError,
)
from ...policies._backoff import Backoff
from ...policies._counter import AtomicCounter
from . import _redis_lua as lua
from ._model import QUARANTINED, DeadLetter, Delivery
from ._request import RetryableRequest, decode_payload
from ._worker import WorkerLoop

__all__ = ["RedisRequestQueue"]

_PRIORITY_LIMIT = 2**53  # priorities are Redis sorted-set scores: exact doubles only


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _letter(rid: str, raw: dict[Any, Any]) -> DeadLetter:
    """Build a dead letter from its hash; a damaged one is listed with ``damage`` set."""
    h = {_text(k): _text(v) for k, v in raw.items()}
    damage = None
    try:
        args, kwargs = decode_payload(h.get("payload", ""))
    except ValueError as reason:
        args, kwargs, damage = [], {}, str(reason)

    def number(field: str, kind: type[float] | type[int]) -> Any:
        try:
            return kind(h.get(field, "0"))
        except ValueError:
            return kind(0)

    return DeadLetter(
        rid,
        h.get("op", ""),
        args,
        kwargs,
        number("prio", int),
        number("deliveries", int),
        number("retries", int),
        h.get("error", ""),
        number("at", float),
        number("failed", float),
        h.get("key") or None,
        damage,
    )


@final
class RedisRequestQueue(WorkerLoop):
    """A durable, prioritised, at-least-once request queue on Redis Streams.

    Args:
        redis_url: the server, e.g. ``"redis://127.0.0.1:6379/0"``.
        max_size: most requests waiting, delayed or leased (``QueueFullError`` beyond).
        clock: time source for delays and backoff (a ``ManualClock`` in tests).
        name: the queue's name; with ``prefix`` it names the keys.
        prefix: key prefix; every key is ``<prefix>:<name>:...``.
        lease_timeout: seconds a worker holds a request before it is redelivered.
        retry_backoff: delays between attempts (default: 1 s doubling up to 5 min).
        poll_interval: longest idle wait before looking for new requests again.
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
        redis_module()  # a clear ImportError before any other check
        if not isinstance(redis_url, str) or "://" not in redis_url:
            raise ConfigError("redis_url", "a URL such as 'redis://127.0.0.1:6379/0'", redis_url)
        self.redis_url = redis_url
        self.max_size = check_int("max_size", max_size, minimum=1, maximum=2**62)
        self._clock = check_clock(clock)
        self.name = check_name("name", name)
        self.prefix = check_name("prefix", prefix)
        self._keys = f"{prefix}:{name}"
        self._lease_timeout = check_number(
            "lease_timeout", lease_timeout, minimum=0.001, maximum=86_400.0 * 365
        )
        if retry_backoff is None:
            from .sqlite import DEFAULT_RETRY_BACKOFF

            retry_backoff = DEFAULT_RETRY_BACKOFF
        elif not isinstance(retry_backoff, Backoff):
            raise ConfigError("retry_backoff", "a Backoff or None", retry_backoff)
        self._backoff = retry_backoff
        self._poll_interval = check_number(
            "poll_interval", poll_interval, minimum=0.0, exclusive_minimum=True
        )
        ttl = check_number("idempotency_ttl", idempotency_ttl, minimum=0.0, allow_inf=True)
        self._key_ttl_ms = -1 if math.isinf(ttl) else round(ttl * 1000)
        self._events = EventStream(self.name, listeners)
        self._init_worker()
        self._enqueued = AtomicCounter()
        self._duplicates = AtomicCounter()
        self._rejected = AtomicCounter()
        self._consumer = uuid.uuid4().hex[:16]
        self._tokens = AtomicCounter()
        self._max_connections = check_int("max_connections", max_connections, minimum=1)
        self._timeout, self._connect_timeout = timeout, connect_timeout
        window = check_number("retry_window", retry_window, minimum=0.0, maximum=86_400.0 * 30)
        self._retry_window_ms = round(window * 1000)
        self._unsettled: weakref.WeakKeyDictionary[RetryableRequest, str] = (
            weakref.WeakKeyDictionary()
        )
        self._where = urlsplit(redis_url).netloc.rpartition("@")[2] or redis_url
        self._sync = sync_client(
            redis_url,
            max_connections=self._max_connections,
            timeout=timeout,
            connect_timeout=connect_timeout,
        )
        self._async: Any = None
        self._async_loop: asyncio.AbstractEventLoop | None = None
        self._sync_scripts: dict[str, Any] = {}
        self._async_scripts: dict[str, Any] = {}
        registry.track(self)

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
        mapped = self._storage_error(error)
        if mapped is None:
            raise error
        raise mapped from error

    def _storage_error(self, error: Exception) -> StorageError | None:
        exc = redis_module().exceptions
        text = str(error)
        if isinstance(error, exc.OutOfMemoryError) or text.startswith("OOM"):
            return StorageFullError(
                self.name, f"Redis at {self._where} is out of memory ({text}); nothing written"
            )
        down = (exc.ConnectionError, exc.TimeoutError, exc.ReadOnlyError, OSError)
        busy = isinstance(error, exc.ResponseError) and text.startswith(
            ("BUSY", "LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN")
        )
        if isinstance(error, down) or busy:
            return BackendUnavailableError(
                self.name,
                f"Redis at {self._where} did not answer: {type(error).__name__}: {text or '-'}",
                retry_after=self._poll_interval,
            )
        return None

    # -- producing --------------------------------------------------------------------
    def _prepare(
        self, request: object, priority: object, delay: object, not_before: object
    ) -> list[Any]:
        if not isinstance(request, RetryableRequest):
            raise ConfigError("request", "a RetryableRequest", request)
        check_int("priority", priority, minimum=-_PRIORITY_LIMIT, maximum=_PRIORITY_LIMIT)
        now = self._clock.wall()
        visible = now + check_number("delay", delay, minimum=0.0)
        if not_before is not None:
            visible = max(visible, check_number("not_before", not_before))
        # The id of an earlier attempt whose outcome is unknown: Redis stores it once.
        request_id = self._unsettled.get(request) or uuid.uuid4().hex
        return [
            request_id,
            priority,
            request.operation,
            request.payload,
            request.max_retries,
            request.idempotency_key or "",
            repr(now),
            repr(visible),
            self.max_size,
            self._key_ttl_ms,
        ]

    def _outcome(self, reply: Any) -> str:
        request_id, flag = _text(reply[0]), int(reply[1])
        if flag < 0:
            self._rejected.increment()
            raise QueueFullError(
                self.name, f"queue {self.name!r} holds max_size={self.max_size} requests"
            )
        return self._counted(request_id, flag > 0)

    async def enqueue(
        self,
        request: RetryableRequest,
        priority: int = 0,
        *,
        delay: float = 0.0,
        not_before: float | None = None,
    ) -> str:
        """Store ``request``; return its id once Redis has applied the write.

        Same arguments, result and errors as ``PersistentRequestQueue.enqueue``.
        """
        args = self._prepare(request, priority, delay, not_before)
        try:
            reply = await self._eval(lua.ENQUEUE, *args)
        except StorageError:
            self._unsettled[request] = args[0]
            raise
        return self._settled(request, reply)

    def enqueue_sync(
        self,
        request: RetryableRequest,
        priority: int = 0,
        *,
        delay: float = 0.0,
        not_before: float | None = None,
    ) -> str:
        """Blocking :meth:`enqueue` for code without an event loop."""
        args = self._prepare(request, priority, delay, not_before)
        try:
            reply = self._eval_sync(lua.ENQUEUE, *args)
        except StorageError:
            self._unsettled[request] = args[0]
            raise
        return self._settled(request, reply)

    def _settled(self, request: RetryableRequest, reply: Any) -> str:
        self._unsettled.pop(request, None)
        return self._outcome(reply)

    # -- the durable steps workers use ------------------------------------------------
    async def _claim(
        self, lease: float
    ) -> tuple[list[Delivery], list[tuple[str, int, str]], float | None]:
        token = f"{self._consumer}-{self._tokens.increment()}"
        now = self._clock.wall()
        reply = await self._eval(
            lua.CLAIM, repr(now), self._consumer, token, max(1, round(lease * 1000))
        )
        raw_dead = [_text(x) for x in reply[-1]]
        dead = [
            (raw_dead[i], int(raw_dead[i + 1]), raw_dead[i + 2]) for i in range(0, len(raw_dead), 3)
        ]
        if int(reply[0]) == 0:
            upcoming = _text(reply[1])
            return [], dead, float(upcoming) if upcoming else None
        raw_id, raw_op, payload, prio, attempt, retries = reply[1:7]
        rid = _text(raw_id)
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

    async def _ack(self, delivery: Delivery) -> bool:
        return bool(
            await self._eval(lua.ACK, delivery.id, delivery.lease_token, self._retry_window_ms)
        )

    async def _fail(self, delivery: Delivery, delay: float | None, error: str) -> str:
        outcome = await self._eval(
            lua.FAIL,
            delivery.id,
            delivery.lease_token,
            repr(self._clock.wall()),
            -1 if delay is None else repr(delay),
            error,
        )
        return {0: "lost", 1: "retry", 2: "dead"}[int(outcome)]

    async def _release(self, delivery: Delivery) -> bool:
        return bool(
            await self._eval(lua.RELEASE, delivery.id, delivery.lease_token, self._consumer)
        )

    async def _extend(self, delivery: Delivery, until: float) -> bool:
        return bool(await self._eval(lua.EXTEND, delivery.id, delivery.lease_token, self._consumer))

    # -- dead letters -----------------------------------------------------------------
    def dead_letters(self, limit: int = 1000) -> list[DeadLetter]:
        """Return up to ``limit`` dead-lettered requests, oldest failure first."""
        check_int("limit", limit, minimum=1)
        try:
            ids = [_text(x) for x in self._sync.zrange(f"{self._keys}:deadidx", 0, limit - 1)]
            pipe = self._sync.pipeline(transaction=False)
            for rid in ids:
                pipe.hgetall(f"{self._keys}:dead:{rid}")
            replies = pipe.execute()
        except Exception as error:
            self._fault(error)
        return [_letter(rid, raw) for rid, raw in zip(ids, replies, strict=True) if raw]

    async def replay_dead_letter(self, request_id: str) -> bool:
        """Put a dead-lettered request back with fresh attempts; ``False`` if unknown.

        Raises:
            QueueFullError: the queue is full.
        """
        moved = int(await self._eval(lua.REPLAY, self.max_size, request_id))
        if moved < 0:
            raise QueueFullError(
                self.name, f"queue {self.name!r} holds max_size={self.max_size} requests"
            )
        return moved > 0

    async def replay_all(self) -> int:
        """Put every dead-lettered request back; return how many (stops when full)."""
        return int(await self._eval(lua.REPLAY, self.max_size, ""))

    async def purge_dead_letters(self) -> int:
        """Delete every dead letter; return how many were deleted."""
        return int(await self._eval(lua.DEAD))

    # -- observing --------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Return a snapshot: queue contents, this process's counts."""
        keys = self._keys
        try:
            prios = [_text(x) for x in self._sync.zrange(f"{keys}:prios", 0, -1)]
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
            "name": self.name,
            "kind": self.kind,
            "backend": "redis",
            "max_size": self.max_size,
            "pending": streamed - leased,
            "delayed": delayed,
            "leased": leased,
            "done": done,
            "dead": dead,
            "enqueued": self._enqueued.value,
            "duplicates": self._duplicates.value,
            "rejected_full": self._rejected.value,
            **self._worker_stats(),
        }

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

    async def __aenter__(self) -> RedisRequestQueue:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        await self.aclose()

    def __repr__(self) -> str:
        return f"RedisRequestQueue({self.redis_url!r}, name={self.name!r})"
