"""Opening a queue's SQLite file: path rules, pragmas, integrity check, schema, writer.

>>> check_path("queue.db")
'queue.db'
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from ..._sqlite import storage_error, verify_integrity
from ...errors import ConfigError, StorageError
from . import _sqlite_store as sql
from ._writer import GroupCommitWriter

__all__ = ["check_path", "connect", "open_database"]


def connect(path: str) -> sqlite3.Connection:
    """Open ``path`` in WAL mode with every commit fsynced."""
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30.0)
    conn.execute("PRAGMA journal_mode=WAL")
    # FULL: every commit fsyncs the WAL, so a returned enqueue survives power loss.
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def check_path(storage_path: object) -> str:
    """Return ``storage_path`` as a string if it can name a queue's file.

    Raises:
        ConfigError: it is empty, in-memory, a URI, a directory, or in a missing directory.
    """
    if not isinstance(storage_path, str | os.PathLike) or not str(storage_path):
        raise ConfigError("storage_path", "a file path (str or os.PathLike)", storage_path)
    path = str(storage_path)
    if path == ":memory:" or path.startswith("file:"):
        raise ConfigError("storage_path", "a file path (a durable queue needs a file)", path)
    parent = Path(path).parent
    if not parent.is_dir():
        raise ConfigError("storage_path", f"a path in an existing directory ({parent})", path)
    if Path(path).is_dir():
        raise ConfigError("storage_path", "a file path, not a directory", path)
    return path


def open_database(
    path: str, name: str, integrity: str, max_bytes: int | None
) -> tuple[GroupCommitWriter, sqlite3.Connection]:
    """Check and open ``path``; return its writer and a reader connection.

    Raises:
        StoreCorruptError: the file is damaged or not a SQLite database.
        StorageFullError: the disk is full.
        ConfigError: the file cannot be opened for writing.
    """
    conn: sqlite3.Connection | None = None
    try:
        conn = connect(path)
        verify_integrity(None, name, path, integrity)  # on a connection of its own
        if max_bytes is not None:
            page = conn.execute("PRAGMA page_size").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {max(1, max_bytes // page)}")
        sql.create_schema(conn)  # also probes for write access, not at the first enqueue
        reader = connect(path)
    except (sqlite3.Error, StorageError) as error:
        if conn is not None:
            conn.close()
        if isinstance(error, StorageError):
            raise
        mapped = storage_error(error, name, path)
        if mapped is not None:
            raise mapped from error
        raise ConfigError(
            "storage_path", f"a writable SQLite database (sqlite3: {error})", path
        ) from error
    writer = GroupCommitWriter(
        conn, name=Path(path).stem, translate=lambda e: storage_error(e, name, path)
    )
    return writer, reader
