"""The GIL rule the lock-free fast paths rely on, shown under a tiny switch interval."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

import pytest

from rebellion.policies._atomic import GIL_ATOMIC


class Cell:
    __slots__ = ("tat",)

    def __init__(self) -> None:
        self.tat = 1e9


def _call_free(cell: Cell, n: int) -> None:
    now = time.monotonic
    for _ in range(n):
        t = now()
        tat = cell.tat
        if tat < t:
            tat = t
        cell.tat = tat + 1.0


def _with_a_call(cell: Cell, n: int) -> None:
    now = time.monotonic
    for _ in range(n):
        t = now()
        tat = cell.tat
        if tat < t:
            tat = t
        abs(t)  # a call between the read and the write: a thread may switch here
        cell.tat = tat + 1.0


def _lost_updates(body: Callable[[Cell, int], None]) -> float:
    cell, n = Cell(), 40_000
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=body, args=(cell, n)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=20)
    finally:
        sys.setswitchinterval(previous)
    return 4 * n - (cell.tat - 1e9)


@pytest.mark.skipif(not GIL_ATOMIC, reason="free-threaded build: the fast paths take locks")
def test_call_free_read_modify_write_loses_no_update() -> None:
    assert _lost_updates(_call_free) == 0


@pytest.mark.skipif(not GIL_ATOMIC, reason="free-threaded build")
def test_a_call_inside_the_sequence_does_lose_updates() -> None:
    # The control: the test above would notice a race if there were one.
    assert _lost_updates(_with_a_call) > 0
