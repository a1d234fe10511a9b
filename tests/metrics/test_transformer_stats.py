"""window_stats fast paths: filling windows, NaN gaps and reused work buffers vs numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rebellion.metrics import MetricTransformer
from rebellion.metrics._series_stats import StatsScratch, WindowStats, window_stats
from rebellion.testing import ManualClock

Q = (0.25, 0.5, 0.75, 0.9, 0.95, 0.99)


def numpy_reference(x: np.ndarray, k: int, min_samples: int = 5) -> dict[str, np.ndarray]:
    """Row by row with plain NaN-aware numpy calls: the straightforward way."""
    width = x.shape[1]
    out: dict[str, list[float]] = {
        name: [] for name in ("count", "mean", "std", "min", "max", "median", "mad", "latest", "z")
    }
    out |= {"latest_index": [], "slope": [], "intercept": [], "robust_z": []}
    percentiles, smoothed = [], []
    for row in x:
        slots = np.flatnonzero(~np.isnan(row))
        xs = row[slots]
        reach = [row[max(0, j - k + 1) : j + 1] for j in range(width)]
        smoothed.append([np.nanmean(r) if (~np.isnan(r)).any() else math.nan for r in reach])
        median = float(np.median(xs))
        mad = float(np.median(np.abs(xs - median)))
        others = xs[:-1]
        z = 0.0
        if xs.size >= min_samples:
            z = float((xs[-1] - others.mean()) / others.std(ddof=1))
        scale = mad / 0.6745 if mad > 0 else 1.253314 * float(np.mean(np.abs(xs - median)))
        robust = (xs[-1] - median) / scale if xs.size >= min_samples else 0.0
        slope, intercept = np.polyfit(slots.astype(float), xs, 1) if xs.size >= 2 else (0.0, xs[0])
        values = {
            "count": xs.size,
            "mean": xs.mean(),
            "std": xs.std(),
            "min": xs.min(),
            "max": xs.max(),
            "median": median,
            "mad": mad,
            "latest": xs[-1],
            "latest_index": slots[-1],
            "z": z,
            "robust_z": robust,
            "slope": slope,
            "intercept": intercept,
        }
        for name, value in values.items():
            out[name].append(float(value))
        percentiles.append(np.percentile(xs, [q * 100 for q in Q]))
    ref = {name: np.array(values) for name, values in out.items()}
    ref["percentiles"] = np.array(percentiles)
    ref["smoothed"] = np.array(smoothed)
    return ref


def assert_matches_reference(stats: WindowStats, x: np.ndarray, k: int) -> None:
    ref = numpy_reference(x, k)
    for name, expected in ref.items():
        got = getattr(stats, name)
        assert got.shape == expected.shape, name
        assert np.allclose(got, expected, rtol=1e-7, atol=1e-7, equal_nan=True), name


def filling_with_gaps(seed: int, n: int = 30, width: int = 50) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(100.0, 10.0, size=(n, width)) + np.linspace(0.0, 20.0, width)
    x[rng.random(x.shape) < 0.1] = np.nan  # gaps, some at the latest slot
    for i, start in enumerate(rng.integers(5, width - 8, size=n)):
        x[i, :start] = np.nan  # every series still filling, each from its own slot
    return x


@pytest.mark.parametrize("k", [1, 3, 5, 10, 17, 40])
def test_filling_windows_with_gaps_match_a_numpy_reference(k: int) -> None:
    x = filling_with_gaps(k)
    assert_matches_reference(window_stats(x, Q, k, 5), x, k)


def test_windows_filling_in_step_are_cut_to_their_filled_part_with_slot_numbers_kept() -> None:
    rng = np.random.default_rng(2)
    x = np.full((20, 40), np.nan)
    x[:, 25:] = rng.normal(5.0, 1.0, size=(20, 15)) + np.arange(15.0)
    stats = window_stats(x, Q, 5, 5)
    assert_matches_reference(stats, x, 5)
    assert (stats.latest_index == 39).all()
    x[3, 30] = np.nan  # and with one gap
    assert_matches_reference(window_stats(x, Q, 5, 5), x, 5)


def test_reused_work_buffers_give_fresh_results_for_any_shape() -> None:
    scratch = StatsScratch()
    shapes = [(30, 50), (4, 200), (60, 20), (30, 50)]
    kept = []
    for seed, (n, width) in enumerate(shapes):
        x = filling_with_gaps(seed, n, width)
        stats = window_stats(x, Q, 5, 5, scratch)
        assert_matches_reference(stats, x, 5)
        kept.append((x, stats.mean.copy(), stats.smoothed.copy(), stats))
    for _, mean, smoothed, stats in kept:  # later calls did not write into earlier results
        assert np.array_equal(stats.mean, mean, equal_nan=True)
        assert np.array_equal(stats.smoothed, smoothed, equal_nan=True)


def test_rows_without_any_sample_are_nan_and_never_flag() -> None:
    x = np.full((3, 6), np.nan)
    x[1, 4] = 7.0
    stats = window_stats(x, Q, 3, 2)
    assert stats.count.tolist() == [0, 1, 0]
    assert math.isnan(stats.mean[0])
    assert math.isnan(stats.slope[2])
    assert stats.mean[1] == 7.0
    assert stats.latest_index[1] == 4
    assert stats.slope[1] == 0.0
    assert stats.z.tolist() == [0.0, 0.0, 0.0]
    assert window_stats(np.empty((0, 5)), Q, 2, 2).mean.shape == (0,)


def test_transformer_ticks_while_filling_with_gaps_match_the_reference_every_tick() -> None:
    rng = np.random.default_rng(9)
    t = MetricTransformer("t", history_size=24, smoothing_window=4, clock=ManualClock())
    names = [f"m{i}" for i in range(12)]
    earlier = []
    for tick in range(40):
        raw = {
            name: (math.nan if rng.random() < 0.1 else float(rng.normal(10.0, 2.0)))
            for name in names[: 4 + tick // 4]  # series join over time
        }
        result = t.transform_system_metrics(raw)
        if np.isnan(result.window).all(axis=1).any():
            continue  # a series whose only sample so far is NaN has no reference
        assert_matches_reference(result.stats, result.window, 4)
        earlier.append((result, result.stats.smoothed.copy()))
    for result, smoothed in earlier:
        assert np.array_equal(result.stats.smoothed, smoothed, equal_nan=True)
