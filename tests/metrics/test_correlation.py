"""Two-sample KS over many series: agrees with a plain reference, ranks real changes first."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rebellion.metrics.correlation import kolmogorov_sf, ks_two_sample, nan_quantiles, rank_changes


def reference_d(a: list[float], b: list[float]) -> float:
    points = sorted(set(a) | set(b))
    return max(
        abs(sum(x <= v for x in a) / len(a) - sum(x <= v for x in b) / len(b)) for v in points
    )


samples = st.lists(st.integers(-5, 5).map(float), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(samples, samples)
def test_statistic_matches_the_definition_with_ties(a: list[float], b: list[float]) -> None:
    d, p = ks_two_sample([a], [b])
    assert d[0] == pytest.approx(reference_d(a, b))
    assert 0.0 <= p[0] <= 1.0


def test_missing_samples_are_ignored_and_empty_rows_score_zero() -> None:
    d, p = ks_two_sample([[1.0, math.nan, 2.0], [math.nan] * 3], [[1.0, 2.0], [1.0, 2.0]])
    assert d.tolist() == [0.0, 0.0]
    assert p.tolist() == [1.0, 1.0]


def test_p_value_follows_the_kolmogorov_tail() -> None:
    assert kolmogorov_sf(np.array([0.0]))[0] == 1.0
    assert kolmogorov_sf(np.array([1.36]))[0] == pytest.approx(0.05, abs=0.002)
    assert kolmogorov_sf(np.array([1.63]))[0] == pytest.approx(0.01, abs=0.001)


def test_rank_changes_puts_the_shifted_metric_first_and_drops_the_unchanged() -> None:
    rng = np.random.default_rng(11)
    baseline = rng.normal(size=(3, 80))
    window = rng.normal(size=(3, 20))
    window[1] += 5.0
    window[2] -= 1.5
    ranked = rank_changes(["a", "b", "c"], window, baseline)
    assert [r["name"] for r in ranked] == ["b", "c"]
    assert ranked[0]["score"] == 1.0
    assert ranked[0]["direction"] == "up"
    assert ranked[1]["direction"] == "down"


def test_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match="rows"):
        ks_two_sample(np.zeros((2, 3)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="names"):
        rank_changes(["a"], np.zeros((2, 3)), np.zeros((2, 3)))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(
            st.one_of(st.floats(-1e6, 1e6, allow_nan=False), st.just(math.nan)),
            min_size=1,
            max_size=12,
        ),
        min_size=1,
        max_size=4,
    ).filter(lambda rows: len({len(r) for r in rows}) == 1)
)
def test_nan_quantiles_agree_with_numpy(rows: list[list[float]]) -> None:
    qs = [0.0, 0.05, 0.5, 0.95, 1.0]
    ours = nan_quantiles(rows, qs)
    for row, got in zip(rows, ours, strict=True):
        known = [v for v in row if not math.isnan(v)]
        if not known:
            assert np.isnan(got).all()
        else:
            np.testing.assert_allclose(got, np.quantile(known, qs), rtol=1e-9, atol=1e-6)
