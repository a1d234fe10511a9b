"""Rate limits hold across Redis outages, and cancelled waiters hand their slots back.

The simulation runs the limiter against a simulated Redis on the manual clock (the
scripts' arithmetic, with outages on a seeded schedule), so every admission has an
exact virtual timestamp; a real Redis stopped and started checks the same bound.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import random
import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from redis.exceptions import ConnectionError as RedisConnectionError

from _redis import RedisServer
from rebellion.policies.ratelimit import RateLimiter, RedisRateLimiter
from rebellion.testing import ManualClock


class SimRedis:
    """The two limiter scripts' effects on one key, timed by a manual clock."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.up = True
        self.values: dict[str, tuple[str, float]] = {}

    def register_script(self, source: str) -> Any:
        run = self._gcra if "TIME" in source else self._give_back

        def script(keys: list[str], args: list[float], client: object = None) -> Any:
            if not self.up:
                raise RedisConnectionError("simulated outage")
            return run(keys[0], args)

        return script

    def _now(self) -> float:
        return float(int(self.clock.monotonic() * 1_000_000))

    def _get(self, key: str) -> float | None:
        value = self.values.get(key)
        if value is None or value[1] <= self._now():
            return None
        return float(value[0])

    def _gcra(self, key: str, args: list[float]) -> list[Any]:
        interval, limit, n, max_wait, floor = args
        now = self._now()
        tat = self._get(key) or now
        tat = max(tat, now + floor)
        new = tat + n * interval
        wait = new - now - limit
        if wait > max_wait + 0.001:
            return [0, math.ceil(wait), ""]
        token = f"{new:.3f}"
        self.values[key] = (token, now + (math.ceil((new - now) / 1000) + 1) * 1000)
        return [1, math.ceil(max(wait, 0.0)), token]

    def _give_back(self, key: str, args: list[float]) -> int:
        value = self.values.get(key)
        if value is None or value[0] != args[0]:
            return 0
        self.values[key] = (f"{float(value[0]) - args[1]:.3f}", value[1])
        return 1


