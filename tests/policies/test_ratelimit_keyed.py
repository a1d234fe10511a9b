"""KeyedRateLimiter: one bucket per key, bounded key memory, waits, policy use."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from rebellion import ConfigError, KeyedRateLimiter, RateLimitedError, RateLimitExceeded
from rebellion.testing import ManualClock, RecordingListener


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"rate": 0}, "rate"),
        ({"rate": 1, "per": -1}, "per"),
        ({"rate": 1, "burst": 0}, "burst"),
        ({"rate": 1, "max_keys": 0}, "max_keys"),
        ({"rate": 1, "max_keys": 2.5}, "max_keys"),
        ({"rate": 1, "key": "user"}, "key"),
        ({"rate": 1, "max_wait": -2}, "max_wait"),
        ({"rate": 1, "name": ""}, "name"),
        ({"rate": 1, "clock": "now"}, "clock"),
    ],
)
def test_rejects_bad_settings_naming_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError) as caught:
        KeyedRateLimiter(**kwargs)
    assert caught.value.parameter == parameter


def test_each_key_has_its_own_bucket() -> None:
    clock = ManualClock()
    listener: RecordingListener[RateLimitExceeded] = RecordingListener()
    limiter = KeyedRateLimiter(rate=2, burst=2, clock=clock, listeners=[listener])
    assert [limiter.try_acquire("a") for _ in range(3)] == [True, True, False]
    assert limiter.try_acquire("b", 2)
    assert listener.of_type(RateLimitExceeded)[0].key == "a"
    clock.advance(0.5)
    assert limiter.try_acquire("a")
    with pytest.raises(ConfigError, match=r"^n must"):
        limiter.try_acquire("a", 3)


def test_lru_eviction_is_bounded_and_counts_keys_evicted_in_debt() -> None:
    clock = ManualClock()
    limiter = KeyedRateLimiter(rate=1, burst=1, max_keys=3, clock=clock)
    for key in "abcd":
        assert limiter.try_acquire(key)
    stats = limiter.stats()
    assert (stats["keys"], stats["evicted"], stats["evicted_in_debt"]) == (3, 1, 1)
    clock.advance(5.0)  # every bucket is full again: evicting loses nothing
    for key in "efg":
        assert limiter.try_acquire(key)
    stats = limiter.stats()
    assert (stats["keys"], stats["evicted"], stats["evicted_in_debt"]) == (3, 4, 1)


def test_recently_used_keys_survive_eviction() -> None:
    clock = ManualClock()
    limiter = KeyedRateLimiter(rate=1, burst=1, max_keys=2, clock=clock)
    limiter.try_acquire("hot")
    limiter.try_acquire("cold")
    assert not limiter.try_acquire("hot")  # refused, but it still counts as a use
    limiter.try_acquire("new")  # evicts "cold", the least recently used
    assert not limiter.try_acquire("hot")  # still remembered, still in debt


def test_acquire_waits_per_key_and_set_rate_applies_to_every_key() -> None:
    clock = ManualClock()
    limiter = KeyedRateLimiter(rate=10, burst=1, clock=clock)
    limiter.acquire("a")
    limiter.acquire("a")
    limiter.acquire("b")
    assert clock.sleeps == pytest.approx([0.1])
    with pytest.raises(RateLimitedError):
        limiter.acquire("a", max_wait=0.01)
    limiter.set_rate(1)
    clock.advance(0.5)
    assert not limiter.try_acquire("b")
    clock.advance(0.5)
    assert limiter.try_acquire("b")


async def test_as_a_policy_the_key_comes_from_the_arguments() -> None:
    clock = ManualClock()
    limiter = KeyedRateLimiter(rate=1, burst=1, key=lambda user, **_: user, clock=clock)

    @limiter
    async def fetch(user: str) -> str:
        return f"data of {user}"

    assert await fetch("ann") == "data of ann"
    assert await fetch("bob") == "data of bob"
    with pytest.raises(RateLimitedError):
        await fetch("ann")
    assert limiter.call(lambda user: user, "cy") == "cy"
    unkeyed = KeyedRateLimiter(rate=1)
    with pytest.raises(ConfigError, match=r"^key"):
        unkeyed.call(lambda: None)


async def test_a_cancelled_waiter_gives_its_key_reservation_back() -> None:
    clock = ManualClock(auto_advance=False)
    limiter = KeyedRateLimiter(rate=1, burst=1, clock=clock)
    await limiter.acquire_async("k")
    waiter = asyncio.create_task(limiter.acquire_async("k"))
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await clock.advance_async(1.0)
    assert limiter.try_acquire("k")
    assert limiter.stats()["cancelled"] == 1


def test_threads_sharing_keys_never_exceed_the_burst() -> None:
    limiter = KeyedRateLimiter(rate=1, burst=50, clock=ManualClock(start=1.0))
    counts: list[int] = []
    lock = threading.Lock()

    def hammer() -> None:
        got = sum(limiter.try_acquire(f"k{i % 4}") for i in range(400))
        with lock:
            counts.append(got)

    threads = [threading.Thread(target=hammer) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sum(counts) == 4 * 50
    stats = limiter.stats()
    assert stats["admitted"] + stats["rejected"] == 2400


def test_a_key_first_seen_after_set_rate_gets_the_new_rate() -> None:
    clock = ManualClock()
    limiter = KeyedRateLimiter(rate=1, burst=1, clock=clock)
    assert limiter.try_acquire("old")
    limiter.set_rate(4, burst=2)
    assert [limiter.try_acquire("new") for _ in range(3)] == [True, True, False]
    clock.advance(0.25)  # one token back at 4 per second
    assert limiter.try_acquire("new")
    assert not limiter.try_acquire("new")


def test_a_key_waits_its_turn_and_refuses_past_max_wait() -> None:
    clock = ManualClock()
    limiter = KeyedRateLimiter(rate=2, burst=1, clock=clock)
    limiter.acquire("k")
    limiter.acquire("k", max_wait=1.0)  # the next turn is 0.5 s away: it sleeps
    assert clock.sleeps == [0.5]
    with pytest.raises(RateLimitedError) as caught:
        limiter.acquire("k", max_wait=0.1)
    assert caught.value.retry_after == pytest.approx(0.5)
    assert limiter.stats().rejections == 1


async def test_blocks_ask_the_key_function_with_no_arguments() -> None:
    import contextvars

    user: contextvars.ContextVar[str] = contextvars.ContextVar("user")
    limiter = KeyedRateLimiter(rate=1, burst=1, key=user.get, clock=ManualClock())
    user.set("ann")
    with limiter:
        pass
    with pytest.raises(RateLimitedError):
        async with limiter:
            pass
    user.set("bob")  # another key, its own bucket
    async with limiter:
        pass
    assert limiter.stats().key_count == 2
