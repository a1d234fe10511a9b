"""Stored rows: undecodable ones are quarantined; the size count is O(1) and shared."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from _queue_handlers import echo

from rebellion.durable import (
    PersistentRequestQueue,
    RequestDeadLettered,
    RequestQuarantined,
    RetryableRequest,
)
from rebellion.errors import QueueFullError
from rebellion.testing import ManualClock, RecordingListener

GOOD = '{"args":[1],"kwargs":{}}'
BAD_ROWS = [  # (operation, payload, priority) as SQL expressions
    ("'record'", "'not json at all'", "0"),
    ("'record'", """'{"args": 1, "kwargs": {}}'""", "0"),
    ("'record'", "'[1, 2]'", "0"),
    ("'record'", "CAST(x'7b22ff' AS TEXT)", "0"),  # bytes that are not UTF-8
    ("CAST(x'c3' AS TEXT)", f"'{GOOD}'", "0"),
    ("'record'", f"'{GOOD}'", "'high'"),  # a priority that is not an integer
    ("'record'", "'" + "[" * 100_000 + "'", "0"),  # deeper than the JSON parser's stack
]


def insert_raw(path: Path, operation: str, payload: str, priority: str, rid: str) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO requests (id, priority, operation, payload, max_retries, enqueued_at,"
            f" visible_at) VALUES ('{rid}', {priority}, {operation}, {payload}, 3, 0, 0)"
        )
    conn.close()


async def test_undecodable_rows_are_quarantined_and_the_rest_runs(db_path: Path) -> None:
    listener: RecordingListener[Any] = RecordingListener()
    queue = PersistentRequestQueue(db_path, clock=ManualClock(), listeners=[listener])
    seen: list[Any] = []
    queue.register_handler("record", seen.append)
    try:
        for i, (operation, payload, priority) in enumerate(BAD_ROWS):
            await queue.enqueue(RetryableRequest("record", args=[f"good-{i}"]))
            insert_raw(db_path, operation, payload, priority, f"bad-{i}")
        await queue.enqueue(RetryableRequest("record", args=["last"]))

        assert await queue.process_available() == len(BAD_ROWS) + 1
        assert seen == [f"good-{i}" for i in range(len(BAD_ROWS))] + ["last"]
        stats = queue.stats()
        bad = len(BAD_ROWS)
        assert (stats["quarantined"], stats["dead"], stats["pending"]) == (bad, bad, 0)
        assert stats["dead_lettered"] == bad

        events = listener.of_type(RequestQuarantined)
        assert sorted(e.request_id for e in events) == [f"bad-{i}" for i in range(bad)]
        assert all(e.error.startswith("undecodable row: ") for e in events)
        assert len(listener.of_type(RequestDeadLettered)) == bad  # quarantine is a dead letter

        letters = {letter.id: letter for letter in queue.dead_letters()}
        assert sorted(letters) == [f"bad-{i}" for i in range(bad)]
        assert letters[f"bad-{bad - 1}"].damage == "payload is nested too deeply to decode"
        assert letters["bad-0"].damage is not None
        assert "not JSON" in letters["bad-0"].damage
        assert letters["bad-1"].damage == "payload lacks an 'args' list and a 'kwargs' object"
        assert (letters["bad-3"].args, letters["bad-3"].kwargs) == ([], {})
        assert letters["bad-4"].operation == "\ufffd"
        assert letters["bad-5"].damage is None
        assert letters["bad-5"].args == [1]
        assert letters["bad-5"].last_error.startswith("undecodable row: ")
    finally:
        queue.close()


async def test_a_damaged_dead_letter_does_not_hide_the_others(db_path: Path) -> None:
    queue = PersistentRequestQueue(db_path, clock=ManualClock())
    try:
        with sqlite3.connect(db_path) as conn:
            for i, payload in enumerate([f"'{GOOD}'", "CAST(x'ff' AS TEXT)", f"'{GOOD}'"]):
                conn.execute(
                    "INSERT INTO dead_letters (id, priority, operation, payload, max_retries,"
                    " enqueued_at, failed_at, deliveries, last_error)"
                    f" VALUES ('d{i}', 0, 'record', {payload}, 3, 0, {i}, 4, 'boom')"
                )
        conn.close()
        letters = queue.dead_letters()
        assert [x.id for x in letters] == ["d0", "d1", "d2"]
        assert [x.damage is None for x in letters] == [True, False, True]
    finally:
        queue.close()


async def test_max_size_is_shared_by_every_object_on_the_file(db_path: Path) -> None:
    first = PersistentRequestQueue(db_path, max_size=10, clock=ManualClock())
    second = PersistentRequestQueue(db_path, max_size=10, clock=ManualClock())
    try:
        for i in range(10):
            await (first if i % 2 else second).enqueue(RetryableRequest(echo, args=[i]))
        for queue in (first, second):
            with pytest.raises(QueueFullError):
                await queue.enqueue(RetryableRequest(echo))
        # A write from outside the queue (another process, a hand-run DELETE) is counted.
        with sqlite3.connect(db_path) as conn:
            conn.execute("DELETE FROM requests WHERE seq IN (SELECT seq FROM requests LIMIT 3)")
        conn.close()
        for _ in range(3):
            await first.enqueue(RetryableRequest(echo))
        with pytest.raises(QueueFullError):
            second.enqueue_sync(RetryableRequest(echo))
        assert await second.process_available() == 10
        assert first.stats()["pending"] == 0
    finally:
        first.close()
        second.close()


async def test_the_size_check_never_counts_rows(db_path: Path) -> None:
    first = PersistentRequestQueue(db_path, clock=ManualClock())
    second = PersistentRequestQueue(db_path, clock=ManualClock())
    statements: list[str] = []
    try:
        for queue in (first, second):
            queue.store._writer._conn.set_trace_callback(statements.append)
        for i in range(6):  # each enqueue follows the other object's commit
            await (first if i % 2 else second).enqueue(RetryableRequest(echo, args=[i]))
    finally:
        first.close()
        second.close()
    inserts = [s for s in statements if s.startswith("INSERT INTO requests")]
    assert len(set(inserts)) == 6  # (a statement with triggers is traced once per program)
    assert not [s for s in statements if "count(" in s.lower()]


def test_a_file_from_before_the_counter_is_counted_once_at_open(db_path: Path) -> None:
    PersistentRequestQueue(db_path, clock=ManualClock()).close()
    with sqlite3.connect(db_path) as conn:  # make it look like an older file
        conn.execute("DROP TRIGGER requests_live_in")
        conn.execute("DROP TRIGGER requests_live_out")
        conn.execute("DELETE FROM meta WHERE name = 'live'")
        for i in range(7):
            conn.execute(
                "INSERT INTO requests (id, priority, operation, payload, max_retries,"
                f" enqueued_at, visible_at) VALUES ('old{i}', 0, 'record', '{GOOD}', 3, 0, 0)"
            )
    conn.close()
    queue = PersistentRequestQueue(db_path, max_size=8, clock=ManualClock())
    try:
        queue.enqueue_sync(RetryableRequest(echo))
        with pytest.raises(QueueFullError):
            queue.enqueue_sync(RetryableRequest(echo))
        assert queue.stats()["pending"] == 8
    finally:
        queue.close()
