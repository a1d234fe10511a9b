"""MetricTransformer: vectorised statistics against per-series references, input rules."""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rebellion import ConfigError, registry
from rebellion.metrics import MetricTransformer, get_metric_transformer
from rebellion.metrics._series_stats import window_stats
from rebellion.testing import ManualClock

Q = (0.25, 0.5, 0.75, 0.9, 0.95, 0.99)


def reference(row: np.ndarray, k: int, min_samples: int = 5) -> dict[str, object]:
    """The same statistics, one series at a time, the obvious way."""
    valid = [(i, v) for i, v in enumerate(row.tolist()) if not math.isnan(v)]
    xs = np.array([v for _, v in valid])
    idx = np.array([i for i, _ in valid], dtype=float)
    median = float(np.median(xs))
    mad = float(np.median(np.abs(xs - median)))
    latest = float(xs[-1])
    others = xs[:-1]
    z = 0.0
    if len(xs) >= min_samples:
        spread, level = others.std(ddof=1), others.mean()
        if spread > 1e-12 * max(abs(level), 1e-300):
            z = (latest - level) / spread
        elif abs(latest - level) > 1e-12 * max(abs(level), 1e-300):
            z = math.copysign(math.inf, latest - level)
    scale = mad / 0.6745 if mad > 0 else 1.253314 * float(np.mean(np.abs(xs - median)))
    robust = (latest - median) / scale if len(xs) >= min_samples and scale > 0 else 0.0
    smoothed = []
    for j in range(len(row)):
        window = [v for v in row[max(0, j - k + 1) : j + 1].tolist() if not math.isnan(v)]
        smoothed.append(sum(window) / len(window) if window else math.nan)
    slope = float(np.polyfit(idx, xs, 1)[0]) if len(xs) >= 2 and np.ptp(idx) > 0 else 0.0
    return {
        "mean": float(np.mean(xs)),
        "std": float(np.std(xs)),
        "min": float(xs.min()),
        "max": float(xs.max()),
        "median": median,
        "mad": mad,
        "percentiles": np.percentile(xs, [q * 100 for q in Q]),
        "latest": latest,
        "z": z,
        "robust_z": robust,
        "smoothed": np.array(smoothed),
        "slope": slope,
    }


def check_against_reference(x: np.ndarray, k: int) -> None:
    stats = window_stats(x, Q, k, 5)
    for i, row in enumerate(x):
        if np.isnan(row).all():
            assert stats.count[i] == 0
            assert math.isnan(stats.mean[i])
            continue
        ref = reference(row, k)
        for name in ("mean", "std", "min", "max", "median", "mad", "latest", "z", "robust_z"):
            got = float(getattr(stats, name)[i])
            assert got == pytest.approx(ref[name], rel=1e-7, abs=1e-7), (name, i)
        assert np.allclose(stats.percentiles[i], np.asarray(ref["percentiles"]))
        assert np.allclose(stats.smoothed[i], np.asarray(ref["smoothed"]), equal_nan=True)
        assert float(stats.slope[i]) == pytest.approx(ref["slope"], rel=1e-6, abs=1e-9)


def test_vectorised_statistics_match_the_per_series_reference_with_and_without_gaps() -> None:
    rng = np.random.default_rng(11)
    x = rng.normal(100.0, 15.0, size=(40, 60)) + np.linspace(0, 30, 60)
    x[5:15] = np.where(rng.random((10, 60)) < 0.2, np.nan, x[5:15])  # gaps in some rows
    x[20, :50] = np.nan  # a series still filling its window
    x[21] = np.nan  # a series with no sample at all
    check_against_reference(x, 5)
    check_against_reference(x[:5], 1)


@settings(max_examples=40, deadline=None)
@given(
    arrays(
        np.float64,
        st.tuples(st.integers(1, 6), st.integers(2, 30)),
        elements=st.one_of(st.floats(-1e6, 1e6), st.just(math.nan)),
    ),
    st.integers(1, 8),
)
def test_vectorised_statistics_match_the_reference_on_any_data(x: np.ndarray, k: int) -> None:
    check_against_reference(x, min(k, x.shape[1]))


def test_seed_example_works_as_written() -> None:
    raw_metrics = {
        "cpu_threads": [12.5, 14.0, 13.2, 15.8, 14.9, 13.3, 12.8, 16.1],
        "network_latency": [20.1, 19.8, 22.4, 21.0, 20.7, 19.9],
    }
    metric_transformer = get_metric_transformer(
        name="system_metrics",
        history_size=120,  # 2 minutes of history at 1s intervals
        smoothing_window=5,
    )

    # Transform metrics
    transformed_metrics = metric_transformer.transform_system_metrics(raw_metrics)

    cpu = transformed_metrics["cpu_threads"]
    assert cpu.values == tuple(raw_metrics["cpu_threads"])
    assert cpu.statistics.mean == pytest.approx(np.mean(raw_metrics["cpu_threads"]))
    assert cpu.smoothed[-1] == pytest.approx(np.mean(raw_metrics["cpu_threads"][-5:]))
    assert set(transformed_metrics) == {"cpu_threads", "network_latency"}
    assert transformed_metrics.health.status in ("healthy", "warning", "critical")
    json.dumps(transformed_metrics.to_dict(), allow_nan=False)
    assert get_metric_transformer("system_metrics", 120, 5) is metric_transformer


