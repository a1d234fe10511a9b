"""AdaptiveLimiter: algorithms, permits, partitions, LIFO backlog, events, bad input."""

from __future__ import annotations

import asyncio
import pickle
import threading
from typing import Any

import pytest

from _drivers import Driver
from rebellion import ConfigError, LimitExceededError, Pipeline, RejectedError, registry
from rebellion.policies.adaptive import (
    AdaptiveLimiter,
    AIMDLimit,
    CallShed,
    Gradient2Limit,
    LimitChanged,
    SampleWindow,
    VegasLimit,
    get_adaptive_limiter,
)
from rebellion.testing import ManualClock, RecordingListener

# -- algorithms (pure) ---------------------------------------------------------------


def test_aimd_grows_when_busy_and_backs_off_once_per_congestion_event() -> None:
    aimd = AIMDLimit(initial_limit=10, backoff_ratio=0.5, timeout=1.0)
    assert aimd.update(0.1, inflight=2, dropped=False) == 10  # app-limited: holds
    assert aimd.update(0.1, inflight=5, dropped=False, started=0.0) == 11
    assert aimd.update(0.1, inflight=11, dropped=True, started=1.0) == 5
    # admitted before that backoff: the same congestion event, no second cut
    assert aimd.update(0.5, inflight=11, dropped=True, started=0.9) == 5
    assert aimd.update(2.0, inflight=5, dropped=False, started=2.0) == 2  # slower than timeout


def test_vegas_grows_without_queue_and_shrinks_with_one() -> None:
    vegas = VegasLimit(initial_limit=20, seed=1)
    vegas.update(0.010, inflight=20, dropped=False)  # first sample: the no-load RTT
    assert vegas.rtt_noload == 0.010
    assert vegas.update(0.010, inflight=20, dropped=False) == 26  # no queue: + beta
    assert vegas.update(0.030, inflight=26, dropped=False) == 25  # queue > beta: - 1
    assert vegas.update(0.030, inflight=5, dropped=False) == 25  # app-limited
    assert vegas.update(0.030, inflight=25, dropped=True) == 24


def test_gradient2_shrinks_when_latency_rises_and_grows_when_flat() -> None:
    g2 = Gradient2Limit(initial_limit=20, queue_size=4, smoothing=1.0)
    for _ in range(10):
        g2.update(0.010, inflight=20, dropped=False)
    assert g2.limit == 100 or g2.limit > 20  # flat latency: + queue_size each sample
    before = g2.limit
    assert g2.update(0.040, inflight=before, dropped=False) < before


def test_set_max_limit_clamps_at_once() -> None:
    for algorithm in (AIMDLimit(initial_limit=50), VegasLimit(initial_limit=50), Gradient2Limit()):
        assert algorithm.set_max_limit(5) == 5
        assert algorithm.snapshot()["max_limit"] == 5


def test_window_averages_and_updates_once_per_window() -> None:
    aimd = AIMDLimit(initial_limit=10)
    window = SampleWindow(aimd, min_samples=3, max_window=1.0)
    assert not window.add(started=0.0, rtt=0.1, inflight=10, dropped=False)
    assert not window.add(started=0.0, rtt=0.1, inflight=10, dropped=False)
    assert window.add(started=0.0, rtt=0.1, inflight=10, dropped=False)
    assert aimd.limit == 11
    # the next window lasts 2 x min RTT: a sample ending before it cannot close it
    for _ in range(5):
        assert not window.add(started=0.05, rtt=0.1, inflight=11, dropped=False)


# -- permits ---------------------------------------------------------------------------


def limiter(**settings: Any) -> AdaptiveLimiter:
    settings.setdefault("algorithm", "aimd")
    settings.setdefault("initial_limit", 2)
    settings.setdefault("clock", ManualClock(auto_advance=False))
    return AdaptiveLimiter("test", **settings)


def test_runs_calls_in_every_driver_and_counts_outcomes(driver: Driver) -> None:
    lim = limiter()
    assert driver.run(lim, lambda x: x * 2, 21) == 42
    with pytest.raises(ValueError):
        driver.run(lim, _raise, ValueError("bad"))
    with pytest.raises(TimeoutError):
        driver.run(lim, _raise, TimeoutError())
    stats = lim.stats()
    assert (stats["succeeded"], stats["failed"], stats["dropped"], stats["inflight"]) == (
        1,
        1,
        1,
        0,
    )


def _raise(error: BaseException) -> None:
    raise error


def test_sheds_beyond_the_limit_with_limit_exceeded_error() -> None:
    recorder = RecordingListener()
    lim = limiter(listeners=[recorder])
    held = [lim.acquire(), lim.acquire()]
    with pytest.raises(LimitExceededError) as caught:
        lim.call(lambda: None)
    assert isinstance(caught.value, RejectedError)
    assert (caught.value.policy, caught.value.reason, caught.value.limit) == ("test", "limit", 2)
    assert pickle.loads(pickle.dumps(caught.value)).reason == "limit"
    assert recorder.of_type(CallShed)[0].reason == "limit"
    for token in held:
        token.success()
        token.success()  # a second release is a no-op
    assert lim.inflight == 0
    assert lim.stats()["rejected"] == 1


