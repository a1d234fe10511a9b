"""SQLite storage for the durable queue (WAL, ``synchronous=FULL``), and PersistentRequestQueue.

``await queue.enqueue(request)`` returns only once the request is committed and
fsynced; concurrent enqueues share one commit (group commit), so throughput grows with
concurrency while every caller keeps that guarantee. Workers lease requests
(at-least-once: a crashed worker's request comes back when its lease expires), retry
failures with backoff, and move requests that exhaust their retries to a dead-letter
table. Higher ``priority`` is served first; FIFO within one priority.

:class:`SqliteQueueStore` is the storage; :class:`PersistentRequestQueue` is a
:class:`~rebellion.durable.queue.RequestQueue` over it, built from one set of arguments.

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

import math
import os
import sqlite3
import threading
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, final

from ..._clock import Clock
from ..._events import Listener
from ..._sqlite import INTEGRITY_MODES
from ..._validate import MAX_INT, check_choice, check_int, check_name
from ...errors import QueueFullError
from ...policies._backoff import Backoff
from ...policies._counter import AtomicCounter
from . import _sqlite_store as sql
from ._model import DeadLetter, Delivery
from ._queue import DEFAULT_RETRY_BACKOFF, RequestQueue
from ._request import RetryableRequest  # noqa: F401  (the module example uses it)
from ._sqlite_open import check_path, open_database
from ._sqlite_store import decode_row
from ._store import FULL, NewRequest

__all__ = ["DEFAULT_RETRY_BACKOFF", "PersistentRequestQueue", "SqliteQueueStore"]


def _text(raw: object) -> str:
    return raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)


@final
class SqliteQueueStore:
    """The requests of a queue in one SQLite file; one writer thread, group commit.

    Args:
        storage_path: the database file (created if missing; its directory must exist
            and be writable). Several queues or processes may share one file.
        name: the queue's name in stats, events and errors (default: the file's stem).
        integrity_check: how the file is checked when it is opened: ``"full"``
            (``PRAGMA quick_check``, reads every page), ``"light"`` (header, schema and
            the ends of every table: a few page reads), or ``"auto"`` (full up to 64 MiB).
        max_bytes: cap on the database file's size (``None``: the disk's free space);
            an enqueue beyond it raises :class:`~rebellion.errors.StorageFullError`.

    Raises:
        ConfigError: a parameter is invalid, or the database cannot be opened for
            writing; the message names the parameter.
        StoreCorruptError: the file is damaged (or is not a SQLite database); it is
            refused rather than have requests acknowledged into it.
        StorageFullError: the disk is too full to open the store.
    """

    backend = "sqlite"
    max_priority = MAX_INT

    def __init__(
        self,
        storage_path: str | os.PathLike[str],
        *,
        name: str | None = None,
        integrity_check: str = "auto",
        max_bytes: int | None = None,
    ) -> None:
        path = self.storage_path = check_path(storage_path)
        self.name = check_name("name", Path(path).stem or "queue" if name is None else name)
        check_choice("integrity_check", integrity_check, INTEGRITY_MODES)
        if max_bytes is not None:
            check_int("max_bytes", max_bytes, minimum=65_536, maximum=MAX_INT)
        self._token_prefix = uuid.uuid4().hex[:12] + "-"
        self._tokens = AtomicCounter()
        self._writer, self._reader = open_database(path, self.name, integrity_check, max_bytes)
        self._read_lock = threading.Lock()

    # -- producing --------------------------------------------------------------------
    def _enqueue_op(self, record: NewRequest, max_size: int, key_ttl: float) -> Any:
        row = (
            record.id,
            record.priority,
            record.operation,
            record.payload,
            record.max_retries,
            record.idempotency_key,
            record.enqueued_at,
            record.visible_at,
        )
        key, name = record.idempotency_key, self.name
        expired_before = -math.inf if math.isinf(key_ttl) else record.enqueued_at - key_ttl
        return lambda conn, scratch: sql.enqueue(
            conn, scratch, row, key, max_size, name, expired_before
        )

    async def enqueue(self, record: NewRequest, max_size: int, key_ttl: float) -> tuple[str, int]:
        """Store ``record`` once committed and fsynced; see :class:`.QueueStore`."""
        try:
            request_id, created = await self._writer.run(
                self._enqueue_op(record, max_size, key_ttl)
            )
        except QueueFullError:
            return "", FULL
        return request_id, int(created)

    def enqueue_sync(self, record: NewRequest, max_size: int, key_ttl: float) -> tuple[str, int]:
        """Blocking :meth:`enqueue`."""
        try:
            request_id, created = self._writer.call(self._enqueue_op(record, max_size, key_ttl))
        except QueueFullError:
            return "", FULL
        return request_id, int(created)

    # -- the durable steps workers use ------------------------------------------------
    async def claim(
        self, now: float, lease: float
    ) -> tuple[list[Delivery], list[tuple[str, int, str]], float | None]:
        """Lease one due request (see :func:`._sqlite_store.claim`)."""
        token = f"{self._token_prefix}{self._tokens.increment()}"
        return await self._writer.run(  # type: ignore[no-any-return]
            lambda conn, scratch: sql.claim(conn, scratch, now, lease, token, 1)
        )

    async def ack(self, delivery: Delivery) -> bool:
        """Delete a completed request; ``False`` if the lease was lost."""
        rid, token = delivery.id, delivery.lease_token
        return await self._writer.run(  # type: ignore[no-any-return]
            lambda conn, scratch: sql.ack(conn, scratch, rid, token)
        )

    async def fail(self, delivery: Delivery, now: float, delay: float | None, error: str) -> str:
        """Schedule the retry or dead-letter; ``"retry"``, ``"dead"`` or ``"lost"``."""
        rid, token = delivery.id, delivery.lease_token
        return await self._writer.run(  # type: ignore[no-any-return]
            lambda conn, scratch: sql.fail(conn, scratch, rid, token, now, delay, error)
        )

    async def release(self, delivery: Delivery, now: float) -> bool:
        """Give a lease back unused."""
        rid, token = delivery.id, delivery.lease_token
        return await self._writer.run(  # type: ignore[no-any-return]
            lambda conn, scratch: sql.release(conn, rid, token, now)
        )

    async def extend(self, delivery: Delivery, until: float) -> bool:
        """Move a held lease's expiry to ``until``."""
        rid, token = delivery.id, delivery.lease_token
        return await self._writer.run(  # type: ignore[no-any-return]
            lambda conn, scratch: sql.extend(conn, rid, token, until)
        )

    # -- dead letters -----------------------------------------------------------------
    def dead_letters(self, limit: int) -> list[DeadLetter]:
        """Return up to ``limit`` dead letters; a damaged one is listed with ``damage``."""
        rows = self._read(
            "SELECT CAST(id AS BLOB), CAST(operation AS BLOB), CAST(payload AS BLOB), priority,"
            " deliveries, max_retries, CAST(last_error AS BLOB), enqueued_at, failed_at,"
            " CAST(idempotency_key AS BLOB) FROM dead_letters"
            " ORDER BY failed_at, id LIMIT ?",
            (limit,),
        )
        letters = []
        for rid, op, payload, prio, count, retries, error, at, failed, key in rows:
            damage = None
            try:
                rid, op, args, kwargs = decode_row(rid, op, payload)
            except ValueError as reason:
                # Listed as it is, not raised: one damaged row must not hide the others.
                rid, op, args, kwargs, damage = _text(rid), _text(op), [], {}, str(reason)
            letters.append(
                DeadLetter(
                    rid,
                    op,
                    args,
                    kwargs,
                    prio,
                    count,
                    retries,
                    _text(error),
                    at,
                    failed,
                    None if key is None else _text(key),
                    damage,
                )
            )
        return letters

    async def replay(self, request_id: str | None, now: float, max_size: int) -> int:
        """Requeue one dead letter (or all); ``-1`` if the one asked for did not fit."""
        name = self.name

        def op(conn: sqlite3.Connection, scratch: dict[str, Any]) -> int:
            try:
                return sql.replay(conn, scratch, request_id, now, max_size, name)
            except QueueFullError:
                return -1

        return await self._writer.run(op)  # type: ignore[no-any-return]

    async def purge_dead_letters(self) -> int:
        """Delete every dead letter; return how many were deleted."""
        return await self._writer.run(  # type: ignore[no-any-return]
            lambda conn, scratch: conn.execute("DELETE FROM dead_letters").rowcount
        )

    # -- observing --------------------------------------------------------------------
    def _read(self, query: str, params: tuple[Any, ...] = ()) -> list[Any]:
        self._writer.check_usable()
        try:
            with self._read_lock:
                return self._reader.execute(query, params).fetchall()
        except sqlite3.Error as error:
            mapped = self._writer.translate(error)  # a damaged file also stops writes
            if mapped is error:
                raise
            raise mapped from error

    def counts(self, now: float) -> dict[str, int]:
        """Return ``pending``, ``delayed``, ``leased``, ``done`` and ``dead``."""
        pending, delayed, leased = self._read(
            "SELECT coalesce(sum(visible_at <= ?), 0),"
            " coalesce(sum(visible_at > ? AND lease_token IS NULL), 0),"
            " coalesce(sum(visible_at > ? AND lease_token IS NOT NULL), 0) FROM requests",
            (now, now, now),
        )[0]
        done = self._read("SELECT value FROM meta WHERE name = 'done'")[0][0]
        dead = self._read("SELECT count(*) FROM dead_letters")[0][0]
        return {
            "pending": pending,
            "delayed": delayed,
            "leased": leased,
            "done": done,
            "dead": dead,
        }

    def extra_stats(self) -> dict[str, Any]:
        """Return the group-commit figures."""
        writer = self._writer
        commits = writer.commits
        return {
            "commits": commits,
            "committed_ops": writer.committed_ops,
            "mean_commit_batch": writer.committed_ops / commits if commits else 0.0,
            "max_commit_batch": writer.max_batch_seen,
        }

    # -- lifetime ---------------------------------------------------------------------
    def close(self) -> None:
        """Finish queued writes, then close the database."""
        self._writer.close()
        with self._read_lock:
            self._reader.close()

    async def aclose(self) -> None:
        """Same as :meth:`close` (the wait is for queued writes, at most one batch)."""
        self.close()

    def abandon(self) -> bool:
        """Stop the writer without waiting (it finishes queued writes) and close files."""
        self._writer.close(wait=False)
        self._reader.close()
        return True

    def __repr__(self) -> str:
        return f"SqliteQueueStore({self.storage_path!r})"


