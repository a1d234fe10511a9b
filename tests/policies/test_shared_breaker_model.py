"""The shared breaker decides exactly as the in-process breaker with the same settings.

A Hypothesis state machine drives a ``SharedCircuitBreaker`` (its decisions taken by
the Lua script in real Redis) and a ``CircuitBreaker`` (the reference) through the same
calls (fast or slow, succeeding or failing) and clock moves, each on its own
``ManualClock`` kept in step, and checks that every call gets the same answer, the
states agree and, while closed, the windows hold the same counts.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from _redis import REDIS_HOST, REDIS_PORT, TEST_DB, require_redis
from rebellion.errors import CircuitOpenError
from rebellion.policies.circuit_breaker import CircuitBreaker
from rebellion.policies.circuit_breaker.shared import SharedCircuitBreaker
from rebellion.testing import ManualClock

URL = f"redis://{REDIS_HOST}:{REDIS_PORT}/{TEST_DB}"
COMMON: dict[str, Any] = {
    "reset_timeout": 10,
    "exponential_backoff_factor": 2,
    "max_reset_timeout": 40,
    "half_open_max_calls": 2,
    "success_threshold": 2,
    "slow_call_duration": 1.0,
}
SHAPES: list[dict[str, Any]] = [
    {
        "window_type": "count",
        "window_size": 5,
        "minimum_calls": 3,
        "failure_rate_threshold": 0.5,
        "slow_call_rate_threshold": 0.6,
    },
    {
        "window_type": "time",
        "window_size": 10,
        "window_buckets": 5,
        "minimum_calls": 3,
        "failure_rate_threshold": 0.4,
        "slow_call_rate_threshold": 0.5,
    },
    {"window_type": "consecutive", "failure_threshold": 3},
]


class SharedMatchesInProcess(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.prefix = f"rbtest:model:{uuid.uuid4().hex[:12]}"
        self.made: list[SharedCircuitBreaker] = []

    @initialize(shape=st.sampled_from(SHAPES))
    def build(self, shape: dict[str, Any]) -> None:
        self.shared_clock = ManualClock(wall_start=0.0)
        self.local_clock = ManualClock(wall_start=0.0)
        self.shared = SharedCircuitBreaker(
            "model",
            URL,
            key_prefix=self.prefix,
            refresh_interval=0.0,
            clock=self.shared_clock,
            **COMMON,
            **shape,
        )
        self.made.append(self.shared)
        self.reference = CircuitBreaker(
            "model-reference", clock=self.local_clock, **COMMON, **shape
        )

    def _answer(self, breaker: Any, clock: ManualClock, duration: float, fails: bool) -> str:
        def callee() -> str:
            clock.advance(duration)
            if fails:
                raise ConnectionError("down")
            return "ok"

        try:
            return str(breaker.call(callee))
        except ConnectionError:
            return "failed"
        except CircuitOpenError as error:
            return f"rejected {error.state}"

    # Mostly fast successes, so windows fill, roll over and stay closed for a while.
    @rule(
        duration=st.sampled_from([0.0, 0.0, 0.0, 0.5, 1.5]),
        fails=st.sampled_from([False, False, False, True]),
    )
    def call(self, duration: float, fails: bool) -> None:
        got = self._answer(self.shared, self.shared_clock, duration, fails)
        want = self._answer(self.reference, self.local_clock, duration, fails)
        assert got == want

    @rule(seconds=st.sampled_from([0.5, 2.0, 5.0, 10.0, 25.0]))
    def advance(self, seconds: float) -> None:
        self.shared_clock.advance(seconds)
        self.local_clock.advance(seconds)

    @invariant()
    def same_state_and_window(self) -> None:
        if not hasattr(self, "shared"):
            return
        mine, theirs = self.shared.stats(), self.reference.stats()
        assert mine.state == theirs.state
        if mine.state == "CLOSED":
            assert (mine.window_calls, mine.window_failures) == (
                theirs.window_calls,
                theirs.window_failures,
            )
            assert mine.slow_call_rate == pytest.approx(theirs.slow_call_rate)
        assert (mine.successes, mine.failures, mine.rejections, mine.slow) == (
            theirs.successes,
            theirs.failures,
            theirs.rejections,
            theirs.slow,
        )

    def teardown(self) -> None:
        import redis

        for breaker in self.made:
            breaker.close()
        client = redis.Redis.from_url(URL)
        try:
            keys = list(client.scan_iter(match=f"{self.prefix}*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


def test_shared_breaker_matches_the_in_process_breaker() -> None:
    require_redis()
    run = SharedMatchesInProcess.TestCase
    run.settings = settings(
        max_examples=80,
        stateful_step_count=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    run().runTest()