def test_scalar_ticks_roll_the_window_and_keep_the_latest_history() -> None:
    t = MetricTransformer("t", history_size=10, smoothing_window=3, clock=ManualClock())
    for i in range(25):
        result = t.transform_system_metrics({"cpu": float(i), "mem": 2 * i})
    assert result["cpu"].values == tuple(float(i) for i in range(15, 25))
    assert result["mem"].latest == 48.0
    assert result["cpu"].samples == 10
    assert result["cpu"].trend.slope == pytest.approx(1.0)
    assert result["cpu"].trend.direction == "rising"
    assert t.stats()["ticks"] == 25


def test_a_spike_is_flagged_by_every_detector_and_makes_health_not_healthy() -> None:
    rng = np.random.default_rng(5)
    t = MetricTransformer("t", history_size=120, anomaly={"warmup": 30}, clock=ManualClock())
    for value in rng.normal(50.0, 1.0, size=150):
        result = t.transform_system_metrics({"latency": float(value), "calm": 1.0})
    assert result.health.status == "healthy"
    result = t.transform_system_metrics({"latency": 90.0, "calm": 1.0})
    spike = result["latency"].anomaly
    assert spike.z_flag
    assert spike.robust_flag
    assert spike.score >= 0.5
    assert spike.is_anomaly
    assert result["latency"].health in ("warning", "critical")
    assert result.health.issues == ("latency",)
    assert result["calm"].health == "healthy"


def test_trend_forecasts_and_time_to_threshold() -> None:
    t = MetricTransformer(
        "t",
        history_size=60,
        sample_interval=2.0,
        forecast_horizon=20.0,
        thresholds={"disk": 100.0},
        clock=ManualClock(),
    )
    result = t.transform_system_metrics({"disk": [float(v) for v in range(40, 70)]})
    trend = result["disk"].trend
    assert trend.slope == pytest.approx(1.0)
    assert trend.slope_per_second == pytest.approx(0.5)
    assert trend.forecast == pytest.approx(69.0 + 10.0)  # 20 s = 10 samples ahead
    assert trend.time_to_threshold == pytest.approx((100.0 - 69.0) * 2.0)
    assert result["disk"].health == "healthy"  # 62 s away, beyond the 20 s horizon
    result = t.transform_system_metrics({"disk": [float(v) for v in range(70, 95)]})
    assert result["disk"].trend.time_to_threshold == pytest.approx(12.0)
    assert result["disk"].health == "warning"
    result = t.transform_system_metrics({"disk": 101.0})
    assert result["disk"].trend.time_to_threshold == 0.0
    assert result["disk"].health == "critical"
    assert result.health.status == "critical"
    falling = t.transform_system_metrics({"free": [float(v) for v in range(50, 0, -1)]})
    assert falling["free"].trend.direction == "falling"
    assert falling["free"].trend.time_to_threshold is None


def test_nan_is_a_gap_that_statistics_and_the_bank_skip() -> None:
    t = MetricTransformer("t", history_size=8, clock=ManualClock())
    result = t.transform_system_metrics({"x": [1.0, math.nan, 3.0]})
    x = result["x"]
    assert x.samples == 2
    assert x.statistics.mean == 2.0
    assert math.isnan(x.values[1])
    assert x.to_dict()["values"] == [1.0, None, 3.0]
    result = t.transform_system_metrics({"x": math.nan})
    assert result["x"].latest == 3.0
    assert result["x"].values[-1] != result["x"].values[-1]


def test_metrics_may_appear_later_and_skip_ticks() -> None:
    t = MetricTransformer("t", history_size=5, clock=ManualClock())
    t.transform_system_metrics({"a": 1.0})
    t.transform_system_metrics({"a": 2.0, "b": 10.0})
    result = t.transform_system_metrics({"b": [11.0, 12.0], "c": 5})
    assert list(result) == ["a", "b", "c"]
    assert result["a"].values == (1.0, 2.0)
    assert result["b"].values == (10.0, 11.0, 12.0)
    assert result["c"].values == (5.0,)
    assert result["b"].anomaly.score == 0.0  # still warming up


def test_list_longer_than_the_history_keeps_its_newest_samples() -> None:
    t = MetricTransformer("t", history_size=4, smoothing_window=2, clock=ManualClock())
    result = t.transform_system_metrics({"x": np.arange(10.0)})
    assert result["x"].values == (6.0, 7.0, 8.0, 9.0)
    assert result["x"].smoothed == (6.0, 6.5, 7.5, 8.5)