def most_in_any_window(times: list[float], width: float) -> int:
    """Return the most admissions inside any half-open window ``[t, t + width)``."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, t + width - 1e-9) - i for i, t in enumerate(ordered)),
        default=0,
    )


@pytest.mark.parametrize("seed", range(40))
def test_redis_and_local_fallback_never_admit_more_than_rate_plus_burst(seed: int) -> None:
    rng = random.Random(seed)
    clock = ManualClock()
    redis = SimRedis(clock)
    limiter = RedisRateLimiter(
        rate=100, burst=10, client=redis, retry_interval=rng.choice([0.01, 0.05, 0.2]), clock=clock
    )
    admitted: list[float] = []
    for _ in range(1500):
        clock.advance(rng.choice([0.0, 0.0, 0.001, 0.003, 0.01, 0.02]))
        if rng.random() < 0.01:
            redis.up = not redis.up
        if limiter.try_acquire():
            admitted.append(clock.monotonic())
    assert limiter.degradations > 0
    assert most_in_any_window(admitted, 1.0) <= 110, f"seed {seed}"


def test_the_local_fallback_starts_from_what_redis_admitted() -> None:
    clock = ManualClock()
    redis = SimRedis(clock)
    limiter = RedisRateLimiter(rate=100, burst=10, client=redis, retry_interval=1.0, clock=clock)
    assert sum(limiter.try_acquire() for _ in range(20)) == 10
    redis.up = False
    assert sum(limiter.try_acquire() for _ in range(20)) == 0  # the burst is already spent
    clock.advance(0.05)
    assert sum(limiter.try_acquire() for _ in range(20)) == 5  # the refill only


def test_redis_does_not_hand_out_again_what_the_fallback_admitted() -> None:
    clock = ManualClock()
    redis = SimRedis(clock)
    limiter = RedisRateLimiter(rate=100, burst=10, client=redis, retry_interval=0.01, clock=clock)
    redis.up = False
    assert sum(limiter.try_acquire() for _ in range(20)) == 10  # local burst
    redis.up = True
    clock.advance(0.01)
    assert sum(limiter.try_acquire() for _ in range(20)) == 1  # shared again: one refill
    assert not limiter.degraded


def test_a_real_redis_stopped_and_started_keeps_the_bound(redis_server: RedisServer) -> None:
    limiter = RedisRateLimiter(
        rate=100, burst=10, url=redis_server.url, retry_interval=0.05, socket_timeout=0.5
    )
    admitted: list[float] = []
    stop = threading.Event()

    def take() -> None:
        while not stop.is_set():
            if limiter.try_acquire():
                admitted.append(time.monotonic())

    worker = threading.Thread(target=take)
    try:
        assert limiter.try_acquire()
        worker.start()
        for _ in range(3):
            deadline = time.monotonic() + 30
            while sum(1 for t in admitted if t > time.monotonic() - 0.3) < 5:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            redis_server.stop()
            while not limiter.degraded:
                assert time.monotonic() < deadline
                time.sleep(0.01)
            redis_server.start()
            while limiter.degraded:
                assert time.monotonic() < deadline
                time.sleep(0.01)
    finally:
        stop.set()
        if worker.is_alive():
            worker.join()
        limiter.close()
    assert limiter.degradations == 3
    # Redis's clock and ours differ by a round trip: allow one token of slack for it.
    for width in (0.1, 0.25, 1.0):
        assert most_in_any_window(admitted, width) <= 100 * width + 10 + 1, width


async def test_cancelled_waiters_hand_their_slots_back_to_try_acquire() -> None:
    clock = ManualClock(auto_advance=False)
    limiter = RateLimiter(100, burst=10, clock=clock)
    assert sum(limiter.try_acquire() for _ in range(10)) == 10
    waiters = [asyncio.ensure_future(limiter.acquire_async()) for _ in range(177)]
    await asyncio.sleep(0)
    for waiter in waiters:  # cancelled in arrival order: each leaves a hole until the last
        waiter.cancel()
    await asyncio.gather(*waiters, return_exceptions=True)
    assert limiter.stats()["cancelled"] == 177
    clock.advance(0.1)
    assert sum(limiter.try_acquire() for _ in range(20)) == 10  # as if they never queued


async def test_cancelling_in_any_order_hands_back_every_slot() -> None:
    clock = ManualClock(auto_advance=False)
    limiter = RateLimiter(100, burst=1, clock=clock)
    assert limiter.try_acquire()
    waiters = [asyncio.ensure_future(limiter.acquire_async()) for _ in range(100)]
    await asyncio.sleep(0)
    for index in random.Random(7).sample(range(100), 100):
        waiters[index].cancel()
        await asyncio.sleep(0)
    await asyncio.gather(*waiters, return_exceptions=True)
    clock.advance(0.01)
    assert limiter.try_acquire()
    assert not limiter.try_acquire()


async def test_a_live_waiter_behind_cancelled_ones_keeps_its_turn() -> None:
    clock = ManualClock(auto_advance=False)
    limiter = RateLimiter(10, burst=1, clock=clock)
    assert limiter.try_acquire()
    early = [asyncio.ensure_future(limiter.acquire_async()) for _ in range(3)]
    await asyncio.sleep(0)
    last = asyncio.ensure_future(limiter.acquire_async())  # admitted at t=0.4
    await asyncio.sleep(0)
    for waiter in early:
        waiter.cancel()
    await asyncio.gather(*early, return_exceptions=True)
    assert not limiter.try_acquire()  # the holes lie in the future: nothing early
    newcomer = asyncio.ensure_future(limiter.acquire_async())
    await clock.advance_async(0.1)
    await newcomer  # took the first hole at t=0.1
    assert clock.monotonic() == pytest.approx(0.1)
    await clock.advance_async(0.3)
    await last


@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["take", "reserve", "cancel", "advance"]),
            st.integers(min_value=0, max_value=10_000),
        ),
        max_size=120,
    )
)
@settings(max_examples=150, deadline=None)
def test_gcra_with_cancellations_never_exceeds_rate_plus_burst(
    steps: list[tuple[str, int]],
) -> None:
    from rebellion.policies.ratelimit._gcra import GcraCore

    core = GcraCore(rate=10.0, per=1.0, burst=3.0)
    now = 0.0
    admitted: list[float] = []  # admission instants of takes and reservations kept
    pending: list[tuple[float, float]] = []  # (at, token) of reservations not yet due
    for action, value in steps:
        if action == "advance":
            now += value / 10_000
            admitted.extend(at for at, _ in pending if at <= now)
            pending = [(at, token) for at, token in pending if at > now]
        elif action == "take":
            if core.take(1, now) == 0.0:
                admitted.append(now)
        elif action == "reserve":
            wait, at, token = core.reserve(1, now, 1.0)
            if token == token:  # not NaN: reserved
                if wait <= 0:
                    admitted.append(now)
                else:
                    pending.append((at, token))
        elif pending:
            at, token = pending.pop(value % len(pending))
            core.give_back(1, at, token, now)
    admitted.extend(at for at, _ in pending)  # the rest are admitted when their time comes
    for width in (0.1, 0.5, 1.0):
        assert most_in_any_window(admitted, width) <= 10 * width + 3 + 1e-9
