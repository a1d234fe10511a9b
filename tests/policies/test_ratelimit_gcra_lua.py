"""The Redis GCRA script and the in-process GcraCore admit exactly the same calls.

Both are parameterised by :func:`emission`; this replays random arrival streams through
the real script (on the test database, under a private key) and through ``GcraCore``,
passing the script each arrival time, and compares every decision and wait.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rebellion.policies.ratelimit._gcra import GcraCore, emission
from rebellion.policies.ratelimit._gcra_lua import GCRA_SCRIPT, script_args

# Arrival times are whole ticks; one tick is a million script units (microseconds), so
# every sum is an exact integer in a double on both sides, and a key's expiry (PX, in
# real milliseconds) is at least a thousand seconds: it never lapses during a run.
TICK = 1_000_000.0

arrivals = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=40),  # ticks since the previous arrival
        st.integers(min_value=1, max_value=3),  # tokens asked
        st.integers(min_value=0, max_value=30),  # ticks the caller would wait
    ),
    min_size=1,
    max_size=60,
)


@pytest.fixture
def script(redis_url: str, redis_namespace: str) -> Iterator[tuple[object, str]]:
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        yield client.register_script(GCRA_SCRIPT), f"{redis_namespace}:gcra"
    finally:
        client.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    interval=st.integers(min_value=1, max_value=20),
    burst=st.integers(min_value=3, max_value=8),
    stream=arrivals,
)
def test_script_and_core_admit_the_same_calls(
    script: tuple[object, str], interval: int, burst: int, stream: list[tuple[int, int, int]]
) -> None:
    run, base = script
    key = f"{base}:bucket"
    run.registered_client.delete(key)  # type: ignore[attr-defined]  # the last example's
    # ``per`` in ticks and rate 1: the emission interval is ``interval`` ticks exactly.
    core = GcraCore(rate=1.0, per=float(interval), burst=float(burst))
    assert emission(1.0, float(interval), float(burst)) == (interval, burst * interval)
    now = 0
    try:
        for gap, n, max_wait in stream:
            now += gap
            wait, _, token = core.reserve(n, float(now), float(max_wait))
            args = script_args(1.0, float(interval), float(burst), n, max_wait, 0.0, unit=TICK)
            admitted, wait_units, _ = run(keys=[key], args=[*args, now * TICK])  # type: ignore[operator]
            assert bool(admitted) == (token == token), (now, n, max_wait)
            assert wait_units == math.ceil(max(wait, 0.0) * TICK) or not admitted
            if not admitted:
                assert wait_units == math.ceil(wait * TICK)
    finally:
        run.registered_client.delete(key)  # type: ignore[attr-defined]
