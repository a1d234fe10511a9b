"""AnomalyDetector / AnomalyDetectorBank: calibration, causality, equivalence, bad input."""

from __future__ import annotations

import importlib.util
import math
import sys
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebellion.errors import ConfigError
from rebellion.metrics import AnomalyDetector, AnomalyDetectorBank, anomaly_params

T0 = 1_700_000_000.0  # an epoch second at midnight UTC is not needed: any start works
STEP = 900.0  # quarter-hour samples: a few days of history stay cheap to simulate
ALERT = 0.5
NAB_DIR = Path(__file__).parents[2] / "benchmarks" / "nab"


def run(values: np.ndarray, stamps: np.ndarray | None = None, **settings: float) -> np.ndarray:
    detector = AnomalyDetector(**settings)
    if stamps is None:
        return np.array([detector.update(float(v)) for v in values])
    return np.array(
        [detector.update(float(v), float(t)) for v, t in zip(values, stamps, strict=False)]
    )


def test_scores_stay_in_unit_interval_on_a_random_walk() -> None:
    walk = np.random.default_rng(0).normal(size=600).cumsum() * 1e3
    scores = run(walk)
    assert np.all((scores >= 0.0) & (scores <= 1.0))
    assert np.all(scores[:100] == 0.0)  # warm-up


def test_spike_in_noise_scores_high_and_ordinary_noise_scores_low() -> None:
    values = np.random.default_rng(1).normal(50.0, 5.0, 1000)
    values[900] = 120.0
    scores = run(values)
    assert scores[900] == 1.0
    late = np.delete(scores[600:], 300)
    assert np.median(late) < 0.1
    # Gaussian tails still set new records now and then (novelty); they thin out as 1/n.
    assert np.count_nonzero(late >= ALERT) <= 0.01 * late.size


def test_daily_seasonal_noise_rarely_alerts_once_learnt() -> None:
    rng = np.random.default_rng(2)
    stamps = T0 + STEP * np.arange(900)
    values = 100.0 + 30.0 * np.sin(2 * np.pi * stamps / 86400.0) + rng.normal(0.0, 3.0, 900)
    scores = run(values, stamps)
    assert np.count_nonzero(scores[400:] >= ALERT) <= 1
    assert np.median(scores[400:]) < 0.1


def test_value_wrong_for_the_time_of_day_is_flagged_with_timestamps_only() -> None:
    rng = np.random.default_rng(3)
    stamps = T0 + STEP * np.arange(700)
    values = 100.0 + 30.0 * np.sin(2 * np.pi * stamps / 86400.0) + rng.normal(0.0, 1.0, 700)
    peak = 560 + int(np.argmax(values[560:656]))
    values[peak : peak + 4] = 100.0  # mid-range value for an hour, right at the daily peak
    with_time = run(values, stamps)
    without = run(values)
    assert with_time[peak : peak + 4].max() >= ALERT
    assert without[peak : peak + 4].max() < with_time[peak : peak + 4].max()


def test_idle_metric_then_burst_alerts_once_per_episode() -> None:
    values = np.zeros(500)
    values[[300, 305, 450]] = [5.0, 6.0, 7.0]
    scores = run(values)
    assert np.all(np.isfinite(scores))
    assert scores[300] >= ALERT
    assert scores[305] < ALERT  # same episode: within the rest period
    assert scores[450] >= ALERT
    assert np.count_nonzero(scores >= ALERT) == 2


def test_level_shift_is_detected_then_adapted_to() -> None:
    rng = np.random.default_rng(4)
    values = np.r_[rng.normal(10.0, 1.0, 600), rng.normal(30.0, 1.0, 900)]
    scores = run(values)
    assert scores[600] >= ALERT
    assert scores[1100:].max() < ALERT


def test_score_at_t_does_not_depend_on_later_points() -> None:
    rng = np.random.default_rng(5)
    values = rng.normal(size=500).cumsum()
    stamps = T0 + 3600.0 * np.arange(500)  # hourly: the daily profile is in play too
    full = run(values, stamps, warmup=30)
    for cut in (120, 333, 499):
        assert np.array_equal(run(values[:cut], stamps[:cut], warmup=30), full[:cut])


