"""ForecastBank: forecasts inside the physical range, models chosen by evidence, intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebellion.errors import ConfigError
from rebellion.metrics.forecast import NON_NEGATIVE, PERCENT, ForecastBank, ValueRange


def fed(values: np.ndarray, *, stamps: np.ndarray | None = None, **options: float) -> ForecastBank:
    bank = ForecastBank(1, **options)  # type: ignore[arg-type]
    for i, v in enumerate(values):
        bank.update([float(v)], None if stamps is None else float(stamps[i]))
    return bank


@st.composite
def histories(draw: st.DrawFn) -> tuple[ValueRange, list[float]]:
    bounded = draw(st.booleans())
    value_range = PERCENT if bounded else NON_NEGATIVE
    top = 100.0 if bounded else draw(st.sampled_from([1.0, 1e3, 1e9]))
    n = draw(st.integers(1, 80))
    start = draw(st.floats(0.0, top))
    drift = draw(st.floats(-top / 5, top / 5))
    noise = draw(st.floats(0.0, top / 3))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    walk = start + drift * np.arange(n) + noise * rng.standard_normal(n)
    walk = np.clip(walk, 0.0, top)
    gaps = draw(st.booleans())
    if gaps:
        walk[rng.random(n) < 0.2] = np.nan
    return value_range, [float(v) for v in walk]


@settings(max_examples=150, deadline=None)
@given(
    histories(),
    st.floats(0.0, 3600.0),
    st.one_of(st.none(), st.floats(0.0, 150.0)),
)
def test_every_forecast_stays_inside_the_metric_range(
    history: tuple[ValueRange, list[float]], horizon: float, limit: float | None
) -> None:
    value_range, values = history
    bank = ForecastBank(1, ranges=value_range, window=20)
    for v in values:
        bank.update([v])
    f = bank.forecast(horizon, thresholds=None if limit is None else [limit])[0]
    for x in (f.value, f.low80, f.high80, f.low95, f.high95):
        assert value_range.low <= x <= value_range.high
    assert f.low95 <= f.low80 <= f.value <= f.high80 <= f.high95
    if f.time_to_threshold is not None:
        assert f.time_to_threshold >= 0.0
        assert f.ttt_low is not None
        assert f.ttt_low <= f.time_to_threshold
        assert f.ttt_high is None or f.ttt_high >= f.time_to_threshold


def test_noise_around_a_level_gets_no_trend_and_no_time_to_threshold() -> None:
    flat = 0
    for seed in range(20):
        noise = 50.0 + 5.0 * np.random.default_rng(seed).standard_normal(300)
        f = fed(noise, ranges=PERCENT).forecast(60.0, thresholds=[90.0])[0]
        flat += f.model == "level" and f.trend == "flat" and f.time_to_threshold is None
    assert flat >= 19


def test_a_steady_climb_is_a_damped_trend_with_an_honest_time_to_full() -> None:
    rng = np.random.default_rng(1)
    ramp = 20.0 + 0.1 * np.arange(300) + rng.standard_normal(300)  # 49.9 % at t = 299
    f = fed(ramp, ranges=PERCENT).forecast(60.0, thresholds=[100.0])[0]
    assert (f.model, f.trend) == ("damped_trend", "rising")
    expected = (100.0 - 49.9) / 0.1
    assert f.time_to_threshold == pytest.approx(expected, rel=0.1)
    assert f.ttt_low is not None
    assert f.ttt_high is not None
    assert f.ttt_low < expected < f.ttt_high
    # Damping: the point forecast does not run ahead of the straight line.
    assert f.value <= 49.9 + 0.1 * 60 + 3.0


def test_a_percentage_falling_fast_is_never_forecast_below_zero() -> None:
    f = fed(np.linspace(90.0, 2.0, 120), ranges=PERCENT, window=60).forecast(600.0)[0]
    assert f.trend == "falling"
    assert f.value == f.low95 == 0.0


def test_daily_seasonality_is_used_once_two_days_are_seen() -> None:
    step = 900.0
    t = 1_700_000_000.0 + step * np.arange(4 * 96)
    daily = 50.0 + 20.0 * np.sin(2 * np.pi * (t % 86400) / 86400)
    rng = np.random.default_rng(3)
    values = daily + rng.standard_normal(t.size)
    one_day = fed(values[:96], stamps=t[:96], sample_interval=step, window=96)
    assert "seasonal" not in one_day.forecast(3600.0)[0].model
    bank = fed(values, stamps=t, sample_interval=step, window=96)
    f = bank.forecast(6 * 3600.0)[0]
    assert f.model.startswith("seasonal_")
    truth = 50.0 + 20.0 * math.sin(2 * math.pi * ((t[-1] + 6 * 3600) % 86400) / 86400)
    assert f.low95 <= truth <= f.high95


def test_the_95_interval_covers_most_one_step_outcomes() -> None:
    rng = np.random.default_rng(7)
    bank = ForecastBank(1, window=50)
    covered = total = 0
    for i in range(2000):
        value = 10.0 + rng.standard_normal()
        if i > 100:
            f = bank.forecast(1.0)[0]
            covered += f.low95 <= value <= f.high95
            total += 1
        bank.update([value])
    assert 0.9 <= covered / total <= 0.99


def test_series_are_independent_and_can_be_added() -> None:
    bank = ForecastBank(1, ranges=[PERCENT], window=10)
    for v in range(20):
        bank.update([float(v)])
    bank.grow([NON_NEGATIVE])
    for v in range(20):
        bank.update([50.0, float("nan") if v % 2 else 5.0])
    _first, second = bank.forecast(5.0)
    assert second.value == pytest.approx(5.0)
    assert second.trend == "flat"
    assert bank.n_series == 2


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"window": 3}, "window"),
        ({"alpha": 0.0}, "alpha"),
        ({"phi": 1.5}, "phi"),
        ({"sample_interval": 0.0}, "sample_interval"),
        ({"ranges": [PERCENT, PERCENT]}, "ranges"),
    ],
)
def test_bad_settings_name_the_parameter(options: dict[str, object], name: str) -> None:
    with pytest.raises(ConfigError, match=name):
        ForecastBank(1, **options)  # type: ignore[arg-type]


def test_bad_ranges_and_inputs_are_refused() -> None:
    with pytest.raises(ConfigError, match="range"):
        ValueRange(5.0, 1.0)
    bank = ForecastBank(2)
    with pytest.raises(ValueError, match="shape"):
        bank.update([1.0])
    with pytest.raises(ValueError, match="finite"):
        bank.update([1.0, math.inf])
    with pytest.raises(ConfigError, match="horizon"):
        bank.forecast(-1.0)
