"""Group commit: one writer thread applies every write, many per fsynced transaction.

Callers hand an operation (a function of the connection and a ``state`` dict) to
:meth:`GroupCommitWriter.run` (or :meth:`~GroupCommitWriter.call` from a thread); the
writer takes everything queued, runs it inside one ``BEGIN IMMEDIATE ... COMMIT`` and
only then resolves each caller's future. While one commit waits for ``fsync``, new
operations pile up and share the
next one, so throughput grows with the number of concurrent callers while each caller
still returns only once its write is durable.

An operation that raises an ordinary exception fails alone (it must check before it
writes); a SQLite error rolls the whole batch back and fails every operation in it,
translated by ``translate`` (a full disk, a damaged file). A damaged file is final:
once SQLite reports it, every later operation fails with the same error, so nothing
is ever acknowledged into a store known to be damaged.

``state`` outlives batches so operations can cache facts (a row count) between commits;
it is emptied whenever another connection has committed to the database since our last
commit (``PRAGMA data_version``), and after a rollback, so a cache is never stale.

>>> import sqlite3, tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "w.db")
>>> writer = GroupCommitWriter(sqlite3.connect(path, check_same_thread=False), name="doc")
>>> writer.call(lambda conn, scratch: conn.execute("CREATE TABLE t(x)") and 1)
1
>>> writer.close()
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import queue
import sqlite3
import threading
from collections.abc import Callable
from typing import Any, TypeVar, final

from ...errors import StoreCorruptError, WriterClosedError

__all__ = ["GroupCommitWriter", "Operation", "WriterClosedError"]

T = TypeVar("T")
Operation = Callable[[sqlite3.Connection, dict[str, Any]], Any]
"""A write run by the writer thread inside the batch transaction."""

_STOP = object()


def _settle(items: list[tuple[asyncio.Future[Any], Any, BaseException | None]]) -> None:
    for future, result, error in items:
        if future.done():
            continue  # the caller was cancelled; its write still happened (or failed)
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


@final
class GroupCommitWriter:
    """The single writer of one SQLite database, batching concurrent writes.

    Args:
        connection: an open connection (``check_same_thread=False``); the writer owns
            and closes it.
        name: used for the thread name.
        max_batch: most operations per transaction.
        translate: maps a SQLite error to the error callers get (``None``: keep it).
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        name: str,
        max_batch: int = 1024,
        translate: Callable[[sqlite3.Error], Exception | None] | None = None,
    ) -> None:
        connection.isolation_level = None  # explicit BEGIN/COMMIT only
        self._conn = connection
        self._translate = translate
        self.broken: Exception | None = None
        self._state: dict[str, Any] = {}
        self._data_version = -1
        self._max_batch = max_batch
        self._inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._close_lock = threading.Lock()
        self._lock = threading.Lock()  # held by whoever applies a batch
        self.commits = 0
        self.committed_ops = 0
        self.max_batch_seen = 0
        self._thread = threading.Thread(
            target=self._run, name=f"rebellion-queue-writer-{name}", daemon=True
        )
        self._thread.start()

    async def run(self, op: Operation) -> Any:
        """Apply ``op`` in the next batch; return its result once the batch is durable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._put((op, loop, future))
        return await future

    def call(self, op: Operation) -> Any:
        """Apply ``op`` in the next batch, blocking the calling thread until durable.

        A blocking caller that finds no batch in progress leads one itself (it commits
        its own write and whatever is queued) instead of waking the writer thread and
        waiting to be woken back: two thread hand-offs saved on a lone caller.
        """
        self._check_open()
        if self._lock.acquire(blocking=False):
            try:
                self._check_open()
                # The leader's own item carries no future: its outcome comes back directly.
                result, error = self._apply(self._drain([(op, None, None)]))
            finally:
                self._lock.release()
            if error is not None:
                raise error
            return result
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        self._put((op, None, future))
        return future.result()

    def _drain(self, batch: list[tuple[Operation, Any, Any]]) -> list[tuple[Operation, Any, Any]]:
        inbox = self._inbox
        while len(batch) < self._max_batch and not inbox.empty():
            try:
                item = inbox.get_nowait()
            except queue.Empty:
                break
            if item is _STOP:
                inbox.put(_STOP)  # leave it for the writer thread
                break
            batch.append(item)
        return batch

    def _check_open(self) -> None:
        if self._closed:
            raise WriterClosedError("the queue is closed")
        if self.broken is not None:
            raise self.broken

    def check_usable(self) -> None:
        """Raise the error that made the store unusable (a damaged file), if any."""
        if self.broken is not None:
            raise self.broken

    def _put(self, item: tuple[Operation, Any, Any]) -> None:
        self._check_open()
        self._inbox.put(item)

    def translate(self, error: sqlite3.Error) -> Exception:
        """Return what callers get for ``error``; a damaged store stays refused."""
        mapped = error if self._translate is None else self._translate(error) or error
        if isinstance(mapped, StoreCorruptError):
            self.broken = mapped
        return mapped

    def close(self, *, wait: bool = True) -> None:
        """Finish every queued operation, then stop the thread and close the connection.

        Args:
            wait: block until the thread has finished (``False`` from a finaliser,
                which may run on any thread and must not block it).
        """
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._inbox.put(_STOP)
        if wait and threading.current_thread() is not self._thread:
            self._thread.join()

    def _run(self) -> None:
        inbox = self._inbox
        stopping = False
        while not stopping:
            first = inbox.get()
            if first is _STOP:
                break
            batch = [first]
            with self._lock:
                while len(batch) < self._max_batch:
                    try:
                        item = inbox.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stopping = True
                        break
                    batch.append(item)
                self._apply(batch)
        with self._lock:
            self._conn.close()

    def _apply(self, batch: list[tuple[Operation, Any, Any]]) -> tuple[Any, BaseException | None]:
        """Commit ``batch``; resolve its futures; return the first item's outcome."""
        results: list[tuple[Any, BaseException | None]]
        if self.broken is not None:
            results = [(None, self.broken)] * len(batch)  # damaged: write nothing more
        else:
            results = self._commit(batch)
        by_loop: dict[Any, list[tuple[asyncio.Future[Any], Any, BaseException | None]]] = {}
        for (_, loop, future), (result, failure) in zip(batch, results, strict=True):
            if future is None:
                continue  # a leading caller: it takes results[0] itself
            if loop is None:
                if failure is None:
                    future.set_result(result)
                else:
                    future.set_exception(failure)
            else:
                by_loop.setdefault(loop, []).append((future, result, failure))
        for loop, items in by_loop.items():
            # One wake-up per event loop per batch, not one per caller.
            try:
                loop.call_soon_threadsafe(_settle, items)
            except RuntimeError:
                pass  # that loop is closed: nobody is waiting any more
        return results[0]

    def _commit(
        self, batch: list[tuple[Operation, Any, Any]]
    ) -> list[tuple[Any, BaseException | None]]:
        """Run ``batch`` in one transaction; return each operation's outcome."""
        conn, scratch = self._conn, self._state
        results: list[tuple[Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = conn.execute("PRAGMA data_version").fetchone()[0]
                if version != self._data_version:
                    scratch.clear()  # another connection wrote: cached facts are stale
                    self._data_version = version
                for op, _, _ in batch:
                    try:
                        results.append((op(conn, scratch), None))
                    except sqlite3.Error:
                        raise
                    except Exception as error:
                        results.append((None, error))
                conn.execute("COMMIT")
            except BaseException:
                scratch.clear()
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as batch_error:
            return [(None, self.translate(batch_error))] * len(batch)
        except Exception as batch_error:
            return [(None, batch_error)] * len(batch)
        self.commits += 1
        self.committed_ops += len(batch)
        if len(batch) > self.max_batch_seen:
            self.max_batch_seen = len(batch)
        return results
