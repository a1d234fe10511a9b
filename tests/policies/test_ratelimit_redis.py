"""RedisRateLimiter: one limit shared through Redis, degradation and recovery."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from _redis import RedisServer
from rebellion import (
    ConfigError,
    RateLimitedError,
    RateLimiterDegraded,
    RateLimiterRecovered,
    RedisRateLimiter,
)
from rebellion.testing import ManualClock, RecordingListener

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({}, "url"),
        ({"url": 6379}, "url"),
        ({"url": "redis://x", "rate": 0}, "rate"),
        ({"url": "redis://x", "burst": 0}, "burst"),
        ({"url": "redis://x", "processes": 0}, "processes"),
        ({"url": "redis://x", "retry_interval": 0}, "retry_interval"),
        ({"url": "redis://x", "socket_timeout": -1}, "socket_timeout"),
        ({"url": "redis://x", "namespace": ""}, "namespace"),
        ({"url": "redis://x", "max_wait": -1}, "max_wait"),
        ({"url": "redis://x", "clock": 1}, "clock"),
    ],
)
def test_rejects_bad_settings_naming_the_parameter(kwargs: dict[str, Any], parameter: str) -> None:
    kwargs.setdefault("rate", 10)
    with pytest.raises(ConfigError) as caught:
        RedisRateLimiter(**kwargs)
    assert caught.value.parameter == parameter


def test_two_limiters_with_one_name_share_one_bucket(redis_url: str, redis_namespace: str) -> None:
    a, b = (
        RedisRateLimiter(
            rate=1, per=60, burst=3, url=redis_url, namespace=redis_namespace, name="shared"
        )
        for _ in range(2)
    )
    try:
        assert [a.try_acquire(), b.try_acquire(), a.try_acquire()] == [True, True, True]
        assert not b.try_acquire()
        assert not a.try_acquire()
        assert (a.stats()["admitted"], b.stats()["rejected"]) == (2, 1)
        assert a.stats()["backend"] == "redis"
    finally:
        a.close()
        b.close()


def test_the_key_expires_when_the_bucket_would_be_full_again(
    redis_url: str, redis_namespace: str
) -> None:
    import redis

    limiter = RedisRateLimiter(rate=10, burst=2, url=redis_url, namespace=redis_namespace)
    client = redis.Redis.from_url(redis_url)
    try:
        assert limiter.try_acquire(2)
        ttl = client.pttl(limiter.key)
        assert 0 < ttl <= 201  # two tokens at 10/s: full again in 200 ms
    finally:
        client.close()
        limiter.close()


def test_acquire_waits_the_time_redis_computed(redis_url: str, redis_namespace: str) -> None:
    clock = ManualClock()
    limiter = RedisRateLimiter(
        rate=10, burst=1, url=redis_url, namespace=redis_namespace, clock=clock
    )
    try:
        limiter.acquire()
        limiter.acquire()  # reserved by the script; slept on the injected clock
        assert clock.sleeps == [pytest.approx(0.1, abs=0.01)]
        with pytest.raises(RateLimitedError) as caught:
            limiter.acquire(max_wait=0.01)
        assert caught.value.retry_after == pytest.approx(0.2, abs=0.02)
    finally:
        limiter.close()


async def test_async_client_and_policy_share_the_limit(
    redis_url: str, redis_namespace: str
) -> None:
    limiter = RedisRateLimiter(rate=1, per=60, burst=2, url=redis_url, namespace=redis_namespace)
    try:

        @limiter
        async def ping() -> str:
            return "pong"

        assert await ping() == "pong"
        await limiter.acquire_async()
        with pytest.raises(RateLimitedError):
            await ping()
        assert not limiter.try_acquire()  # the sync client sees the same bucket
    finally:
        await limiter.aclose()


def test_degrades_to_a_local_share_and_returns_when_redis_is_back(
    redis_server: RedisServer,
) -> None:
    clock = ManualClock()
    listener: RecordingListener[Any] = RecordingListener()
    limiter = RedisRateLimiter(
        rate=100,
        burst=10,
        processes=4,
        retry_interval=5.0,
        url=redis_server.url,
        clock=clock,
        listeners=[listener],
    )
    try:
        assert limiter.try_acquire()
        redis_server.stop()
        results = [limiter.try_acquire() for _ in range(5)]  # no exception reaches callers
        # Local share: burst 10/4 = 2.5, of which the admission through Redis took one.
        assert results == [True, False, False, False, False]
        stats = limiter.stats()
        assert (stats["backend"], stats["degraded"], stats["local_rate"]) == ("local", True, 25)
        [degraded] = listener.of_type(RateLimiterDegraded)
        assert "Connection" in degraded.reason
        redis_server.start()
        assert not limiter.try_acquire()  # not retried before retry_interval
        clock.advance(5.0)
        assert limiter.try_acquire()  # probed Redis: shared again
        assert limiter.stats()["backend"] == "redis"
        [recovered] = listener.of_type(RateLimiterRecovered)
        assert recovered.downtime == pytest.approx(5.0)
    finally:
        limiter.close()


async def test_async_callers_see_no_exception_while_redis_is_down(
    redis_server: RedisServer,
) -> None:
    clock = ManualClock()
    limiter = RedisRateLimiter(
        rate=100, burst=4, retry_interval=1.0, max_wait=0.5, url=redis_server.url, clock=clock
    )
    try:
        await limiter.acquire_async()
        redis_server.stop()

        @limiter
        async def work() -> int:
            return 1

        assert sum([await work() for _ in range(6)]) == 6  # local bucket, short waits
        assert limiter.degraded
        redis_server.start()
        clock.advance(1.0)
        await limiter.acquire_async()
        assert not limiter.degraded
    finally:
        await limiter.aclose()


_WORKER = """
import sys
import redis
from rebellion import RedisRateLimiter
url, namespace, rate, burst = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
limiter = RedisRateLimiter(rate=rate, burst=burst, url=url, namespace=namespace, name="fleet")
client = redis.Redis.from_url(url)
# Warm up (import, connect, load the script) on another key, then say so and wait for
# the go signal: every process starts at once, however slowly each one started.
RedisRateLimiter(rate=1, url=url, namespace=namespace, name="warm-up").try_acquire()
print("ready", flush=True)
client.blpop([namespace + ":go"], timeout=60)
while True:
    limiter.acquire()
    counted = client.pipeline().incr(namespace + ":admitted").get(namespace + ":stop")
    if counted.execute()[1]:
        break