def test_partitions_guarantee_a_share_and_borrow_unused_capacity() -> None:
    lim = limiter(initial_limit=10, partitions={"live": 50, "batch": 20})
    batch = [lim.acquire("batch") for _ in range(10)]  # borrows the whole limit
    assert lim.try_acquire("batch") is None
    assert lim.try_acquire() is None  # unpartitioned traffic only borrows
    live = [lim.acquire("live") for _ in range(5)]  # its 50 % is still guaranteed
    assert lim.try_acquire("live") is None
    stats = lim.stats()["partitions"]
    assert stats["live"] == {"share": 50.0, "limit": 5, "inflight": 5, "admitted": 5, "rejected": 1}
    assert stats["batch"]["inflight"] == 10
    for token in batch + live:
        token.ignore()
    with pytest.raises(ConfigError, match="partition"):
        lim.acquire("unknown")
    assert lim.partition("live").call(lambda: "ok") == "ok"
    assert lim.partition("live").stats()["admitted"] == 6


def test_backlog_serves_the_newest_waiter_first_and_sheds_the_oldest() -> None:
    clock = ManualClock(auto_advance=False)
    lim = limiter(initial_limit=1, max_backlog=2, max_wait=5.0, clock=clock)
    held = lim.acquire()
    order: list[str] = []
    errors: list[str] = []

    def wait(label: str) -> None:
        try:
            token = lim.acquire()
        except LimitExceededError as error:
            errors.append(f"{label}:{error.reason}")
            return
        order.append(label)
        token.success()

    threads = []
    for label in ("first", "second", "third"):
        thread = threading.Thread(target=wait, args=(label,))
        thread.start()
        threads.append(thread)
        while lim.stats()["queued"] < len(threads):
            pass
    threads[0].join(2)
    assert errors == ["first:backlog"]  # the third arrival pushed out the oldest
    held.success()
    for thread in threads:
        thread.join(2)
    assert order == ["third", "second"]
    assert lim.stats()["shed_from_backlog"] == 1


async def test_async_waiter_expires_after_max_wait_in_virtual_time() -> None:
    clock = ManualClock(auto_advance=False)
    lim = limiter(initial_limit=1, max_backlog=5, max_wait=2.0, clock=clock)
    held = await lim.acquire_async()
    waiting = asyncio.create_task(lim.acquire_async())
    await asyncio.sleep(0)
    await clock.advance_async(1.99)
    assert not waiting.done()
    await clock.advance_async(0.01)
    with pytest.raises(LimitExceededError, match="max_wait"):
        await waiting
    held.success()
    assert lim.stats()["expired_in_backlog"] == 1
    assert lim.stats()["backlog"] == 0


async def test_a_cancelled_waiter_leaves_no_permit_behind() -> None:
    lim = limiter(initial_limit=1, max_backlog=5)
    held = await lim.acquire_async()
    waiting = asyncio.create_task(lim.acquire_async())
    await asyncio.sleep(0)
    held.success()  # grants the waiter ...
    waiting.cancel()  # ... which is cancelled before it runs
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert lim.inflight == 0
    assert lim.stats()["backlog"] == 0


async def test_a_cancelled_call_releases_its_permit_without_a_sample() -> None:
    lim = limiter(initial_limit=3)
    gate = asyncio.Event()

    async def slow() -> None:
        await gate.wait()

    task = asyncio.create_task(lim.execute(slow))
    await asyncio.sleep(0)
    assert lim.inflight == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert lim.inflight == 0
    assert lim.stats()["ignored"] == 1


async def test_thousands_of_tasks_account_exactly() -> None:
    lim = limiter(initial_limit=50, max_limit=50, max_backlog=100, max_wait=10.0)
    offered = 3000
    gate = asyncio.Event()
    outcomes = {"ok": 0, "shed": 0}
    peak = 0

    async def work() -> None:
        nonlocal peak
        peak = max(peak, lim.inflight)
        await gate.wait()

    async def one() -> None:
        try:
            await lim.execute(work)
            outcomes["ok"] += 1
        except LimitExceededError:
            outcomes["shed"] += 1

    tasks = [asyncio.create_task(one()) for _ in range(offered)]
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(*tasks)
    stats = lim.stats()
    assert outcomes["ok"] + outcomes["shed"] == offered
    assert stats["admitted"] == outcomes["ok"]
    assert stats["rejected"] == outcomes["shed"]
    assert peak <= 50
    assert stats["inflight"] == 0
    assert stats["backlog"] == 0


