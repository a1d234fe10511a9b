"""The disk tier: one SQLite file (WAL) holding every namespace.

Why SQLite rather than a file per key: a write is atomic (no torn files after a crash),
WAL lets readers run while a writer commits, a namespace is invalidated with one
``DELETE`` instead of a directory walk, expiry is an indexed range delete, and a large
cache does not cost an inode per key. Reads and writes take a few microseconds on a
local disk, less than handing the work to a thread would cost, so they run inline
(``synchronous=NORMAL``: a power cut may lose the last commits, which a cache tolerates).

Expiry uses wall-clock time (``clock.wall()``) because the file outlives the process.

A damaged file is refused at open with :class:`~rebellion.errors.StoreCorruptError` (the
same integrity check as the durable queue's); damage found later makes every further
call raise it, and a full disk raises :class:`~rebellion.errors.StorageFullError`. The
cache counts these as disk errors and serves from its other tiers.

>>> import tempfile
>>> from rebellion.testing import ManualClock
>>> tier = DiskTier(tempfile.mkdtemp(), ManualClock())
>>> tier.set("ns", "k", b"Jpayload", ttl=10, stale=0)
>>> tier.get("ns", "k")
(b'Jpayload', 10.0)
>>> tier.close()
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, final

from .._clock import Clock
from .._sqlite import storage_error, verify_integrity
from ..errors import StorageError, StoreCorruptError

__all__ = ["DiskTier"]

T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    namespace TEXT NOT NULL,
    key TEXT NOT NULL,
    value BLOB NOT NULL,
    expires_at REAL NOT NULL,
    stale_until REAL NOT NULL,
    PRIMARY KEY (namespace, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS entries_stale ON entries (stale_until);
"""
_PURGE_EVERY = 256


@final
class DiskTier:
    """SQLite-backed key/value tier with TTL and a stale grace period.

    Raises:
        StoreCorruptError: the file is damaged or is not a SQLite database.
        StorageFullError: the disk is too full to create the file.
    """

    def __init__(
        self,
        directory: str | Path,
        clock: Clock,
        *,
        filename: str = "cache.sqlite3",
        integrity_check: str = "auto",
    ):
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        self.path = path / filename
        self.clock = clock
        self.lock = threading.Lock()
        self._broken: StorageError | None = None
        self._writes = 0
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=2000")
            verify_integrity(None, "disk", str(self.path), integrity_check)
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, StorageError) as error:
            self._db.close()
            if isinstance(error, sqlite3.Error):
                mapped = storage_error(error, "disk", str(self.path))
                if mapped is not None:
                    raise mapped from error
            raise

    def _guarded(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` under the lock, with SQLite's damage and full-disk errors mapped."""
        with self.lock:
            if self._broken is not None:
                raise self._broken
            try:
                return work(self._db)
            except sqlite3.Error as error:
                mapped = storage_error(error, "disk", str(self.path))
                if mapped is None:
                    raise
                if isinstance(mapped, StoreCorruptError):
                    self._broken = mapped  # never write into a file known to be damaged
                raise mapped from error

    def get(self, namespace: str, key: str) -> tuple[bytes, float] | None:
        """Return ``(payload, remaining ttl)`` of a fresh entry, or ``None``."""
        now = self.clock.wall()
        row = self._guarded(
            lambda db: db.execute(
                "SELECT value, expires_at FROM entries WHERE namespace=? AND key=?",
                (namespace, key),
            ).fetchone()
        )
        if row is None or row[1] <= now:
            return None
        return bytes(row[0]), row[1] - now

    def get_stale(self, namespace: str, key: str) -> tuple[bytes, float] | None:
        """Return ``(payload, age past expiry)`` of an expired entry still within grace."""
        now = self.clock.wall()
        row = self._guarded(
            lambda db: db.execute(
                "SELECT value, expires_at, stale_until FROM entries WHERE namespace=? AND key=?",
                (namespace, key),
            ).fetchone()
        )
        if row is None or row[2] <= now:
            return None
        return bytes(row[0]), max(0.0, now - row[1])

    def set(self, namespace: str, key: str, payload: bytes, *, ttl: float, stale: float) -> None:
        """Insert or replace an entry that expires after ``ttl`` seconds."""
        now = self.clock.wall()

        def write(db: sqlite3.Connection) -> None:
            db.execute(
                "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?)",
                (namespace, key, payload, now + ttl, now + ttl + stale),
            )
            self._writes += 1
            if self._writes % _PURGE_EVERY == 0:
                db.execute("DELETE FROM entries WHERE stale_until <= ?", (now,))

        self._guarded(write)

    def delete(self, namespace: str, key: str) -> bool:
        """Remove an entry; return whether it existed."""
        cursor = self._guarded(
            lambda db: db.execute(
                "DELETE FROM entries WHERE namespace=? AND key=?", (namespace, key)
            )
        )
        return cursor.rowcount > 0

    def clear_namespace(self, namespace: str) -> int:
        """Remove every entry of ``namespace``; return how many were removed."""
        cursor = self._guarded(
            lambda db: db.execute("DELETE FROM entries WHERE namespace=?", (namespace,))
        )
        return cursor.rowcount

    def __len__(self) -> int:
        (count,) = self._guarded(lambda db: db.execute("SELECT COUNT(*) FROM entries").fetchone())
        return int(count)

    def close(self) -> None:
        """Close the database (idempotent)."""
        with self.lock:
            self._db.close()
