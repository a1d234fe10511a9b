"""The breaker against a small reference model (Hypothesis stateful testing), and
exact accounting under many threads."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from rebellion import CircuitOpenError
from rebellion.policies.circuit_breaker import CircuitBreaker, CircuitState
from rebellion.testing import ManualClock


@dataclass
class Model:
    """The consecutive-failure breaker, written as plainly as possible."""

    threshold: int
    reset_timeout: float
    factor: float
    cap: float
    success_threshold: int
    slow_after: float | None
    state: str = "CLOSED"
    override: str | None = None
    consecutive: int = 0
    level: int = 0
    open_until: float = 0.0
    probe_successes: int = 0

    def public_state(self, now: float) -> str:
        if self.override in ("FORCED_OPEN", "ISOLATED", "DISABLED"):
            return self.override
        if self.state == "OPEN" and now >= self.open_until:
            self.state, self.probe_successes = "HALF_OPEN", 0
        return self.state

    def call(self, now: float, failed: bool, duration: float) -> str:
        """Return "rejected" or "ran", updating the model."""
        state = self.public_state(now)
        if state in ("FORCED_OPEN", "ISOLATED"):
            return "rejected"
        if state == "DISABLED":
            return "ran"
        if state == "OPEN":
            return "rejected"
        end = now + duration
        bad = failed or (self.slow_after is not None and duration >= self.slow_after)
        if state == "HALF_OPEN":
            if bad:
                self.level += 1
                self._open(end)
            else:
                self.probe_successes += 1
                if self.probe_successes >= self.success_threshold:
                    self._close()
            return "ran"
        if bad:
            self.consecutive += 1
            if self.consecutive >= self.threshold:
                self._open(end)
        else:
            self.consecutive = 0
        return "ran"

    def _open(self, now: float) -> None:
        self.state = "OPEN"
        self.consecutive = 0
        self.open_until = now + min(self.reset_timeout * self.factor**self.level, self.cap)

    def _close(self) -> None:
        self.state, self.consecutive, self.level = "CLOSED", 0, 0

    def force(self, override: str | None) -> None:
        self.override = override
        if override is None:
            self._close()


class BreakerMachine(RuleBasedStateMachine):
    @initialize(
        threshold=st.integers(1, 4),
        reset_timeout=st.sampled_from([1.0, 5.0, 30.0]),
        factor=st.sampled_from([1.0, 1.5, 2.0]),
        success_threshold=st.integers(1, 3),
        slow_after=st.sampled_from([None, 2.0]),
    )
    def setup(
        self,
        threshold: int,
        reset_timeout: float,
        factor: float,
        success_threshold: int,
        slow_after: float | None,
    ) -> None:
        self.clock = ManualClock()
        cap = reset_timeout * 4
        self.breaker = CircuitBreaker(
            name="model",
            failure_threshold=threshold,
            reset_timeout=reset_timeout,
            exponential_backoff_factor=factor,
            max_reset_timeout=cap,
            success_threshold=success_threshold,
            slow_call_duration=slow_after,
            clock=self.clock,
        )
        self.model = Model(threshold, reset_timeout, factor, cap, success_threshold, slow_after)

    @rule(failed=st.booleans(), duration=st.sampled_from([0.0, 0.5, 3.0]))
    def call(self, failed: bool, duration: float) -> None:
        expected = self.model.call(self.clock.monotonic(), failed, duration)

        def callee() -> str:
            self.clock.advance(duration)
            if failed:
                raise ConnectionError("boom")
            return "ok"

        try:
            self.breaker.call(callee)
            outcome = "ran"
        except ConnectionError:
            outcome = "ran"
        except CircuitOpenError:
            outcome = "rejected"
        assert outcome == expected

    @rule(seconds=st.sampled_from([0.5, 1.0, 5.0, 30.0, 200.0]))
    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)

    @rule(action=st.sampled_from(["force_open", "isolate", "disable", "force_close", "reset"]))
    def operate(self, action: str) -> None:
        getattr(self.breaker, action)()
        overrides = {"force_open": "FORCED_OPEN", "isolate": "ISOLATED", "disable": "DISABLED"}
        self.model.force(overrides.get(action))

    @invariant()
    def same_state(self) -> None:
        if hasattr(self, "breaker"):
            now = self.clock.monotonic()
            assert self.breaker.state.value == self.model.public_state(now)


TestBreakerAgainstModel = BreakerMachine.TestCase
TestBreakerAgainstModel.settings = settings(max_examples=150, stateful_step_count=40, deadline=None)


@pytest.mark.parametrize("window_type", ["consecutive", "count"])
def test_counts_add_up_exactly_under_8_threads(window_type: str) -> None:
    cb = CircuitBreaker(
        name="threads",
        failure_threshold=10**9,
        window_type=window_type,
        window_size=100,
        failure_rate_threshold=1.0,
        minimum_calls=10**6,
    )
    per_thread = 20_000
    barrier = threading.Barrier(8)

    def ok() -> int:
        return 1

    def boom() -> None:
        raise ValueError("counted")

    guarded_ok = cb(ok)

    def worker(index: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            if (i + index) % 10 == 0:
                try:
                    cb.call(boom)
                except ValueError:
                    pass
            else:
                guarded_ok()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = cb.stats()
    assert stats["state"] == "CLOSED"
    assert stats["successful_calls"] + stats["failed_calls"] == 8 * per_thread
    assert stats["failed_calls"] == 8 * per_thread // 10
    if window_type == "count":
        assert stats["window_calls"] == 100


def test_threads_share_one_state_when_the_breaker_opens() -> None:
    clock = ManualClock()
    cb = CircuitBreaker(name="threads", failure_threshold=50, reset_timeout=60, clock=clock)
    outcomes: list[str] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(100):
            try:
                cb.call(lambda: (_ for _ in ()).throw(ConnectionError()))
                result = "ran"
            except ConnectionError:
                result = "failed"
            except CircuitOpenError:
                result = "rejected"
            with lock:
                outcomes.append(result)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cb.state == CircuitState.OPEN
    # Calls already running when it opened may still fail, but never more than 8 late ones.
    assert 50 <= outcomes.count("failed") <= 50 + 8
    assert outcomes.count("rejected") == 800 - outcomes.count("failed")
    assert cb.stats()["transitions"] == 1
