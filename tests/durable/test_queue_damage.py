"""A damaged or full SQLite file: refused with a clear error, never acknowledged into."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest
from _queue_handlers import echo

from rebellion.durable import PersistentRequestQueue, RetryableRequest
from rebellion.errors import StorageError, StorageFullError, StoreCorruptError
from rebellion.testing import ManualClock

PAGE = 4096


def filled(path: Path, requests: int = 300) -> list[str]:
    """Create a queue file holding ``requests`` requests, closed (no WAL left)."""
    PersistentRequestQueue(path, max_size=10_000, clock=ManualClock()).close()
    ids = [f"{i:032x}" for i in range(requests)]
    payload = RetryableRequest(echo, args=["x" * 50]).payload
    with sqlite3.connect(path) as conn:  # one transaction, not one fsync per request
        conn.executemany(
            "INSERT INTO requests (id, priority, operation, payload, max_retries,"
            " enqueued_at, visible_at) VALUES (?, 0, ?, ?, 3, 0, 0)",
            ((rid, "_queue_handlers:echo", payload) for rid in ids),
        )
    conn.close()
    assert not Path(f"{path}-wal").exists()
    return ids


def overwrite(path: Path, page: int, count: int = 1, seed: int = 7) -> None:
    """Replace ``count`` pages from ``page`` (1-based) with random bytes."""
    noise = bytes((seed * 7919 + i * 104_729) % 251 for i in range(PAGE * count))
    with path.open("r+b") as file:
        file.seek(PAGE * (page - 1))
        file.write(noise)


def root_page(path: Path, name: str) -> int:
    with sqlite3.connect(path) as conn:
        query = "SELECT rootpage FROM sqlite_master WHERE name = ?"
        (page,) = conn.execute(query, (name,)).fetchone()
    conn.close()
    return int(page)


@pytest.mark.parametrize("mode", ["auto", "full", "light"])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_file_is_refused_at_open(db_path: Path, mode: str, keep: float) -> None:
    filled(db_path)
    size = db_path.stat().st_size
    os.truncate(db_path, int(size * keep) // PAGE * PAGE)
    with pytest.raises(StoreCorruptError, match=r"requests\.db is damaged|failed its integrity"):
        PersistentRequestQueue(db_path, integrity_check=mode)


@pytest.mark.parametrize("mode", ["auto", "full"])
def test_pages_of_garbage_are_refused_at_open(db_path: Path, mode: str) -> None:
    filled(db_path)
    pages = db_path.stat().st_size // PAGE
    overwrite(db_path, pages // 2, 2)  # the middle of the requests table
    with pytest.raises(StoreCorruptError) as caught:
        PersistentRequestQueue(db_path, integrity_check=mode)
    assert isinstance(caught.value, StorageError)
    assert caught.value.store == "requests"
    assert "sqlite3 FILE .recover" in str(caught.value)


def test_garbage_header_is_refused_as_not_a_database(db_path: Path) -> None:
    filled(db_path)
    overwrite(db_path, 1)
    with pytest.raises(StoreCorruptError, match=r"file is not a database"):
        PersistentRequestQueue(db_path)


def test_bad_integrity_mode_is_a_config_error(db_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^integrity_check must be one of 'auto'"):
        PersistentRequestQueue(db_path, integrity_check="none")


async def test_damage_found_after_open_refuses_every_later_write(db_path: Path) -> None:
    ids = filled(db_path, 50)
    queue = PersistentRequestQueue(db_path, clock=ManualClock())
    try:
        # Damage the claim index on disk under the open queue: the next insert reads it.
        overwrite(db_path, root_page(db_path, "requests_order"))
        with pytest.raises(StoreCorruptError, match="malformed"):
            await queue.enqueue(RetryableRequest(echo, args=[1]))
        # Sticky: nothing is acknowledged into the damaged file from now on.
        with pytest.raises(StoreCorruptError):
            queue.enqueue_sync(RetryableRequest(echo, args=[2]))
        with pytest.raises(StoreCorruptError):
            queue.stats()
        with pytest.raises(StoreCorruptError):
            await queue.process_available()
    finally:
        queue.close()
    # The rows acknowledged before the damage are still in the table.
    with sqlite3.connect(db_path) as conn:
        stored = {row[0] for row in conn.execute("SELECT id FROM requests NOT INDEXED")}
    conn.close()
    assert stored == set(ids)


async def test_size_cap_raises_storage_full_and_keeps_every_acknowledged(db_path: Path) -> None:
    queue = PersistentRequestQueue(
        db_path, max_size=100_000, max_bytes=96 * 1024, clock=ManualClock()
    )
    try:
        acked: list[str] = []

        async def fill() -> None:
            for i in range(10_000):
                acked.append(await queue.enqueue(RetryableRequest(echo, args=["p" * 200, i])))

        with pytest.raises(StorageFullError, match=r"full \(database or disk is full\)") as full:
            await fill()
        assert isinstance(full.value.__cause__, sqlite3.OperationalError)
        assert 10 < len(acked) < 10_000
        stats = queue.stats()
        assert stats["pending"] == len(acked) == stats["enqueued"]
        # The same error from the blocking path; then work frees pages and writes go on.
        with pytest.raises(StorageFullError):
            queue.enqueue_sync(RetryableRequest(echo, args=["p" * 200]))
        assert await queue.process_available(limit=20) == 20
        await queue.enqueue(RetryableRequest(echo, args=["fits again"]))
        assert queue.stats()["pending"] == len(acked) - 20 + 1
    finally:
        queue.close()


def test_bad_max_bytes_is_a_config_error(db_path: Path) -> None:
    with pytest.raises(ValueError, match=r"^max_bytes must be"):
        PersistentRequestQueue(db_path, max_bytes=1000)


def test_auto_checks_small_files_fully_and_large_ones_lightly(
    db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rebellion._sqlite as guard

    filled(db_path)
    assert guard.verify_integrity(None, "q", str(db_path), "auto") == "full"
    monkeypatch.setattr(guard, "FULL_CHECK_BYTES", db_path.stat().st_size - 1)
    assert guard.verify_integrity(None, "q", str(db_path), "auto") == "light"
    assert guard.verify_integrity(None, "q", str(db_path), "full") == "full"
