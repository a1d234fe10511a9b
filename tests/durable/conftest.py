"""Fixtures for the durable queue tests: a queue in a temp dir on a manual clock."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rebellion.durable import PersistentRequestQueue
from rebellion.policies._backoff import Backoff
from rebellion.testing import ManualClock


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(auto_advance=False)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "requests.db"


@pytest.fixture
async def queue(db_path: Path, clock: ManualClock) -> AsyncIterator[PersistentRequestQueue]:
    q = PersistentRequestQueue(
        db_path,
        max_size=1000,
        clock=clock,
        lease_timeout=30.0,
        retry_backoff=Backoff(initial_delay=1.0, max_delay=60.0, jitter="none"),
    )
    yield q
    await q.stop(grace=2)
    q.close()
