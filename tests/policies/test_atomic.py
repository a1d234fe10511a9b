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


def test_a_call_between_the_read_and_the_write_is_where_an_update_is_lost() -> None:
    # The control, made deterministic: a thread may be switched out at a call, so the
    # call here runs another thread's whole update, exactly as a switch would.
    cell = Cell()
    done = threading.Event()

    def other_update() -> None:
        cell.tat = cell.tat + 1.0
        done.set()

    def a_call() -> None:
        thread = threading.Thread(target=other_update)
        thread.start()
        assert done.wait(timeout=30)
        thread.join(timeout=30)

    tat = cell.tat
    a_call()
    cell.tat = tat + 1.0
    assert cell.tat - 1e9 == 1.0  # two updates ran, one of them is lost