@final
class PersistentRequestQueue(RequestQueue):
    """A :class:`~rebellion.durable.queue.RequestQueue` over a :class:`SqliteQueueStore`.

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
        integrity_check: ``"auto"``, ``"full"`` or ``"light"`` (see :class:`SqliteQueueStore`).
        max_bytes: cap on the database file's size (see :class:`SqliteQueueStore`).
        listeners: event listeners (``RequestCompleted``, ``RequestRetryScheduled``,
            ``RequestDeadLettered``, ``RequestQuarantined``).

    Raises:
        ConfigError: a parameter is invalid, or the database cannot be opened for
            writing; the message names the parameter.
        StoreCorruptError: the file is damaged (or is not a SQLite database); the queue
            refuses it rather than acknowledge requests into it.
        StorageFullError: the disk is too full to open the queue.

    A queue holds a writer thread and two connections until :meth:`close`; one that is
    garbage-collected unclosed releases them itself and warns (``ResourceWarning``).
    """

    store: SqliteQueueStore

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
        integrity_check: str = "auto",
        max_bytes: int | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        check_int("max_size", max_size, minimum=1, maximum=MAX_INT)  # before creating a file
        store = SqliteQueueStore(
            storage_path, name=name, integrity_check=integrity_check, max_bytes=max_bytes
        )
        self.storage_path = store.storage_path
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

    def _read(self, query: str, params: tuple[Any, ...] = ()) -> list[Any]:
        """Run a read-only query on the file (for tests and debugging)."""
        return self.store._read(query, params)

    def __repr__(self) -> str:
        return f"PersistentRequestQueue({self.storage_path!r}, max_size={self.max_size})"