def test_bank_gives_the_same_scores_as_independent_detectors() -> None:
    rng = np.random.default_rng(6)
    n, steps = 5, 400
    values = np.stack(
        [
            rng.normal(0.0, 1.0, steps),
            np.r_[np.zeros(200), rng.poisson(3.0, steps - 200)].astype(float),
            rng.normal(size=steps).cumsum() * 1e6,
            np.sin(np.arange(steps) / 20.0) * 5.0 + rng.normal(0.0, 0.1, steps),
            np.full(steps, 7.0),
        ],
        axis=1,
    )
    values[300, 3] = 50.0
    stamps = T0 + 3600.0 * np.arange(steps)[:, None] + 37.0 * np.arange(n)[None, :]
    gaps = rng.random((steps, n)) < 0.05  # missing samples: NaN in the bank, skipped alone
    bank = AnomalyDetectorBank(n, warmup=50)
    detectors = [AnomalyDetector(warmup=50) for _ in range(n)]
    expected = np.zeros((steps, n))
    got = np.zeros((steps, n))
    for t in range(steps):
        row = np.where(gaps[t], np.nan, values[t])
        got[t] = bank.update_many(row, stamps[t])
        for i, detector in enumerate(detectors):
            if not gaps[t, i]:
                expected[t, i] = detector.update(float(values[t, i]), float(stamps[t, i]))
    assert np.array_equal(got, expected)  # one kernel: bit-for-bit, not merely close
    assert got.max() == 1.0
    for i, detector in enumerate(detectors):
        assert bank.series_stats(i) == {
            k: v for k, v in detector.stats().items() if k not in ("kind", "name")
        }


def test_bank_scores_missing_series_zero_and_leaves_them_untouched() -> None:
    bank = AnomalyDetectorBank(2, warmup=0, rest=0)
    for v in range(30):
        bank.update_many([float(v % 3), float(v % 3)])
    before = bank.series_stats(1)
    scores = bank.update_many([100.0, math.nan])
    assert scores[1] == 0.0
    assert scores[0] == 1.0
    assert bank.series_stats(1) == before


def test_reset_forgets_history() -> None:
    detector = AnomalyDetector(warmup=5)
    first = [detector.update(float(v)) for v in range(50)]
    detector.reset()
    assert detector.stats()["samples"] == 0
    assert [detector.update(float(v)) for v in range(50)] == first
    bank = AnomalyDetectorBank(3, warmup=5)
    for v in range(20):
        bank.update_many([v, -v, 2 * v])
    bank.reset([1])
    assert [bank.series_stats(i)["samples"] for i in range(3)] == [20, 0, 20]
    bank.reset()
    assert bank.stats()["samples"] == 0


def test_stats_is_a_fresh_snapshot() -> None:
    detector = AnomalyDetector(name="cpu", warmup=0)
    for v in (1.0, 2.0, 3.0):
        detector.update(v, datetime(2024, 1, 1, tzinfo=UTC))
    snap = detector.stats()
    assert snap["kind"] == "anomaly_detector"
    assert snap["name"] == "cpu"
    assert (snap["samples"], snap["low"], snap["high"]) == (3, 1.0, 3.0)
    snap["samples"] = 99
    assert detector.stats()["samples"] == 3
    bank = AnomalyDetectorBank(2, name="hosts")
    assert bank.stats()["n_series"] == 2
    assert bank.stats()["name"] == "hosts"


