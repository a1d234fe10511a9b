"""AdaptiveLimiter's lock-free slot path: no token, exact accounting under thread switches."""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from rebellion import LimitExceededError
from rebellion.policies._atomic import GIL_ATOMIC
from rebellion.policies.adaptive import AdaptiveLimiter, AIMDLimit, SampleWindow, _core
from rebellion.testing import ManualClock

pytestmark = pytest.mark.skipif(not GIL_ATOMIC, reason="free-threaded build: every path locks")


@pytest.fixture
def tiny_switch_interval() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def fixed(limit: int, **settings: Any) -> AdaptiveLimiter:
    algorithm = AIMDLimit(initial_limit=limit, min_limit=limit, max_limit=limit)
    return AdaptiveLimiter("fast", algorithm=algorithm, **settings)


def test_the_success_path_allocates_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    lim = fixed(4, clock=ManualClock(auto_advance=False))

    def no_token(*args: Any) -> None:
        raise AssertionError("a Token was built on the slot path")

    monkeypatch.setattr(_core.Token, "__init__", no_token)

    async def ainc(x: int) -> int:
        return x + 1

    assert lim(lambda x: x + 1)(1) == 2
    assert asyncio.run(lim(ainc)(1)) == 2
    assert lim.call(lambda: 3) == 3
    assert asyncio.run(lim.execute(ainc, 2)) == 3
    assert lim.stats()["succeeded"] == 4


def test_a_backlog_keeps_the_locked_token_path() -> None:
    lim = fixed(1, max_backlog=2, clock=ManualClock(auto_advance=False))
    assert not lim._core.fast
    assert lim(lambda: "ok")() == "ok"
    assert lim.stats()["inflight"] == 0


def test_threads_never_exceed_the_limit_and_account_exactly(tiny_switch_interval: None) -> None:
    lim = fixed(2)
    peak = 0
    counts = {"ok": 0, "failed": 0, "shed": 0}
    lock = threading.Lock()

    @lim
    def work(i: int) -> int:
        nonlocal peak
        inflight = lim.inflight
        if inflight > peak:
            peak = inflight
        for _ in range(50):  # backward jumps: other threads get in while the slot is held
            pass
        if i % 25 == 0:
            time.sleep(0)  # let go of the GIL while holding a slot: others overlap for sure
        if i % 7 == 0:
            raise ValueError(i)
        return i

    start = threading.Barrier(6)

    def run() -> None:
        start.wait(10)
        for i in range(1000):
            try:
                work(i)
                key = "ok"
            except ValueError:
                key = "failed"
            except LimitExceededError:
                key = "shed"
            with lock:
                counts[key] += 1

    threads = [threading.Thread(target=run) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    stats = lim.stats()
    assert sum(counts.values()) == 6000
    assert counts["shed"] > 0  # contended: the limit was really reached
    assert peak <= 2
    assert stats["inflight"] == 0
    assert (stats["succeeded"], stats["failed"], stats["rejected"]) == (
        counts["ok"],
        counts["failed"],
        counts["shed"],
    )
    assert stats["admitted"] == counts["ok"] + counts["failed"]


def test_tokens_and_slots_share_one_count(tiny_switch_interval: None) -> None:
    lim = fixed(2)
    token = lim.acquire()
    assert lim(lambda: lim.inflight)() == 2
    with pytest.raises(LimitExceededError), lim.acquire():
        lim(lambda: None)()
    token.success()
    assert lim.inflight == 0


def test_a_closing_window_is_claimed_by_one_sample_only() -> None:
    window = SampleWindow(AIMDLimit(initial_limit=10), min_samples=2, max_window=1.0)
    assert window.record(0.0, 0.1, 3, False) is None
    assert window.record(0.2, 0.3, 5, False) == (pytest.approx(0.2), 5, False, 0.2)
    assert window.record(0.3, 0.1, 1, False) is None  # the next window starts empty
    assert window.record(0.4, 0.1, 1, True) is None  # before the window's end (0.5 + 0.2)
    assert window.record(0.8, 0.1, 1, False) == (pytest.approx(0.1), 1, True, 0.8)
