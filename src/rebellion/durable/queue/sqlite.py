"""PersistentRequestQueue: a durable request queue on SQLite (WAL, ``synchronous=FULL``).

``await queue.enqueue(request)`` returns only once the request is committed and
fsynced; concurrent enqueues share one commit (group commit), so throughput grows with
concurrency while every caller keeps that guarantee. Workers lease requests
(at-least-once: a crashed worker's request comes back when its lease expires), retry
failures with backoff, and move requests that exhaust their retries to a dead-letter
table. Higher ``priority`` is served first; FIFO within one priority.

>>> import asyncio, json, os, tempfile
>>> async def main():
...     queue = PersistentRequestQueue(os.path.join(tempfile.mkdtemp(), "q.db"))
...     request = RetryableRequest(operation_func=json.dumps, args=[[1, 2]])
...     request_id = await queue.enqueue(request, priority=5)
...     ran = await queue.process_available()
...     stats = queue.stats()
...     queue.close()
...     return ran, stats["done"], stats["pending"]
>>> asyncio.run(main())
(1, 1, 0)
"""

from __future__ import annotations

import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, final

from ..._clock import Clock
from ..._events import EventStream, Listener
from ..._registry import registry
from ..._validate import check_clock, check_int, check_name, check_number
from ...errors import ConfigError, QueueFullError
from ...policies._backoff import Backoff
from ...policies._counter import AtomicCounter
from . import _sqlite_store as sql
from ._model import DeadLetter, Delivery
from ._request import RetryableRequest, decode_payload
from ._worker import WorkerLoop
from ._writer import GroupCommitWriter

__all__ = ["DEFAULT_RETRY_BACKOFF", "PersistentRequestQueue"]

DEFAULT_RETRY_BACKOFF = Backoff(initial_delay=1.0, max_delay=300.0, backoff_factor=2.0)
"""Retry delays when none is given: 1 s doubling up to 5 min, full jitter."""

_PRIORITY_LIMIT = 2**62


def _connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: every commit fsyncs the WAL, so a returned enqueue survives power loss.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