limiter.close()
client.close()
"""


def _admitted_at(client: Any, namespace: str) -> tuple[float, int]:
    """Read Redis TIME and the admission count in one atomic transaction."""
    (seconds, micros), count = client.pipeline().time().get(f"{namespace}:admitted").execute()
    return seconds + micros / 1e6, int(count or 0)


@pytest.mark.e2e
def test_four_processes_share_one_limit_within_five_percent(
    redis_url: str, redis_namespace: str
) -> None:
    import redis

    rate, burst, processes = 100.0, 10, 4
    env = {"PYTHONPATH": str(SRC)}
    client = redis.Redis.from_url(redis_url)
    args = [redis_url, redis_namespace, str(rate), str(burst)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for _ in range(processes)
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None
            assert proc.stdout.readline().strip() == "ready", proc.stderr
        client.rpush(f"{redis_namespace}:go", *["go"] * processes)
        # Measure in steady state, on Redis's clock: the test's own scheduling on a busy
        # machine shifts when it reads, never what it reads.
        deadline = time.monotonic() + 60
        while _admitted_at(client, redis_namespace)[1] < 2 * burst:
            assert time.monotonic() < deadline, "the workers admitted nothing"
            time.sleep(0.05)
        start, first = _admitted_at(client, redis_namespace)
        while _admitted_at(client, redis_namespace)[0] - start < 3.0:
            time.sleep(0.1)
        end, last = _admitted_at(client, redis_namespace)
    finally:
        client.set(f"{redis_namespace}:stop", 1)
        outputs = [proc.communicate(timeout=60) for proc in procs]
        client.close()
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    expected = rate * (end - start)
    # One admission per process may be counted a step late at either edge.
    assert abs((last - first) - expected) <= 0.05 * expected + processes, (last - first, expected)
