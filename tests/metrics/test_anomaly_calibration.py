"""AnomalyDetector: calibrated scores, suppression, causality and bounds on settings."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebellion.errors import ConfigError
from rebellion.metrics.anomaly import AnomalyDetector, AnomalyDetectorBank

ALERT = 0.5  # the default alert level: p = 1e-5
NOMINAL = 1e-5
T0 = 1_700_000_000.0


def bank_scores(values: np.ndarray, **settings: float | int | None) -> np.ndarray:
    bank = AnomalyDetectorBank(values.shape[1], **settings)
    return np.stack([bank.update_many(row) for row in values])


def noise(rng: np.random.Generator, steps: int, per_kind: int) -> np.ndarray:
    """Columns of Gaussian, Laplace and Poisson noise, each kind at three scales."""
    kinds = (
        rng.normal(size=(steps, per_kind)),
        rng.laplace(size=(steps, per_kind)),
        rng.poisson(5.0, size=(steps, per_kind)).astype(float),
    )
    return np.hstack([kind * scale for kind in kinds for scale in (1e-6, 1.0, 1e6)])


def test_calibrated_tests_alert_at_about_the_nominal_rate_on_noise_of_any_scale() -> None:
    values = noise(np.random.default_rng(7), 1600, 10)
    scores = bank_scores(values, novelty_tolerance=None)[200:]  # after the warm-up
    rate = np.count_nonzero(scores >= ALERT) / scores.size
    # Level, change and season tests are each calibrated to p = 1e-5 per sample (the
    # level and change pair Bonferroni-corrected): about one alert in 126,000 samples.
    assert rate <= 5 * NOMINAL
    assert np.median(scores) < 0.05


def test_scores_are_the_same_whatever_the_unit_of_the_metric() -> None:
    rng = np.random.default_rng(8)
    base = rng.normal(50.0, 5.0, 900)
    base[[500, 800]] += [60.0, -45.0]
    values = np.stack([base * scale for scale in (1.0, 1e-6, 1e6, 1024.0)], axis=1)
    scores = bank_scores(values)
    for column in range(1, values.shape[1]):
        np.testing.assert_allclose(scores[:, column], scores[:, 0], rtol=0.0, atol=1e-9)
    assert scores[500, 0] == 1.0


def test_novelty_false_alarms_on_noise_thin_out_as_history_grows() -> None:
    # "Never seen before" is not a tail probability: a record of n samples turns up about
    # once in n, so its false alarms on pure noise fall as the history grows.
    scores = bank_scores(np.random.default_rng(9).normal(size=(3000, 60)))
    early = np.count_nonzero(scores[100:600] >= ALERT) / scores[100:600].size
    late = np.count_nonzero(scores[1500:] >= ALERT) / scores[1500:].size
    assert late < early / 2
    assert late <= 1e-3


def test_a_metric_that_turns_erratic_is_flagged_by_the_change_test() -> None:
    # A wandering metric whose steps grow fivefold at sample 1200 while it stays near its
    # level: the level test needs long to notice, the recent step sizes show it at once.
    rng = np.random.default_rng(10)
    values = 50.0 + 0.1 * rng.normal(size=(1300, 8)).cumsum(axis=0)
    values[1200:] = values[1200] + 0.5 * rng.normal(size=(100, 8)).cumsum(axis=0)
    scores = bank_scores(values, novelty_tolerance=None)
    assert scores[200:1200].max() < ALERT
    assert np.all(scores[1200:1215].max(axis=0) >= ALERT)


def test_a_sustained_shift_too_small_for_the_level_test_is_flagged_by_the_shift_test() -> None:
    # Two and a half scales, one way, for good: each sample alone is unremarkable, the
    # mean of the last ten is not.
    rng = np.random.default_rng(14)
    values = rng.normal(size=(1000, 12))
    values[900:] += 2.5
    scores = bank_scores(values, novelty_tolerance=None)
    assert scores[100:900].max() < ALERT
    assert np.all(scores[900:915].max(axis=0) >= ALERT)


def _run(values: np.ndarray, detector: AnomalyDetector) -> list[float]:
    return [detector.update(float(v)) for v in values]


def test_one_episode_raises_one_alert_then_the_detector_rests() -> None:
    rng = np.random.default_rng(11)
    values = np.r_[rng.normal(10.0, 1.0, 400), rng.normal(40.0, 1.0, 20), rng.normal(10.0, 1.0, 60)]
    detector = AnomalyDetector(rest=30)
    scores = np.array(_run(values, detector))
    first = 400 + int(np.argmax(scores[400:] >= ALERT))
    assert first < 403
    resting = scores[first + 1 : first + 31]
    assert resting.max() < ALERT  # the rest of the episode is capped just below the level
    assert resting.max() == pytest.approx(ALERT, abs=1e-12)  # still plainly anomalous
    assert detector.stats()["alerts"] == np.count_nonzero(scores >= ALERT)


def test_rest_zero_lets_every_anomalous_sample_alert() -> None:
    rng = np.random.default_rng(12)
    values = np.r_[rng.normal(10.0, 1.0, 300), [60.0, 80.0, 100.0, 120.0]]  # new records
    rested = np.array(_run(values, AnomalyDetector()))
    eager = np.array(_run(values, AnomalyDetector(rest=0)))
    assert np.count_nonzero(rested[300:] >= ALERT) == 1
    assert np.count_nonzero(eager[300:] >= ALERT) == 4


def test_resting_counts_down_in_stats() -> None:
    detector = AnomalyDetector(warmup=20, rest=5)
    for i in range(200):
        detector.update(float(i % 3))
    assert detector.update(1e6) >= ALERT
    assert detector.stats()["resting_for"] == 5
    detector.update(1.0)
    assert detector.stats()["resting_for"] == 4


finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(finite, min_size=2, max_size=160),
    st.integers(min_value=1, max_value=159),
    st.integers(min_value=0, max_value=30),
    st.sampled_from([None, 60.0, 3600.0]),
)
def test_scores_of_a_prefix_do_not_change_when_data_is_appended(
    values: list[float], cut: int, warmup: int, step: float | None
) -> None:
    cut = min(cut, len(values) - 1)

    def scores(xs: list[float]) -> list[float]:
        detector = AnomalyDetector(warmup=warmup, rest=3, season_bins=24)
        return [
            detector.update(v, None if step is None else T0 + step * i) for i, v in enumerate(xs)
        ]

    assert scores(values)[:cut] == scores(values[:cut])


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.lists(st.one_of(finite, st.just(math.nan)), min_size=3, max_size=3), min_size=2),
    st.data(),
)
def test_bank_scores_of_a_prefix_do_not_change_when_rows_are_appended(
    rows: list[list[float]], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(min_value=1, max_value=len(rows) - 1))

    def scores(block: list[list[float]]) -> np.ndarray:
        bank = AnomalyDetectorBank(3, warmup=5, rest=2)
        return np.stack([bank.update_many(row, T0 + 300.0 * i) for i, row in enumerate(block)])

    assert np.array_equal(scores(rows)[:cut], scores(rows[:cut]))


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("rest", 10**100),
        ("warmup", 10**100),
        ("smoothing", 10**100),
        ("season_bins", 10**100),
        ("season_period", 1e300),
        ("season_trust", 1e300),
        ("novelty_tolerance", 1e300),
        ("alpha", math.inf),
        ("likelihood_rate", math.nan),
        ("alert_level", "high"),
        ("rest", 2.0),
    ],
)
def test_huge_or_malformed_settings_raise_config_error_naming_them(
    parameter: str, value: object
) -> None:
    with pytest.raises(ConfigError, match=parameter) as caught:
        AnomalyDetector(**{parameter: value})  # type: ignore[arg-type]
    assert caught.value.args  # the message quotes the rule and the value
    with pytest.raises(ConfigError, match=parameter):
        AnomalyDetectorBank(2, **{parameter: value})  # type: ignore[arg-type]


def test_a_huge_bank_is_refused_before_any_allocation() -> None:
    with pytest.raises(ConfigError, match="n_series"):
        AnomalyDetectorBank(10**100)


def test_largest_accepted_settings_still_score() -> None:
    detector = AnomalyDetector(rest=10**9, warmup=10**9, season_period=1e9, season_trust=1e6)
    assert detector.update(1.0, T0) == 0.0
    assert detector.update(1e200, T0 + 1.0) == 0.0  # still warming up
