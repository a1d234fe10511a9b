"""RateLimiter: GCRA admissions, waits in virtual time, cancellation, threads, pipelines."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebellion import (
    ConfigError,
    Fallback,
    Pipeline,
    RateChanged,
    RateLimitedError,
    RateLimiter,
    RateLimitExceeded,
    get_rate_limiter,
)
from rebellion.policies.ratelimit._gcra import GcraCore
from rebellion.testing import ManualClock, RecordingListener


async def _acquire(limiter: RateLimiter) -> None:
    await limiter.acquire_async()


# -- configuration ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"rate": 0}, "rate"),
        ({"rate": -1}, "rate"),
        ({"rate": "10"}, "rate"),
        ({"rate": float("inf")}, "rate"),
        ({"rate": 10, "per": 0}, "per"),
        ({"rate": 10, "per": None}, "per"),
        ({"rate": 10, "burst": 0.5}, "burst"),
        ({"rate": 10, "burst": "2"}, "burst"),
        ({"rate": 10, "max_wait": -1}, "max_wait"),
        ({"rate": 10, "max_wait": float("nan")}, "max_wait"),
        ({"rate": 10, "name": " x"}, "name"),
        ({"rate": 10, "clock": 5}, "clock"),
        ({"rate": 10, "listeners": ["x"]}, "listeners"),
    ],
)
def test_rejects_bad_settings_naming_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError) as caught:
        RateLimiter(**kwargs)
    assert caught.value.parameter == parameter
    assert str(caught.value).startswith(parameter)


def test_rejects_bad_token_counts_and_waits() -> None:
    limiter = RateLimiter(rate=10, burst=3, clock=ManualClock())
    for bad in (0, -1, 4, 1.5, "2"):
        with pytest.raises(ConfigError, match=r"^n must"):
            limiter.try_acquire(bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^max_wait"):
        limiter.acquire(max_wait=-1)
    with pytest.raises(ConfigError, match=r"^rate"):
        limiter.set_rate(0)
    with pytest.raises(ConfigError, match=r"^burst"):
        limiter.set_rate(5, burst=0)


def test_get_rate_limiter_needs_a_rate_first_and_refuses_conflicts() -> None:
    with pytest.raises(ConfigError, match=r"^rate"):
        get_rate_limiter("nope")
    api = get_rate_limiter("api", rate=5)
    assert get_rate_limiter("api") is api
    with pytest.raises(ConfigError, match="rate"):
        get_rate_limiter("api", rate=6)


# -- admissions --------------------------------------------------------------------------


def test_default_burst_is_one_period_of_tokens() -> None:
    clock = ManualClock()
    limiter = RateLimiter(rate=5, clock=clock)
    assert [limiter.try_acquire() for _ in range(6)] == [True] * 5 + [False]
    clock.advance(0.2)
    assert limiter.try_acquire()
    assert limiter.burst == 5


def test_per_sets_the_period_of_the_rate() -> None:
    clock = ManualClock()
    limiter = RateLimiter(rate=2, per=60, burst=1, clock=clock)
    assert limiter.try_acquire()
    clock.advance(29.9)
    assert not limiter.try_acquire()
    clock.advance(0.1)
    assert limiter.try_acquire()


def test_takes_several_tokens_at_once() -> None:
    clock = ManualClock()
    limiter = RateLimiter(rate=10, burst=5, clock=clock)
    assert limiter.try_acquire(5)
    assert not limiter.try_acquire(1)
    clock.advance(0.3)
    assert limiter.try_acquire(3)
    assert not limiter.try_acquire(1)


def test_refusal_emits_an_event_with_retry_after() -> None:
    listener: RecordingListener[RateLimitExceeded] = RecordingListener()
    limiter = RateLimiter(rate=4, burst=1, clock=ManualClock(), listeners=[listener])
    assert limiter.try_acquire()
    assert not limiter.try_acquire()
    [event] = listener.of_type(RateLimitExceeded)
    assert event.requested == 1
    assert event.retry_after == pytest.approx(0.25)
    stats = limiter.stats()
    assert (stats["admitted"], stats["rejected"], stats["available"]) == (1, 1, 0.0)


# -- waiting --------------------------------------------------------------------------------


def test_acquire_sleeps_until_the_next_token() -> None:
    clock = ManualClock()
    limiter = RateLimiter(rate=10, burst=1, clock=clock)
    for _ in range(4):
        limiter.acquire()
    assert clock.sleeps == pytest.approx([0.1, 0.1, 0.1])
    assert clock.monotonic() == pytest.approx(0.3)


def test_acquire_refuses_a_turn_beyond_max_wait_without_reserving() -> None:
    clock = ManualClock()
    limiter = RateLimiter(rate=1, burst=1, clock=clock)
    limiter.acquire()
    with pytest.raises(RateLimitedError) as caught:
        limiter.acquire(max_wait=0.5)
    assert caught.value.retry_after == pytest.approx(1.0)
    limiter.acquire(max_wait=1.0)  # nothing was reserved by the refusal
    assert clock.monotonic() == pytest.approx(1.0)


async def test_async_waiters_are_served_in_arrival_order() -> None:
    clock = ManualClock(auto_advance=False)
    limiter = RateLimiter(rate=1, burst=1, clock=clock)
    order: list[tuple[int, float]] = []

    async def waiter(tag: int) -> None:
        await limiter.acquire_async()
        order.append((tag, clock.monotonic()))

    tasks = [asyncio.create_task(waiter(i)) for i in range(4)]
    await asyncio.sleep(0)
    for _ in range(3):
        await clock.advance_async(1.0)
    await asyncio.gather(*tasks)
    assert order == [(0, 0.0), (1, 1.0), (2, 2.0), (3, 3.0)]


async def test_a_cancelled_last_waiter_gives_its_reservation_back() -> None:
    clock = ManualClock(auto_advance=False)
    limiter = RateLimiter(rate=1, burst=1, clock=clock)
    await limiter.acquire_async()
    second = asyncio.create_task(_acquire(limiter))
    third = asyncio.create_task(_acquire(limiter))
    await asyncio.sleep(0)
    third.cancel()
    with pytest.raises(asyncio.CancelledError):
        await third
    newcomer = asyncio.create_task(_acquire(limiter))
    await clock.advance_async(1.0)
    await second
    await clock.advance_async(1.0)
    await newcomer  # took the cancelled turn at t=2, not t=3
    assert clock.monotonic() == 2.0
    assert limiter.stats()["cancelled"] == 1


async def test_a_cancelled_middle_waiter_leaves_a_hole_the_next_waiter_takes() -> None:
    clock = ManualClock(auto_advance=False)
    limiter = RateLimiter(rate=1, burst=1, clock=clock)
    admitted: list[tuple[str, float]] = []

    async def waiter(tag: str) -> None:
        await limiter.acquire_async()
        admitted.append((tag, clock.monotonic()))

    await limiter.acquire_async()
    b = asyncio.create_task(waiter("b"))  # turn at 1
    c = asyncio.create_task(waiter("c"))  # turn at 2
    await asyncio.sleep(0)
    b.cancel()
    with pytest.raises(asyncio.CancelledError):
        await b
    d = asyncio.create_task(waiter("d"))  # takes b's turn at 1
    for _ in range(3):
        await clock.advance_async(1.0)
    await asyncio.gather(c, d)
    assert sorted(admitted, key=lambda x: x[1]) == [("d", 1.0), ("c", 2.0)]


async def test_acquire_async_admitted_at_once_needs_no_coroutine() -> None:
    limiter = RateLimiter(rate=100, burst=2, clock=ManualClock())
    ready = limiter.acquire_async()
    assert not asyncio.iscoroutine(ready)
    await ready
    with pytest.raises(RateLimitedError):
        await limiter.acquire_async(2, max_wait=0.001)


# -- as a policy ----------------------------------------------------------------------------


def test_as_a_decorator_refuses_over_the_limit_without_max_wait() -> None:
    limiter = RateLimiter(rate=2, burst=2, clock=ManualClock(), name="api")

    @limiter
    def ping() -> str:
        return "pong"

    assert [ping(), ping()] == ["pong", "pong"]
    with pytest.raises(RateLimitedError) as caught:
        ping()
    assert caught.value.policy == "api"
    assert caught.value.retry_after == pytest.approx(0.5)


def test_as_a_decorator_waits_up_to_max_wait() -> None:
    clock = ManualClock()
    limiter = RateLimiter(rate=10, burst=1, max_wait=0.15, clock=clock)

    @limiter
    def ping() -> str:
        return "pong"

    assert ping() == ping() == "pong"
    assert clock.sleeps == pytest.approx([0.1])
    with limiter:
        pass
    assert limiter.call(lambda: "called") == "called"


async def test_async_policy_paths_and_context_manager() -> None:
    clock = ManualClock()
    limiter = RateLimiter(rate=10, burst=1, max_wait=1.0, clock=clock)

    @limiter
    async def ping() -> str:
        return "pong"

    assert await ping() == "pong"
    assert await limiter.execute(lambda: "sync callee") == "sync callee"
    async with limiter:
        pass
    assert clock.monotonic() == pytest.approx(0.2)


async def test_in_a_pipeline_a_refusal_can_fall_back() -> None:
    limiter = RateLimiter(rate=1, burst=1, clock=ManualClock())
    pipeline = Pipeline(Fallback(lambda: "later", should_fallback_on=[RateLimitedError]), limiter)

    @pipeline
    async def fetch() -> str:
        return "now"

    assert [await fetch(), await fetch()] == ["now", "later"]


# -- run-time changes ---------------------------------------------------------------------


def test_set_rate_keeps_the_debt_in_tokens_and_emits_an_event() -> None:
    clock = ManualClock()
    listener: RecordingListener[RateChanged] = RecordingListener()
    limiter = RateLimiter(rate=10, burst=1, clock=clock, listeners=[listener])
    assert limiter.try_acquire()
    limiter.set_rate(1)  # EMERGENCY: one token now takes 1 s
    clock.advance(0.5)
    assert not limiter.try_acquire()
    clock.advance(0.5)
    assert limiter.try_acquire()
    limiter.set_rate(10, burst=3)
    clock.advance(1.0)
    assert [limiter.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert [(e.old_rate, e.rate, e.burst) for e in listener.of_type(RateChanged)] == [
        (10, 1, 1),
        (1, 10, 3),
    ]


# -- concurrency --------------------------------------------------------------------------


def test_threads_never_get_more_than_the_burst_in_frozen_time() -> None:
    import sys

    clock = ManualClock(start=5.0)
    limiter = RateLimiter(rate=1000, burst=500, clock=clock)
    results: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def hammer() -> None:
        barrier.wait()
        admitted = sum(limiter.try_acquire() for _ in range(400))
        with lock:
            results.append(admitted)

    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        threads = [threading.Thread(target=hammer) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=10)
    finally:
        sys.setswitchinterval(previous)
    stats = limiter.stats()
    assert sum(results) == 500  # time never moved: exactly the burst, never more
    assert stats["admitted"] + stats["rejected"] == 3200


async def test_exact_accounting_under_thousands_of_tasks() -> None:
    clock = ManualClock(auto_advance=False)
    limiter = RateLimiter(rate=100, burst=10, max_wait=1.0, clock=clock)

    @limiter
    async def work() -> int:
        return 1

    tasks = [asyncio.create_task(work()) for _ in range(2000)]
    await asyncio.sleep(0)
    for _ in range(12):
        await clock.advance_async(0.1, settle=3)
    results = await asyncio.gather(*tasks, return_exceptions=True)
    admitted = sum(1 for r in results if r == 1)
    rejected = sum(1 for r in results if isinstance(r, RateLimitedError))
    assert admitted + rejected == 2000
    assert admitted == 110  # the burst plus one second of tokens
    stats = limiter.stats()
    assert (stats["admitted"], stats["rejected"]) == (admitted, rejected)


# -- the GCRA bound, as a property ---------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=0.5, max_value=1000),
    burst=st.integers(min_value=1, max_value=20),
    steps=st.lists(
        st.tuples(st.floats(min_value=0, max_value=0.5), st.integers(1, 3), st.booleans()),
        min_size=1,
        max_size=80,
    ),
)
def test_never_admits_more_than_rate_times_t_plus_burst(
    rate: float, burst: int, steps: list[tuple[float, int, bool]]
) -> None:
    core = GcraCore(rate, 1.0, float(burst))
    now = 0.0
    admitted: list[tuple[float, int]] = []
    for gap, n, wait in steps:
        now += gap
        n = min(n, burst)
        if wait:
            _, at, token = core.reserve(n, now, 0.3)
            if token == token:
                admitted.append((at, n))
        elif core.take(n, now) == 0.0:
            admitted.append((now, n))
    admitted.sort()
    for i, (start, _) in enumerate(admitted):
        total = 0
        for at, n in admitted[i:]:
            total += n
            assert total <= rate * (at - start) + burst + 1e-6
