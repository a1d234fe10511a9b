"""SQL for the SQLite backend: schema and the writes the group-commit writer applies.

Every function here runs on the writer thread inside a batch transaction (``scratch``
is the writer's cache, see :mod:`._writer`), takes the
current wall-clock time as an argument (decisions use the injected clock, never SQLite's
own), and checks before it writes, so a refusal (a full queue) leaves the batch intact.

Rows: a request lives in ``requests`` until it is acknowledged (deleted, ``done`` is
counted in ``meta``) or dead-lettered (moved to ``dead_letters``). ``visible_at`` holds
the time it may next be delivered: the enqueue time, a delay, a retry's backoff, or the
expiry of the current lease (``lease_token`` set). One index, (priority, seq), serves
claims; it is the only one an insert must update, so an enqueue writes as few pages as
a bare insert (ids are random UUIDs: unique without an index; a lease token starts
with the row's ``seq``, so acks find the row by primary key).

The number of requests in the queue (for ``max_size``) is the ``live`` row of ``meta``,
kept by triggers in the same transaction as every insert and delete, so it stays right
whatever writes the file (other queue objects, other processes, a hand-run ``DELETE``)
and reading it is O(1) however many rows there are.

A row that cannot be decoded (damaged JSON, bytes that are not UTF-8, a wrong type) is
quarantined when a claim reaches it: moved to ``dead_letters`` with the reason, and
reported like any dead letter, so one bad row never blocks the rows behind it.

>>> import sqlite3
>>> conn = sqlite3.connect(":memory:", isolation_level=None)
>>> create_schema(conn)
>>> sorted(r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'"))
['dead_letters', 'idempotency', 'meta', 'requests']
"""

from __future__ import annotations

import sqlite3
from typing import Any

from ...errors import QueueFullError
from ._model import QUARANTINED, Delivery
from ._request import decode_payload

__all__ = [
    "ack",
    "claim",
    "create_schema",
    "dead_letter",
    "decode_row",
    "enqueue",
    "extend",
    "fail",
    "release",
    "replay",
]

SCHEMA = """
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL,
    priority INTEGER NOT NULL,
    operation TEXT NOT NULL,
    payload TEXT NOT NULL,
    max_retries INTEGER NOT NULL,
    idempotency_key TEXT,
    enqueued_at REAL NOT NULL,
    visible_at REAL NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 0,
    lease_token TEXT,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS requests_order ON requests (priority DESC, seq);
CREATE TABLE IF NOT EXISTS dead_letters (
    id TEXT PRIMARY KEY,
    priority INTEGER NOT NULL,
    operation TEXT NOT NULL,
    payload TEXT NOT NULL,
    max_retries INTEGER NOT NULL,
    idempotency_key TEXT,
    enqueued_at REAL NOT NULL,
    failed_at REAL NOT NULL,
    deliveries INTEGER NOT NULL,
    last_error TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    key TEXT PRIMARY KEY,
    request_id TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_age ON idempotency (created_at);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO meta (name, value) VALUES ('done', 0);
CREATE TRIGGER IF NOT EXISTS requests_live_in AFTER INSERT ON requests
BEGIN UPDATE meta SET value = value + 1 WHERE name = 'live'; END;
CREATE TRIGGER IF NOT EXISTS requests_live_out AFTER DELETE ON requests
BEGIN UPDATE meta SET value = value - 1 WHERE name = 'live'; END;
"""