@final
class PersistentRequestQueue(WorkerLoop):
    """A durable, prioritised, at-least-once request queue in one SQLite file.

    Args:
        storage_path: the database file (created if missing; its directory must exist
            and be writable). Several queues or processes may share one file.
        max_size: most requests waiting, delayed or leased; beyond it ``enqueue``
            raises :class:`~rebellion.errors.QueueFullError` (nothing is dropped silently).
        clock: time source for delays, leases and backoff (a ``ManualClock`` in tests).
        name: the queue's name in stats and events (default: the file's stem).
        lease_timeout: seconds a worker holds a request before it is redelivered.
        retry_backoff: delays between attempts (default :data:`DEFAULT_RETRY_BACKOFF`).
        poll_interval: longest idle wait before looking for requests enqueued by other
            processes (enqueues in this process wake workers at once).
        idempotency_ttl: seconds an idempotency key is remembered.
        listeners: event listeners (``RequestCompleted``, ``RequestRetryScheduled``,
            ``RequestDeadLettered``).

    Raises:
        ConfigError: a parameter is invalid, or the database cannot be opened for
            writing; the message names the parameter.
    """

    def __init__(
        self,
        storage_path: str | os.PathLike[str],
        max_size: int = 1000,
        *,
        clock: Clock | None = None,
        name: str | None = None,
        lease_timeout: float = 30.0,
        retry_backoff: Backoff | None = None,
        poll_interval: float = 1.0,
        idempotency_ttl: float = 86_400.0,
        listeners: Iterable[Listener] = (),
    ) -> None:
        if not isinstance(storage_path, str | os.PathLike) or not str(storage_path):
            raise ConfigError("storage_path", "a file path (str or os.PathLike)", storage_path)
        path = str(storage_path)
        if path == ":memory:" or path.startswith("file:"):
            raise ConfigError("storage_path", "a file path (a durable queue needs a file)", path)
        self.storage_path = path
        self.max_size = check_int("max_size", max_size, minimum=1, maximum=2**62)
        self._clock = check_clock(clock)
        self.name = check_name("name", Path(path).stem or "queue" if name is None else name)
        self._lease_timeout = check_number(
            "lease_timeout", lease_timeout, minimum=0.0, exclusive_minimum=True
        )
        if retry_backoff is None:
            retry_backoff = DEFAULT_RETRY_BACKOFF
        elif not isinstance(retry_backoff, Backoff):
            raise ConfigError("retry_backoff", "a Backoff or None", retry_backoff)
        self._backoff = retry_backoff
        self._poll_interval = check_number(
            "poll_interval", poll_interval, minimum=0.0, exclusive_minimum=True
        )
        self._key_ttl = check_number(
            "idempotency_ttl", idempotency_ttl, minimum=0.0, allow_inf=True
        )
        self._events = EventStream(self.name, listeners)
        self._init_worker()
        self._enqueued = AtomicCounter()
        self._duplicates = AtomicCounter()
        self._rejected = AtomicCounter()
        self._token_prefix = uuid.uuid4().hex[:12] + "-"
        self._tokens = AtomicCounter()
        self._writer, self._reader = self._open(path)
        self._read_lock = threading.Lock()
        registry.track(self)

    @staticmethod
    def _open(path: str) -> tuple[GroupCommitWriter, sqlite3.Connection]:
        parent = Path(path).parent
        if not parent.is_dir():
            raise ConfigError("storage_path", f"a path in an existing directory ({parent})", path)
        if Path(path).is_dir():
            raise ConfigError("storage_path", "a file path, not a directory", path)
        try:
            conn = _connect(path)
            sql.create_schema(conn)
            # Probe for write access now, not at the first enqueue.
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE meta SET value = value WHERE name = 'done'")
            conn.execute("COMMIT")
            reader = _connect(path)
        except sqlite3.Error as error:
            raise ConfigError(
                "storage_path", f"a writable SQLite database (sqlite3: {error})", path
            ) from error
        return GroupCommitWriter(conn, name=Path(path).stem), reader

    # -- producing --------------------------------------------------------------------
    def _prepare(
        self, request: object, priority: object, delay: object, not_before: object
    ) -> tuple[tuple[Any, ...], str | None, float]:
        if not isinstance(request, RetryableRequest):
            raise ConfigError("request", "a RetryableRequest", request)
        if type(priority) is not int or not -_PRIORITY_LIMIT <= priority <= _PRIORITY_LIMIT:
            check_int("priority", priority, minimum=-_PRIORITY_LIMIT, maximum=_PRIORITY_LIMIT)
        now = self._clock.wall()
        if (type(delay) is float or type(delay) is int) and delay == 0:
            visible = now
        else:
            visible = now + check_number("delay", delay, minimum=0.0)
        if not_before is not None:
            visible = max(visible, check_number("not_before", not_before))
        row = (
            os.urandom(16).hex(),  # a random 128-bit id, without building a UUID object
            priority,
            request.operation,
            request.payload,
            request.max_retries,
            request.idempotency_key,
            now,
            visible,
        )
        return row, request.idempotency_key, now - self._key_ttl

    def _enqueue_op(self, row: tuple[Any, ...], key: str | None, expired_before: float) -> Any:
        max_size, name = self.max_size, self.name
        return lambda conn, scratch: sql.enqueue(
            conn, scratch, row, key, max_size, name, expired_before
        )

    async def enqueue(
        self,
        request: RetryableRequest,
        priority: int = 0,
        *,
        delay: float = 0.0,
        not_before: float | None = None,
    ) -> str:
        """Store ``request`` durably; return once it is committed and fsynced.

        Args:
            request: what to run.
            priority: higher runs first; FIFO among equal priorities.
            delay: seconds before the request may run.
            not_before: wall-clock time (``clock.wall()``) before which it may not run.

        Returns:
            The request id; for a known ``idempotency_key``, the first request's id.

        Raises:
            QueueFullError: ``max_size`` requests are already queued.
            ConfigError: a bad argument (the message names it).
        """
        row, key, expired_before = self._prepare(request, priority, delay, not_before)
        try:
            outcome = await self._writer.run(self._enqueue_op(row, key, expired_before))
        except QueueFullError:
            self._rejected.increment()
            raise
        return self._counted(*outcome)

    def enqueue_sync(
        self,
        request: RetryableRequest,
        priority: int = 0,
        *,
        delay: float = 0.0,
        not_before: float | None = None,
    ) -> str:
        """Blocking :meth:`enqueue` for threads without an event loop (same guarantees)."""
        row, key, expired_before = self._prepare(request, priority, delay, not_before)
        try:
            outcome = self._writer.call(self._enqueue_op(row, key, expired_before))
        except QueueFullError:
            self._rejected.increment()
            raise
        return self._counted(*outcome)

    # -- the durable steps workers use ------------------------------------------------
    async def _claim(
        self, lease: float
    ) -> tuple[list[Delivery], list[tuple[str, int, str]], float | None]:
        token = f"{self._token_prefix}{self._tokens.increment()}"
        clock = self._clock
        return await self._writer.run(  # type: ignore[no-any-return]
            lambda conn, scratch: sql.claim(conn, scratch, clock.wall(), lease, token, 1)
        )

    async def _ack(self, delivery: Delivery) -> bool:
        rid, token = delivery.id, delivery.lease_token
        return await self._writer.run(  # type: ignore[no-any-return]
            lambda conn, scratch: sql.ack(conn, scratch, rid, token)
        )

    async def _fail(self, delivery: Delivery, delay: float | None, error: str) -> str:
        rid, token, clock = delivery.id, delivery.lease_token, self._clock
        return await self._writer.run(  # type: ignore[no-any-return]
            lambda conn, scratch: sql.fail(conn, scratch, rid, token, clock.wall(), delay, error)
        )

    async def _release(self, delivery: Delivery) -> bool:
        rid, token, clock = delivery.id, delivery.lease_token, self._clock
        return await self._writer.run(  # type: ignore[no-any-return]
            lambda conn, scratch: sql.release(conn, rid, token, clock.wall())
        )

    async def _extend(self, delivery: Delivery, until: float) -> bool:
        rid, token = delivery.id, delivery.lease_token
        return await self._writer.run(  # type: ignore[no-any-return]
            lambda conn, scratch: sql.extend(conn, rid, token, until)
        )

    # -- dead letters -----------------------------------------------------------------
    def dead_letters(self, limit: int = 1000) -> list[DeadLetter]:
        """Return up to ``limit`` dead-lettered requests, oldest failure first."""
        check_int("limit", limit, minimum=1)
        rows = self._read(
            "SELECT id, operation, payload, priority, deliveries, max_retries, last_error,"
            " enqueued_at, failed_at, idempotency_key FROM dead_letters"
            " ORDER BY failed_at, id LIMIT ?",
            (limit,),
        )
        letters = []
        for rid, op, payload, prio, count, retries, error, at, failed, key in rows:
            args, kwargs = decode_payload(payload)
            letters.append(
                DeadLetter(rid, op, args, kwargs, prio, count, retries, error, at, failed, key)
            )
        return letters

    async def replay_dead_letter(self, request_id: str) -> bool:
        """Put a dead-lettered request back in the queue with fresh attempts.

        Returns:
            ``False`` if no dead letter has that id.

        Raises:
            QueueFullError: the queue is full.
        """
        return bool(await self._replay(request_id))

    async def replay_all(self) -> int:
        """Put every dead-lettered request back; return how many (stops when full)."""
        return await self._replay(None)

    async def _replay(self, request_id: str | None) -> int:
        max_size, name, clock = self.max_size, self.name, self._clock
        return await self._writer.run(  # type: ignore[no-any-return]
            lambda conn, scratch: sql.replay(
                conn, scratch, request_id, clock.wall(), max_size, name
            )
        )

    async def purge_dead_letters(self) -> int:
        """Delete every dead letter; return how many were deleted."""
        return await self._writer.run(  # type: ignore[no-any-return]
            lambda conn, scratch: conn.execute("DELETE FROM dead_letters").rowcount
        )

    # -- observing --------------------------------------------------------------------
    def _read(self, query: str, params: tuple[Any, ...] = ()) -> list[Any]:
        with self._read_lock:
            return self._reader.execute(query, params).fetchall()

    def stats(self) -> dict[str, Any]:
        """Return a snapshot: queue contents, this process's counts, commit batching."""
        now = self._clock.wall()
        pending, delayed, leased = self._read(
            "SELECT coalesce(sum(visible_at <= ?), 0),"
            " coalesce(sum(visible_at > ? AND lease_token IS NULL), 0),"
            " coalesce(sum(visible_at > ? AND lease_token IS NOT NULL), 0) FROM requests",
            (now, now, now),
        )[0]
        done = self._read("SELECT value FROM meta WHERE name = 'done'")[0][0]
        dead = self._read("SELECT count(*) FROM dead_letters")[0][0]
        writer = self._writer
        commits = writer.commits
        return {
            "name": self.name,
            "kind": self.kind,
            "backend": "sqlite",
            "max_size": self.max_size,
            "pending": pending,
            "delayed": delayed,
            "leased": leased,
            "done": done,
            "dead": dead,
            "enqueued": self._enqueued.value,
            "duplicates": self._duplicates.value,
            "rejected_full": self._rejected.value,
            **self._worker_stats(),
            "commits": commits,
            "committed_ops": writer.committed_ops,
            "mean_commit_batch": writer.committed_ops / commits if commits else 0.0,
            "max_commit_batch": writer.max_batch_seen,
        }

    # -- lifetime ---------------------------------------------------------------------
    def close(self) -> None:
        """Finish queued writes, then close the database (processing must be stopped)."""
        self._writer.close()
        with self._read_lock:
            self._reader.close()
        registry.retire(self)  # closed: off the dashboard's resilience view

    async def __aenter__(self) -> PersistentRequestQueue:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
        self.close()

    def __repr__(self) -> str:
        return f"PersistentRequestQueue({self.storage_path!r}, max_size={self.max_size})"
