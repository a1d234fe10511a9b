"""A queue dropped without close() releases its thread and files, and warns."""

from __future__ import annotations

import gc
import os
import threading
import time
from pathlib import Path

import pytest
from _queue_handlers import echo

from rebellion.durable import PersistentRequestQueue, RetryableRequest
from rebellion.testing import ManualClock


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def settle(predicate: object, within: float = 30.0) -> bool:
    """Poll ``predicate`` (threads exit on their own time) with a generous deadline."""
    assert callable(predicate)
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_fifty_dropped_queues_leave_no_thread_or_file(tmp_path: Path) -> None:
    gc.collect()
    threads, fds = threading.active_count(), open_fds()

    def drop_fifty() -> None:
        for i in range(50):
            queue = PersistentRequestQueue(tmp_path / "q.db", clock=ManualClock())
            if i == 49:
                queue.enqueue_sync(RetryableRequest(echo, args=[i]))
            del queue
        gc.collect()

    with pytest.warns(ResourceWarning, match=r"unclosed PersistentRequestQueue\(") as warned:
        drop_fifty()
    ours = [w for w in warned if "unclosed PersistentRequestQueue(" in str(w.message)]
    assert len(ours) == 50
    assert settle(lambda: threading.active_count() <= threads), threading.enumerate()
    assert settle(lambda: open_fds() <= fds)
    # What was acknowledged is in the files.
    reopened = PersistentRequestQueue(tmp_path / "q.db", clock=ManualClock())
    assert reopened.stats()["pending"] == 1
    reopened.close()


def test_a_closed_queue_does_not_warn(tmp_path: Path) -> None:
    queue = PersistentRequestQueue(tmp_path / "q.db", clock=ManualClock())
    queue.close()
    del queue
    gc.collect()  # filterwarnings=error: a ResourceWarning here would fail the test


async def test_async_context_manager_closes_without_warning(tmp_path: Path) -> None:
    async with PersistentRequestQueue(tmp_path / "q.db", clock=ManualClock()) as queue:
        await queue.enqueue(RetryableRequest(echo))
    del queue
    gc.collect()