def test_many_threads_account_exactly() -> None:
    lim = limiter(initial_limit=8)
    counts = {"ok": 0, "shed": 0}
    lock = threading.Lock()

    def run() -> None:
        for _ in range(200):
            try:
                lim.call(lambda: None)
                key = "ok"
            except LimitExceededError:
                key = "shed"
            with lock:
                counts[key] += 1

    threads = [threading.Thread(target=run) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = lim.stats()
    assert counts["ok"] + counts["shed"] == 3200
    assert (stats["succeeded"], stats["rejected"], stats["inflight"]) == (
        counts["ok"],
        counts["shed"],
        0,
    )


def test_max_limit_is_adjustable_at_run_time_and_emits_an_event() -> None:
    recorder = RecordingListener()
    lim = limiter(initial_limit=20, listeners=[recorder])
    lim.max_limit = 5
    assert (lim.limit, lim.max_limit) == (5, 5)
    assert recorder.of_type(LimitChanged)[0].reason == "max_limit"
    lim.set_max_limit(1000)
    assert lim.limit == 5  # grows back by itself
    with pytest.raises(ConfigError, match="max_limit"):
        lim.set_max_limit(0)


def test_limit_changes_are_throttled_to_one_event_per_interval() -> None:
    clock = ManualClock(auto_advance=False)
    recorder = RecordingListener()
    lim = AdaptiveLimiter(
        "t",
        algorithm="aimd",
        initial_limit=2,
        window_samples=1,
        max_window=0.0,
        event_interval=1.0,
        clock=clock,
        listeners=[recorder],
    )
    for _ in range(5):  # busy rounds: every sample grows the limit
        tokens = [lim.acquire() for _ in range(lim.limit)]
        for token in reversed(tokens):
            token.success()
    assert lim.limit > 10
    first = recorder.of_type(LimitChanged)
    assert [(c.old_limit, c.new_limit) for c in first] == [(2, 3)]
    clock.advance(1.0)
    tokens = [lim.acquire() for _ in range(lim.limit)]
    for token in reversed(tokens):
        token.success()
    changes = recorder.of_type(LimitChanged)
    assert len(changes) == 2
    assert changes[1].old_limit == 3
    assert 14 <= changes[1].new_limit <= lim.limit  # later steps wait for the next interval


def test_works_in_a_pipeline_and_is_registered_by_name() -> None:
    lim = get_adaptive_limiter("orders", algorithm="vegas", max_limit=100)
    assert get_adaptive_limiter("orders", algorithm="vegas", max_limit=100) is lim
    with pytest.raises(ConfigError, match="max_limit"):
        get_adaptive_limiter("orders", algorithm="vegas", max_limit=5)
    assert Pipeline(lim).call(lambda: 3) == 3
    assert ("adaptive_limiter", "orders") in {(e["kind"], e["name"]) for e in registry.snapshot()}


@pytest.mark.parametrize(
    ("settings", "parameter"),
    [
        ({"name": ""}, "name"),
        ({"algorithm": "tcp"}, "algorithm"),
        ({"initial_limit": 0}, "initial_limit"),
        ({"min_limit": 0}, "min_limit"),
        ({"max_limit": 0}, "max_limit"),
        ({"algorithm": AIMDLimit(), "max_limit": 5}, "max_limit"),
        ({"partitions": ["live"]}, "partitions"),
        ({"partitions": {"live": 0}}, "partitions['live']"),
        ({"partitions": {"a": 60, "b": 60}}, "partitions"),
        ({"partitions": {" a": 10}}, "partitions"),
        ({"max_backlog": -1}, "max_backlog"),
        ({"max_backlog": True}, "max_backlog"),
        ({"max_wait": 0}, "max_wait"),
        ({"drop_on": "TimeoutError"}, "drop_on"),
        ({"min_window": -1}, "min_window"),
        ({"max_window": -1}, "max_window"),
        ({"window_samples": 0}, "window_samples"),
        ({"event_interval": -1}, "event_interval"),
        ({"clock": object()}, "clock"),
        ({"listeners": [1]}, "listeners"),
    ],
)
def test_bad_settings_name_the_parameter(settings: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError) as caught:
        AdaptiveLimiter(**settings)
    assert caught.value.parameter.startswith(parameter.split("[")[0])
    assert str(caught.value).startswith(parameter)


@pytest.mark.parametrize(
    ("make", "parameter"),
    [
        (lambda: AIMDLimit(backoff_ratio=1.0), "backoff_ratio"),
        (lambda: AIMDLimit(backoff_ratio=0.1), "backoff_ratio"),
        (lambda: AIMDLimit(timeout=0), "timeout"),
        (lambda: VegasLimit(alpha=-1), "alpha"),
        (lambda: VegasLimit(alpha=5, beta=2), "beta"),
        (lambda: VegasLimit(smoothing=0), "smoothing"),
        (lambda: VegasLimit(probe_multiplier=0), "probe_multiplier"),
        (lambda: Gradient2Limit(smoothing=2), "smoothing"),
        (lambda: Gradient2Limit(queue_size=-1), "queue_size"),
        (lambda: Gradient2Limit(long_window=0), "long_window"),
        (lambda: Gradient2Limit(tolerance=0.5), "tolerance"),
        (lambda: Gradient2Limit(initial_limit=5, min_limit=10), "initial_limit"),
        (lambda: SampleWindow("aimd"), "algorithm"),  # type: ignore[arg-type]
        (lambda: SampleWindow(AIMDLimit(), min_window=2, max_window=1), "max_window"),
    ],
)
def test_bad_algorithm_settings_name_the_parameter(make: Any, parameter: str) -> None:
    with pytest.raises(ConfigError) as caught:
        make()
    assert caught.value.parameter == parameter