def test_naive_datetimes_are_read_as_utc() -> None:
    a, b = AnomalyDetector(warmup=0), AnomalyDetector(warmup=0)
    for i in range(150):
        naive = datetime(2024, 1, 1) + (datetime(2024, 1, 1, 1) - datetime(2024, 1, 1)) * i
        v = float(i % 13)
        assert a.update(v, naive) == b.update(v, naive.replace(tzinfo=UTC).timestamp())


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("alpha", 0.0),
        ("alpha", 1.5),
        ("likelihood_rate", -0.1),
        ("smoothing", 0),
        ("smoothing", 2.5),
        ("warmup", -1),
        ("novelty_tolerance", -0.1),
        ("novelty_tolerance", math.nan),
        ("rest", -3),
        ("alert_level", 0.0),
        ("alert_level", 1.1),
        ("season_bins", -1),
        ("season_period", 0.0),
        ("season_rate", 0.0),
        ("season_trust", -1.0),
        ("warmup", True),
    ],
)
def test_bad_parameters_raise_config_error_naming_them(parameter: str, value: object) -> None:
    with pytest.raises(ConfigError, match=parameter):
        AnomalyDetector(**{parameter: value})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=parameter):
        AnomalyDetectorBank(3, **{parameter: value})  # type: ignore[arg-type]


def test_bad_constructor_arguments() -> None:
    with pytest.raises(ConfigError, match="n_series"):
        AnomalyDetectorBank(0)
    with pytest.raises(ConfigError, match="name"):
        AnomalyDetector(name="")
    assert anomaly_params(novelty_tolerance=None).tolerance == math.inf


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_values_are_rejected(value: float) -> None:
    detector = AnomalyDetector()
    with pytest.raises(ValueError, match="value must be finite"):
        detector.update(value)
    assert detector.stats()["samples"] == 0


@pytest.mark.parametrize("value", ["1.0", None, True, [1.0]])
def test_non_numeric_values_are_rejected(value: object) -> None:
    with pytest.raises(TypeError, match="value must be a real number"):
        AnomalyDetector().update(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("stamp", [math.nan, math.inf, "noon"])
def test_bad_timestamps_are_rejected(stamp: object) -> None:
    with pytest.raises((TypeError, ValueError), match="timestamp"):
        AnomalyDetector().update(1.0, stamp)  # type: ignore[arg-type]


def test_bank_rejects_bad_batches() -> None:
    bank = AnomalyDetectorBank(3)
    with pytest.raises(ValueError, match="shape"):
        bank.update_many([1.0, 2.0])
    with pytest.raises(ValueError, match="finite"):
        bank.update_many([1.0, math.inf, 2.0])
    with pytest.raises(ValueError, match="numbers"):
        bank.update_many(["a", "b", "c"])
    with pytest.raises(ValueError, match="timestamps"):
        bank.update_many([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(IndexError):
        bank.reset([3])
    with pytest.raises(IndexError):
        bank.series_stats(-1)
    assert bank.stats()["samples"] == 0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False, width=64), min_size=1, max_size=150),
    st.integers(min_value=0, max_value=20),
)
def test_any_finite_sequence_scores_in_unit_interval(values: list[float], warmup: int) -> None:
    detector = AnomalyDetector(warmup=warmup)
    for i, v in enumerate(values):
        score = detector.update(v, T0 + 60.0 * i)
        assert 0.0 <= score <= 1.0


def _load_nab_scorer() -> ModuleType:
    spec = importlib.util.spec_from_file_location("nab_score", NAB_DIR / "nab_score.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("nab_score", module)
    spec.loader.exec_module(module)
    return module


def test_scores_real_nab_series_well() -> None:
    nab = _load_nab_scorer()
    corpus = nab.load_corpus(
        str(NAB_DIR), "realAWSCloudwatch/ec2_cpu_utilization_5f5533.csv"
    ) + nab.load_corpus(str(NAB_DIR), "realAWSCloudwatch/elb_request_count_8c0756.csv")
    n = min(s.n for s in corpus)
    bank = AnomalyDetectorBank(len(corpus))
    values = np.stack([s.values[:n] for s in corpus], axis=1)
    stamps = np.stack(
        [[t.replace(tzinfo=UTC).timestamp() for t in s.timestamps[:n]] for s in corpus],
        axis=1,
    )
    scores = np.stack([bank.update_many(values[t], stamps[t]) for t in range(n)], axis=1)
    result = nab.evaluate(corpus, list(scores), ["standard"])["standard"]
    assert result["windows_hit"] == 4
    assert result["fp_rows"] == 0
    assert result["score"] > 90.0
