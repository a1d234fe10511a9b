"""Backoff schedules: exact sequences per jitter kind, bounds as properties, bad input."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rebellion import ConfigError
from rebellion.policies._backoff import JITTER_KINDS, Backoff


def take(backoff: Backoff, n: int, rng: random.Random) -> list[float]:
    return list(itertools.islice(backoff.delays(rng), n))


def test_none_grows_exponentially_up_to_the_cap() -> None:
    backoff = Backoff(initial_delay=0.5, max_delay=10.0, backoff_factor=3.0, jitter="none")
    assert take(backoff, 5, random.Random(0)) == pytest.approx([0.5, 1.5, 4.5, 10.0, 10.0])


def test_factor_one_gives_a_constant_delay() -> None:
    backoff = Backoff(initial_delay=0.25, max_delay=1.0, backoff_factor=1.0, jitter="none")
    assert take(backoff, 4, random.Random(0)) == [0.25] * 4


def test_full_jitter_draws_uniformly_below_the_exponential_delay() -> None:
    backoff = Backoff(initial_delay=1.0, max_delay=5.0, backoff_factor=2.0, jitter="full")
    reference = random.Random(42)
    expected = [reference.uniform(0.0, d) for d in (1.0, 2.0, 4.0, 5.0, 5.0)]
    assert take(backoff, 5, random.Random(42)) == pytest.approx(expected)


def test_equal_jitter_keeps_half_and_draws_the_other_half() -> None:
    backoff = Backoff(initial_delay=1.0, max_delay=5.0, backoff_factor=2.0, jitter="equal")
    reference = random.Random(3)
    expected = [d / 2 + reference.uniform(0.0, d / 2) for d in (1.0, 2.0, 4.0, 5.0)]
    assert take(backoff, 4, random.Random(3)) == pytest.approx(expected)


def test_decorrelated_jitter_follows_the_aws_recurrence() -> None:
    backoff = Backoff(initial_delay=0.5, max_delay=4.0, jitter="decorrelated")
    reference = random.Random(11)
    expected, previous = [], 0.5
    for _ in range(8):
        previous = min(4.0, reference.uniform(0.5, previous * 3))
        expected.append(previous)
    assert take(backoff, 8, random.Random(11)) == pytest.approx(expected)


def test_zero_initial_delay_never_waits() -> None:
    for jitter in JITTER_KINDS:
        backoff = Backoff(initial_delay=0.0, max_delay=3.0, jitter=jitter)
        assert take(backoff, 5, random.Random(1)) == [0.0] * 5


def test_huge_attempt_numbers_stay_at_the_cap_without_overflow() -> None:
    backoff = Backoff(initial_delay=0.1, max_delay=30.0, backoff_factor=10.0, jitter="none")
    assert backoff.base_delay(10**6) == 30.0


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ConfigError, match="attempt"):
        Backoff(0.1, 1.0).base_delay(0)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"initial_delay": -1}, "initial_delay"),
        ({"initial_delay": "1"}, "initial_delay"),
        ({"initial_delay": float("nan")}, "initial_delay"),
        ({"initial_delay": 5.0, "max_delay": 1.0}, "initial_delay"),
        ({"max_delay": -0.5}, "max_delay"),
        ({"max_delay": float("inf")}, "max_delay"),
        ({"backoff_factor": 0.5}, "backoff_factor"),
        ({"backoff_factor": True}, "backoff_factor"),
        ({"jitter": "random"}, "jitter"),
        ({"jitter": None}, "jitter"),
    ],
)
def test_bad_settings_name_the_parameter(kwargs: dict[str, object], parameter: str) -> None:
    settings: dict[str, object] = {"initial_delay": 0.1, "max_delay": 2.0, **kwargs}
    with pytest.raises(ConfigError, match=parameter) as caught:
        Backoff(**settings)  # type: ignore[arg-type]
    assert caught.value.parameter == parameter


schedules = st.builds(
    Backoff,
    initial_delay=st.floats(0.0, 10.0),
    max_delay=st.floats(10.0, 1000.0),
    backoff_factor=st.floats(1.0, 10.0),
    jitter=st.sampled_from(JITTER_KINDS),
)


@given(schedules, st.integers(1, 2000), st.integers(0, 2**32))
def test_every_delay_lies_within_zero_and_max_delay(
    backoff: Backoff, attempt: int, seed: int
) -> None:
    rng = random.Random(seed)
    delay = backoff.delay(attempt, None, rng)
    assert 0.0 <= delay <= backoff.max_delay
    base = backoff.base_delay(attempt)
    if backoff.jitter == "none":
        assert delay == base
    elif backoff.jitter == "full":
        assert 0.0 <= delay <= base
    elif backoff.jitter == "equal":
        assert base / 2 <= delay <= base
    else:
        assert backoff.initial_delay <= delay <= backoff.max_delay


@given(schedules, st.integers(0, 2**32))
def test_a_whole_schedule_stays_in_bounds_and_the_base_never_shrinks(
    backoff: Backoff, seed: int
) -> None:
    delays = take(backoff, 40, random.Random(seed))
    assert all(0.0 <= d <= backoff.max_delay for d in delays)
    bases = [backoff.base_delay(n) for n in range(1, 41)]
    assert bases == sorted(bases)
