"""CircuitBreaker.reconfigure: new thresholds now, same state, window and counts."""

from __future__ import annotations

import pytest

from rebellion import CircuitBreaker, CircuitState, ConfigError
from rebellion.testing import ManualClock


def broken() -> None:
    raise ConnectionError("down")


def test_an_open_breaker_stays_open_and_the_next_opening_uses_the_new_timeout() -> None:
    clock = ManualClock()
    breaker = CircuitBreaker("b", failure_threshold=2, reset_timeout=60.0, clock=clock)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            breaker.call(broken)
    before = {k: v for k, v in breaker.stats().items() if k != "time_until_half_open"}
    assert breaker.reconfigure(reset_timeout=120.0, failure_threshold=4) == []
    assert breaker.state is CircuitState.OPEN
    after = {k: v for k, v in breaker.stats().items() if k != "time_until_half_open"}
    assert after == before  # state, counts and window untouched
    clock.advance(60.0)  # the open period already started keeps its deadline
    assert breaker.state is CircuitState.HALF_OPEN
    with pytest.raises(ConnectionError):
        breaker.call(broken)  # the probe fails: open again, now for 120 s
    clock.advance(119.0)
    assert breaker.state is CircuitState.OPEN
    clock.advance(1.0)
    assert breaker.state is CircuitState.HALF_OPEN
    assert breaker.failure_threshold == 4


def test_structural_settings_are_returned_unapplied() -> None:
    breaker = CircuitBreaker("b", window_type="count", window_size=10)
    assert breaker.reconfigure(window_size=20, minimum_calls=3) == ["window_size"]
    assert breaker.config.window_size == 10
    assert breaker.config.minimum_calls == 3


def test_bad_or_unknown_settings_change_nothing() -> None:
    breaker = CircuitBreaker("b", failure_threshold=3)
    with pytest.raises(ConfigError, match="failure_threshold"):
        breaker.reconfigure(failure_threshold=0, reset_timeout=9.0)
    with pytest.raises(ConfigError, match="colour"):
        breaker.reconfigure(colour="red")
    assert (breaker.failure_threshold, breaker.reset_timeout) == (3, 60.0)
    assert breaker.reconfigure(max_failures=7) == []
    assert breaker.failure_threshold == 7
