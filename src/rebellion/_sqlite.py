"""SQLite stores' failures as rebellion errors, and the integrity check they run at open.

Both SQLite stores (the durable queue and the cache's disk tier) check their file when
they open it and refuse a damaged one with :class:`~rebellion.errors.StoreCorruptError`
instead of writing into it; later SQLite errors that mean "damaged" or "full" become
:class:`~rebellion.errors.StoreCorruptError` and :class:`~rebellion.errors.StorageFullError`.

``PRAGMA quick_check`` reads every page (about 0.6 s for a 150 MB file with a warm page
cache), so ``"auto"`` runs it on files up to :data:`FULL_CHECK_BYTES` and, above that,
a light check (header, schema, and the first and last rows of every table and index)
that costs a few page reads whatever the size; a damage the light check misses is still
caught by SQLite when a statement reaches the page, and refused from then on.

>>> import sqlite3
>>> verify_integrity(sqlite3.connect(":memory:"), "demo", ":memory:", "full")
'full'
"""

from __future__ import annotations

import os
import sqlite3
from typing import Final

from .errors import StorageError, StorageFullError, StoreCorruptError

__all__ = ["FULL_CHECK_BYTES", "INTEGRITY_MODES", "storage_error", "verify_integrity"]

FULL_CHECK_BYTES: Final = 64 * 1024 * 1024
"""Largest file (database plus WAL) that ``"auto"`` checks page by page."""

INTEGRITY_MODES: Final = ("auto", "full", "light")

_CORRUPT: Final = frozenset({11, 26})  # SQLITE_CORRUPT, SQLITE_NOTADB
_FULL: Final = 13  # SQLITE_FULL (SQLite's own code for ENOSPC, and for max_page_count)
_RECOVER: Final = "move it aside (sqlite3 FILE .recover salvages what is readable)"


def storage_error(error: sqlite3.Error, store: str, path: str) -> StorageError | None:
    """Return the rebellion error that ``error`` means, or ``None`` if it is neither.

    Args:
        error: what SQLite raised.
        store: the queue's or tier's name, for the error.
        path: the database file, for the message.
    """
    code = getattr(error, "sqlite_errorcode", None)
    primary = None if code is None else code & 0xFF
    mapped: StorageError
    if primary in _CORRUPT:
        mapped = StoreCorruptError(store, f"{path} is damaged ({error}); {_RECOVER}")
    elif primary == _FULL:
        mapped = StorageFullError(
            store, f"{path}: the disk or the store's size cap is full ({error}); nothing written"
        )
    else:
        return None
    mapped.__cause__ = error
    return mapped


def _size(path: str) -> int:
    total = 0
    for name in (path, path + "-wal"):
        try:
            total += os.path.getsize(name)
        except OSError:
            pass
    return total


def _quote(name: object) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _light(conn: sqlite3.Connection) -> list[str]:
    """Read the schema and each b-tree's first and last rows: a few pages per tree."""
    objects = conn.execute(
        "SELECT type, name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"
        " AND name NOT LIKE 'sqlite_stat%' AND name != 'sqlite_sequence'"
    ).fetchall()
    for kind, name, table in objects:
        if kind == "table":
            conn.execute(f"SELECT * FROM {_quote(name)} LIMIT 1").fetchall()
            try:
                conn.execute(f"SELECT * FROM {_quote(name)} ORDER BY rowid DESC LIMIT 1").fetchall()
            except sqlite3.OperationalError as error:
                if "no such column" not in str(error):  # WITHOUT ROWID: the pk index is it
                    raise
            continue
        columns = [row[2] for row in conn.execute(f"PRAGMA index_info({_quote(name)})")]
        if not columns or columns[0] is None:
            continue  # an expression index: no plain column to order by
        first = _quote(columns[0])
        for order in ("ASC", "DESC"):
            conn.execute(
                f"SELECT {first} FROM {_quote(table)} INDEXED BY {_quote(name)}"
                f" ORDER BY {first} {order} LIMIT 1"
            ).fetchall()
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    return [] if 0 <= free <= pages else [f"freelist of {free} pages in a {pages}-page file"]


def verify_integrity(conn: sqlite3.Connection | None, store: str, path: str, mode: str) -> str:
    """Check the database behind ``conn``; raise if it is damaged.

    Args:
        conn: an open connection to the database, or ``None`` to check on a connection
            of its own (so that the store's connections start with an empty page
            cache, and a page damaged later is read from the file and refused rather
            than served from a copy cached by the check).
        store: the queue's or tier's name, for the error.
        path: the database file (its size picks the check in ``"auto"`` mode).
        mode: ``"full"`` (``PRAGMA quick_check``), ``"light"``, or ``"auto"``.

    Returns:
        Which check ran: ``"full"`` or ``"light"``.

    Raises:
        StoreCorruptError: the check found damage; the message says what.
    """
    full = mode == "full" or (mode == "auto" and _size(path) <= FULL_CHECK_BYTES)
    checker = sqlite3.connect(path, timeout=30.0) if conn is None else conn
    try:
        if full:
            problems = [r[0] for r in checker.execute("PRAGMA quick_check(5)") if r[0] != "ok"]
        else:
            problems = _light(checker)
    except sqlite3.DatabaseError as error:
        mapped = storage_error(error, store, path)
        if mapped is None:
            mapped = StoreCorruptError(store, f"{path} cannot be read ({error}); {_RECOVER}")
            mapped.__cause__ = error
        raise mapped from error
    finally:
        if conn is None:
            checker.close()
    if problems:
        raise StoreCorruptError(
            store, f"{path} failed its integrity check ({'; '.join(problems)}); {_RECOVER}"
        )
    return "full" if full else "light"