def create_schema(conn: sqlite3.Connection) -> None:
    """Create the tables, indexes and triggers if they do not exist yet (one write).

    A file written before the ``live`` counter existed is counted once, in the same
    transaction that adds the triggers, so no concurrent write slips between the two.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in SCHEMA.split(";\n"):
            if statement.strip():
                conn.execute(statement)
        if conn.execute("SELECT 1 FROM meta WHERE name = 'live'").fetchone() is None:
            conn.execute(
                "INSERT INTO meta (name, value) VALUES ('live', (SELECT count(*) FROM requests))"
            )
        # A write even when everything exists: a read-only file fails here, at open.
        conn.execute("UPDATE meta SET value = value WHERE name = 'done'")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _live(conn: sqlite3.Connection) -> int:
    live: int = conn.execute("SELECT value FROM meta WHERE name = 'live'").fetchone()[0]
    return live


def enqueue(
    conn: sqlite3.Connection,
    scratch: dict[str, Any],
    row: tuple[Any, ...],
    key: str | None,
    max_size: int,
    name: str,
    key_expired_before: float,
) -> tuple[str, bool]:
    """Insert ``row`` (id, priority, operation, payload, max_retries, key, at, visible).

    Returns:
        ``(request id, created)``: an existing id and ``False`` for a known key.

    Raises:
        QueueFullError: ``max_size`` requests are already waiting or leased.
    """
    if key is not None:
        if scratch.get("pruned_before", -1.0) < key_expired_before - 60.0:
            # Forget expired keys now and then (at most once a minute of clock time).
            conn.execute("DELETE FROM idempotency WHERE created_at < ?", (key_expired_before,))
            scratch["pruned_before"] = key_expired_before
        found = conn.execute(
            "SELECT request_id, created_at FROM idempotency WHERE key = ?", (key,)
        ).fetchone()
        if found is not None and found[1] >= key_expired_before:
            return found[0], False
    if _live(conn) >= max_size:
        raise QueueFullError(name, f"queue {name!r} holds max_size={max_size} requests")
    conn.execute(
        "INSERT INTO requests (id, priority, operation, payload, max_retries,"
        " idempotency_key, enqueued_at, visible_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        row,
    )
    if key is not None:
        conn.execute(
            "INSERT OR REPLACE INTO idempotency (key, request_id, created_at) VALUES (?, ?, ?)",
            (key, row[0], row[6]),
        )
    return row[0], True


def claim(
    conn: sqlite3.Connection,
    scratch: dict[str, Any],
    now: float,
    lease: float,
    token: str,
    limit: int,
) -> tuple[list[Delivery], list[tuple[str, int, str]], float | None]:
    """Lease up to ``limit`` due requests, highest priority first, FIFO within one.

    A request whose leases expired more often than its attempts allow (its worker
    keeps dying on it) is dead-lettered instead of delivered again.

    Returns:
        ``(deliveries, dead-lettered (id, deliveries, reason), next due time or None)``.
    """
    rows = conn.execute(
        "SELECT seq, CAST(id AS BLOB), CAST(operation AS BLOB), CAST(payload AS BLOB),"
        " max_retries, deliveries, priority, lease_token"
        " FROM requests WHERE visible_at <= ? ORDER BY priority DESC, seq LIMIT ?",
        (now, limit),
    ).fetchall()
    deliveries: list[Delivery] = []
    dead: list[tuple[str, int, str]] = []
    until = now + lease
    for seq, raw_id, raw_op, payload, max_retries, count, priority, held in rows:
        try:
            rid, operation, args, kwargs = decode_row(raw_id, raw_op, payload)
            if type(max_retries) is not int or type(count) is not int or type(priority) is not int:
                raise ValueError("max_retries, deliveries and priority must be integers")
        except ValueError as error:
            reason = f"{QUARANTINED}{error}"
            dead_letter(conn, scratch, seq, now, reason)
            dead.append((_text(raw_id), count if type(count) is int else 0, reason))
            continue
        if count > max_retries:
            reason = (
                f"lease expired {count} time(s) without an ack (worker died or hung)"
                if held is not None
                else "no attempts left"
            )
            dead_letter(conn, scratch, seq, now, reason)
            dead.append((rid, count, reason))
            continue
        receipt = f"{seq}.{token}"
        conn.execute(
            "UPDATE requests SET visible_at = ?, deliveries = ?, lease_token = ? WHERE seq = ?",
            (until, count + 1, receipt, seq),
        )
        deliveries.append(
            Delivery(rid, operation, args, kwargs, priority, count + 1, max_retries, receipt, until)
        )
    upcoming = None
    if not deliveries:
        upcoming = conn.execute("SELECT min(visible_at) FROM requests").fetchone()[0]
    return deliveries, dead, upcoming


def _text(raw: object) -> str:
    if isinstance(raw, bytes):
        return raw.decode("utf-8", errors="replace")
    return str(raw)


def decode_row(raw_id: object, raw_op: object, payload: object) -> tuple[str, str, Any, Any]:
    """Return ``(id, operation, args, kwargs)`` from stored bytes.

    Raises:
        ValueError: a column is not UTF-8 text, or the payload is not a valid request.
    """
    try:
        rid = raw_id.decode() if isinstance(raw_id, bytes) else None
        operation = raw_op.decode() if isinstance(raw_op, bytes) else None
    except UnicodeDecodeError as error:
        raise ValueError(f"id or operation is not UTF-8 text ({error})") from error
    if not rid or not operation:
        raise ValueError("id or operation is missing")
    if not isinstance(payload, bytes | str):
        raise ValueError(f"payload is {type(payload).__name__}, not text")
    args, kwargs = decode_payload(payload)
    return rid, operation, args, kwargs


def dead_letter(
    conn: sqlite3.Connection, scratch: dict[str, Any], seq: int, now: float, error: str
) -> None:
    """Move request ``seq`` to the dead-letter table."""
    conn.execute(
        "INSERT OR REPLACE INTO dead_letters (id, priority, operation, payload, max_retries,"
        " idempotency_key, enqueued_at, failed_at, deliveries, last_error)"
        " SELECT id, priority, operation, payload, max_retries, idempotency_key, enqueued_at,"
        " ?, deliveries, ? FROM requests WHERE seq = ?",
        (now, error, seq),
    )
    conn.execute("DELETE FROM requests WHERE seq = ?", (seq,))


def _seq(token: str) -> int:
    return int(token.partition(".")[0])


def ack(conn: sqlite3.Connection, scratch: dict[str, Any], rid: str, token: str) -> bool:
    """Delete a completed request; ``False`` if the lease was lost meanwhile."""
    done = conn.execute(
        "DELETE FROM requests WHERE seq = ? AND lease_token = ?", (_seq(token), token)
    ).rowcount
    if done:
        conn.execute("UPDATE meta SET value = value + 1 WHERE name = 'done'")
    return bool(done)


def fail(
    conn: sqlite3.Connection,
    scratch: dict[str, Any],
    rid: str,
    token: str,
    now: float,
    delay: float | None,
    error: str,
) -> str:
    """Record a failed attempt: schedule the retry at ``now + delay``, or dead-letter.

    ``delay`` is ``None`` when the attempts are used up.

    Returns:
        ``"retry"``, ``"dead"``, or ``"lost"`` (the lease had expired and moved on).
    """
    found = conn.execute(
        "SELECT seq FROM requests WHERE seq = ? AND lease_token = ?", (_seq(token), token)
    ).fetchone()
    if found is None:
        return "lost"
    if delay is None:
        conn.execute("UPDATE requests SET last_error = ? WHERE seq = ?", (error, found[0]))
        dead_letter(conn, scratch, found[0], now, error)
        return "dead"
    conn.execute(
        "UPDATE requests SET visible_at = ?, lease_token = NULL, last_error = ? WHERE seq = ?",
        (now + delay, error, found[0]),
    )
    return "retry"


def release(conn: sqlite3.Connection, rid: str, token: str, now: float) -> bool:
    """Give a lease back unused: visible at once, and the delivery does not count."""
    return bool(
        conn.execute(
            "UPDATE requests SET visible_at = ?, lease_token = NULL, deliveries = deliveries - 1"
            " WHERE seq = ? AND lease_token = ?",
            (now, _seq(token), token),
        ).rowcount
    )


def extend(conn: sqlite3.Connection, rid: str, token: str, until: float) -> bool:
    """Move a held lease's expiry to ``until``; ``False`` if it was lost."""
    return bool(
        conn.execute(
            "UPDATE requests SET visible_at = ? WHERE seq = ? AND lease_token = ?",
            (until, _seq(token), token),
        ).rowcount
    )


def replay(
    conn: sqlite3.Connection,
    scratch: dict[str, Any],
    request_id: str | None,
    now: float,
    max_size: int,
    name: str,
) -> int:
    """Move one dead letter (or all, oldest first) back into the queue, fresh attempts.

    Raises:
        QueueFullError: not even one fits (a partial ``replay all`` returns its count).
    """
    if request_id is None:
        ids = [r[0] for r in conn.execute("SELECT id FROM dead_letters ORDER BY failed_at, id")]
    else:
        ids = [request_id]
    moved = 0
    for rid in ids:
        if _live(conn) >= max_size:
            if moved or request_id is None:
                break
            raise QueueFullError(name, f"queue {name!r} holds max_size={max_size} requests")
        inserted = conn.execute(
            "INSERT INTO requests (id, priority, operation, payload, max_retries,"
            " idempotency_key, enqueued_at, visible_at, deliveries, last_error)"
            " SELECT id, priority, operation, payload, max_retries, idempotency_key,"
            " enqueued_at, ?, 0, last_error FROM dead_letters WHERE id = ?",
            (now, rid),
        ).rowcount
        if inserted:
            conn.execute("DELETE FROM dead_letters WHERE id = ?", (rid,))
            moved += 1
    return moved
