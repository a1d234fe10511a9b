"""The cache's disk tier on a damaged or full file: clear errors, the cache degrades."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from rebellion.cache import DistributedCache
from rebellion.cache._disk import DiskTier
from rebellion.errors import StorageFullError, StoreCorruptError
from rebellion.testing import ManualClock

PAGE = 4096


def filled(directory: Path, entries: int = 400) -> Path:
    tier = DiskTier(directory, ManualClock())
    for i in range(entries):
        tier.set("ns", f"k{i}", b"J" + b"v" * 100, ttl=60, stale=0)
    tier.close()
    path = directory / "cache.sqlite3"
    assert not Path(f"{path}-wal").exists()
    return path


def test_truncated_disk_file_is_refused(tmp_path: Path) -> None:
    path = filled(tmp_path)
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2 // PAGE * PAGE)
    with pytest.raises(StoreCorruptError, match=r"cache\.sqlite3 is damaged"):
        DiskTier(tmp_path, ManualClock())


def test_garbage_pages_are_refused_and_the_cache_says_why(tmp_path: Path) -> None:
    path = filled(tmp_path)
    with path.open("r+b") as file:
        file.seek(PAGE * 3)
        file.write(bytes(range(256)) * (2 * PAGE // 256))
    with pytest.raises(StoreCorruptError) as caught:
        DistributedCache(disk_cache_dir=tmp_path)
    assert caught.value.store == "disk"


async def test_damage_found_later_is_sticky_and_the_cache_degrades(tmp_path: Path) -> None:
    path = filled(tmp_path)
    cache = DistributedCache(disk_cache_dir=tmp_path, clock=ManualClock())
    try:
        with sqlite3.connect(path) as conn:
            query = "SELECT rootpage FROM sqlite_master WHERE name = 'entries_stale'"
            (root,) = conn.execute(query).fetchone()
        conn.close()
        with path.open("r+b") as file:  # the expiry index, which no read has touched yet
            file.seek(PAGE * (root - 1))
            file.write(bytes(range(256)) * (PAGE // 256))
        with pytest.raises(StoreCorruptError):
            await cache.delete("k1", namespace="ns")
        # Refused from now on, even where the pages are fine; the cache serves the rest.
        assert await cache.get("k2", namespace="ns", default="miss") == "miss"
        await cache.put("k3", "fresh", namespace="ns")
        assert await cache.get("k3", namespace="ns") == "fresh"
        assert cache.stats()["tiers"]["disk"]["errors"] >= 2
    finally:
        await cache.close()


def test_a_full_disk_is_storage_full(tmp_path: Path) -> None:
    tier = DiskTier(tmp_path, ManualClock())
    try:
        (pages,) = tier._db.execute("PRAGMA page_count").fetchone()
        tier._db.execute(f"PRAGMA max_page_count = {pages + 2}")  # SQLITE_FULL, as a disk
        stored: list[str] = []

        def fill() -> None:
            for i in range(1000):
                tier.set("ns", f"k{i}", b"J" + b"v" * 1000, ttl=60, stale=0)
                stored.append(f"k{i}")

        with pytest.raises(StorageFullError, match="database or disk is full"):
            fill()
        assert 0 < len(stored) < 1000
        assert tier.get("ns", stored[-1]) is not None
        tier.delete("ns", "k0")  # still usable: full is not damage
    finally:
        tier.close()