@pytest.mark.parametrize(
    ("raw", "error", "fragment"),
    [
        ([1, 2], TypeError, "raw must be a mapping"),
        ({"cpu": "high"}, TypeError, "metric 'cpu' must be a real number"),
        ({"cpu": True}, TypeError, "got bool"),
        ({"cpu": None}, TypeError, "got NoneType"),
        ({"cpu": {"a": 1}}, TypeError, "got dict"),
        ({"cpu": [1.0, "2"]}, TypeError, "got a str in its list"),
        ({"cpu": np.array(["1"])}, TypeError, "dtype <U1"),
        ({"cpu": np.ones((2, 2))}, ValueError, "shape (2, 2)"),
        ({"cpu": math.inf}, ValueError, "metric 'cpu' must be finite"),
        ({"cpu": 1.0, "mem": -math.inf}, ValueError, "metric 'mem' must be finite"),
        ({"cpu": [1.0, math.inf]}, ValueError, "metric 'cpu' must be finite"),
        ({"": 1.0}, ValueError, "metric names must be non-empty strings"),
        ({3: 1.0}, ValueError, "metric names must be non-empty strings"),
    ],
)
def test_bad_input_is_refused_naming_the_metric_and_nothing_is_recorded(
    raw: object, error: type[Exception], fragment: str
) -> None:
    t = MetricTransformer("t", clock=ManualClock())
    t.transform_system_metrics({"cpu": 1.0})
    with pytest.raises(error) as info:
        t.transform_system_metrics(raw)  # type: ignore[arg-type]
    assert fragment in str(info.value)
    assert t.stats()["ticks"] == 1
    assert t.transform_system_metrics({"cpu": 2.0})["cpu"].values == (1.0, 2.0)


def test_max_series_is_enforced_before_anything_is_recorded() -> None:
    t = MetricTransformer("t", max_series=2, clock=ManualClock())
    with pytest.raises(ValueError, match="max_series is 2"):
        t.transform_system_metrics({"a": 1.0, "b": 1.0, "c": 1.0})
    assert t.stats()["metrics"] == 0


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"name": ""}, "name"),
        ({"history_size": 1}, "history_size"),
        ({"history_size": "120"}, "history_size"),
        ({"smoothing_window": 0}, "smoothing_window"),
        ({"history_size": 10, "smoothing_window": 11}, "smoothing_window"),
        ({"sample_interval": 0}, "sample_interval"),
        ({"forecast_horizon": -1}, "forecast_horizon"),
        ({"quantiles": (2.0,)}, "quantiles"),
        ({"z_threshold": 0}, "z_threshold"),
        ({"robust_threshold": -1}, "robust_threshold"),
        ({"min_samples": 1}, "min_samples"),
        ({"critical_score": 0}, "critical_score"),
        ({"thresholds": [1.0]}, "thresholds"),
        ({"thresholds": {"cpu": "90"}}, "thresholds"),
        ({"anomaly": 3}, "anomaly"),
        ({"anomaly": {"warmup": -1}}, "warmup"),
        ({"max_series": 0}, "max_series"),
        ({"clock": object()}, "clock"),
    ],
)
def test_constructor_rejects_bad_settings_naming_them(
    kwargs: dict[str, object], parameter: str
) -> None:
    with pytest.raises(ConfigError, match=rf"^{parameter} must be"):
        MetricTransformer(**kwargs)  # type: ignore[arg-type]


def test_get_metric_transformer_refuses_conflicting_settings() -> None:
    first = get_metric_transformer("host", 60, 3)
    assert get_metric_transformer("host", 60, 3) is first
    with pytest.raises(ConfigError, match="history_size"):
        get_metric_transformer("host", 120, 3)
    assert any(e["kind"] == "metric_transformer" for e in registry.snapshot())


def test_result_is_a_mapping_with_a_json_ready_dict() -> None:
    t = MetricTransformer("t", history_size=6, min_samples=2, clock=ManualClock())
    result = t.transform_system_metrics({"flat": [5.0, 5.0, 5.0, 9.0]})
    flat = result["flat"]
    assert flat.anomaly.z_score == math.inf  # constant history, then a different value
    data = result.to_dict()
    assert data["metrics"]["flat"]["anomaly"]["z_score"] is None
    json.dumps(data, allow_nan=False)
    assert len(result) == 1
    assert "TransformResult(metrics=1" in repr(result)
    assert "MetricTransformer(name='t'" in repr(t)
    t.reset()
    assert t.stats()["metrics"] == 0


def test_concurrent_ticks_from_many_threads_are_all_recorded() -> None:
    t = MetricTransformer("t", history_size=500, clock=ManualClock())
    names = [f"m{i}" for i in range(20)]

    def worker() -> None:
        for _ in range(20):
            t.transform_system_metrics(dict.fromkeys(names, 1.0))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = t.transform_system_metrics({"m0": 1.0})
    assert result["m0"].samples == 161
    assert result["m19"].samples == 160
