"""Benchmark: MetricTransformer per tick vs a pure-Python loop and pandas, same statistics.

    python benchmarks/transformer_bench.py [--series 1000] [--window 120] [--ticks 30]
    python benchmarks/transformer_bench.py --smoke      # seconds: proves it runs and agrees

Every contender keeps the last ``--window`` samples of ``--series`` metrics and, per
tick, takes one new sample per metric and computes: mean, population std, min, max,
p25/p50/p75/p90/p95/p99, median, MAD, the z-score of the latest sample against the
others, the robust (median/MAD) z, a 5-sample moving average of the whole window and
the least-squares slope. The rebellion row also scores every sample with the
AnomalyDetectorBank, derives forecasts, time-to-threshold and health, so it does more
work than the other two. Reported: median ms per tick at steady state (full windows),
and a check that the three agree on the statistics of the final tick; then rebellion
alone while windows fill, with ~1% NaN samples per tick, and in the monitor's shape
(15 and 200 series x 300 samples, one float each per call, with and without building
every metric's result object).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rebellion.metrics import MetricTransformer
from rebellion.testing import ManualClock

TARGET_MS = 5.0
QUANTILES = (0.25, 0.5, 0.75, 0.9, 0.95, 0.99)
SMOOTHING = 5
Stats = dict[str, np.ndarray]
KEYS = ("mean", "std", "min", "max", "p95", "mad", "z", "robust", "slope", "smoothed")


def _quantile(ordered: list[float], q: float) -> float:
    pos = q * (len(ordered) - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (pos - lo) * (ordered[hi] - ordered[lo])


class PurePython:
    """One deque per series and a loop per series per tick (the obvious way)."""

    def __init__(self, names: list[str], window: int) -> None:
        self.names = names
        self.windows: dict[str, deque[float]] = {n: deque(maxlen=window) for n in names}

    def tick(self, raw: dict[str, float]) -> Stats:
        out: dict[str, list[float]] = {k: [] for k in KEYS}
        for name in self.names:
            w = self.windows[name]
            w.append(raw[name])
            xs = list(w)
            n = len(xs)
            mean = statistics.fmean(xs)
            std = statistics.pstdev(xs, mean)
            ordered = sorted(xs)
            qs = [_quantile(ordered, q) for q in QUANTILES]
            median = _quantile(ordered, 0.5)
            mad = _quantile(sorted(abs(x - median) for x in xs), 0.5)
            others = xs[:-1]
            z = (xs[-1] - statistics.fmean(others)) / statistics.stdev(others)
            robust = 0.6745 * (xs[-1] - median) / mad if mad else 0.0
            smoothed = [statistics.fmean(xs[max(0, j - SMOOTHING + 1) : j + 1]) for j in range(n)]
            xbar = (n - 1) / 2.0
            sxx = sum((i - xbar) ** 2 for i in range(n))
            slope = sum((i - xbar) * (x - mean) for i, x in enumerate(xs)) / sxx
            row = (mean, std, min(xs), max(xs), qs[4], mad, z, robust, slope, smoothed[-1])
            for key, value in zip(KEYS, row, strict=True):
                out[key].append(value)
        return {k: np.array(v) for k, v in out.items()}


class Pandas:
    """A (window x series) DataFrame; column-wise reductions and rolling() per tick."""

    def __init__(self, names: list[str], window: int) -> None:
        import pandas as pd  # type: ignore[import-untyped]

        self.pd = pd
        self.names = names
        self.window = window
        self.frame = pd.DataFrame(columns=names, dtype=float)
        self.rows: deque[np.ndarray] = deque(maxlen=window)

    def tick(self, raw: dict[str, float]) -> Stats:
        pd = self.pd
        self.rows.append(np.fromiter(raw.values(), float, len(self.names)))
        df = pd.DataFrame(np.array(self.rows), columns=self.names)
        mean = df.mean()
        std = df.std(ddof=0)
        qs = df.quantile(list(QUANTILES))
        median = df.median()
        mad = (df - median).abs().median()
        others = df.iloc[:-1]
        latest = df.iloc[-1]
        z = (latest - others.mean()) / others.std(ddof=1)
        robust = 0.6745 * (latest - median) / mad
        smoothed = df.rolling(SMOOTHING, min_periods=1).mean()
        idx = pd.Series(np.arange(len(df), dtype=float))
        dx = idx - idx.mean()
        slope = df.sub(mean, axis=1).mul(dx, axis=0).sum() / float((dx * dx).sum())
        return {
            "mean": mean.to_numpy(),
            "std": std.to_numpy(),
            "min": df.min().to_numpy(),
            "max": df.max().to_numpy(),
            "p95": qs.loc[0.95].to_numpy(),
            "mad": mad.to_numpy(),
            "z": z.to_numpy(),
            "robust": robust.to_numpy(),
            "slope": slope.to_numpy(),
            "smoothed": smoothed.iloc[-1].to_numpy(),
        }


class Rebellion:
    """MetricTransformer.transform_system_metrics with one scalar per metric."""

    def __init__(self, names: list[str], window: int) -> None:
        self.t = MetricTransformer("bench", window, SMOOTHING, clock=ManualClock())

    def tick(self, raw: dict[str, float]) -> Stats:
        result = self.t.transform_system_metrics(raw)
        s = result.stats
        return {
            "mean": s.mean,
            "std": s.std,
            "p95": s.percentiles[:, QUANTILES.index(0.95)],
            "min": s.min,
            "max": s.max,
            "mad": s.mad,
            "z": s.z,
            "robust": s.robust_z,
            "slope": s.slope,
            "smoothed": s.smoothed[:, -1],
        }


def run(series: int, window: int, ticks: int, slow_ticks: int) -> dict[str, Any]:
    rng = np.random.default_rng(0)
    names = [f"host.metric_{i}" for i in range(series)]
    total = window + ticks
    data = rng.normal(50.0, 5.0, size=(total, series)).cumsum(axis=0) / 10 + 50.0
    raws = [dict(zip(names, row.tolist(), strict=True)) for row in data]
    contenders: dict[str, Callable[[list[str], int], Any]] = {
        "rebellion MetricTransformer": Rebellion,
        "pandas DataFrame (rolling)": Pandas,
        "pure-Python loop per series": PurePython,
    }
    results: dict[str, Any] = {}
    finals: dict[str, Stats] = {}
    for label, factory in contenders.items():
        impl = factory(names, window)
        timed = ticks if label != "pure-Python loop per series" else slow_ticks
        start_timing = total - timed
        for raw in raws[:start_timing]:
            if label == "pure-Python loop per series":
                for name in names:  # fill the windows without paying the per-tick stats
                    impl.windows[name].append(raw[name])
            else:
                impl.tick(raw)
        times = []
        for raw in raws[start_timing:]:
            t0 = time.perf_counter()
            finals[label] = impl.tick(raw)
            times.append(time.perf_counter() - t0)
        results[label] = {"median_ms": statistics.median(times) * 1e3, "ticks": len(times)}
    ours = finals["rebellion MetricTransformer"]
    for label, other in finals.items():
        for key, values in other.items():
            if not np.allclose(ours[key], values, rtol=1e-6, atol=1e-9):
                raise SystemExit(f"{label} disagrees with rebellion on {key}")
    return results


def _median_tick_ms(
    t: MetricTransformer, raws: list[dict[str, float]], warm: int, reads: bool = False
) -> float:
    """Median ms of ``t``'s ticks over ``raws[warm:]`` (reads: build every metric too)."""
    times = []
    for k, raw in enumerate(raws):
        t0 = time.perf_counter()
        result = t.transform_system_metrics(raw)
        if reads:
            for name in raw:
                m = result[name]
                _ = (m.statistics, m.anomaly, m.trend, m.health)
        if k >= warm:
            times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def scenarios(series: int, window: int, ticks: int, monitor_ticks: int) -> dict[str, float]:
    """Rebellion alone: filling windows, ~1% NaN per tick, and the monitor's shape."""
    rng = np.random.default_rng(1)
    names = [f"host.metric_{i}" for i in range(series)]
    data = rng.normal(50.0, 5.0, size=(window + ticks, series)).cumsum(axis=0) / 10 + 50.0
    out: dict[str, float] = {}
    fill = [dict(zip(names, row.tolist(), strict=True)) for row in data[:window]]
    new = MetricTransformer("bench.fill", window, SMOOTHING, clock=ManualClock())
    out[f"filling windows (first {window} ticks)"] = _median_tick_ms(new, fill, 0)
    gappy = data.copy()
    gappy[rng.random(gappy.shape) < 0.01] = np.nan
    raws = [dict(zip(names, row.tolist(), strict=True)) for row in gappy]
    t = MetricTransformer("bench.nan", window, SMOOTHING, clock=ManualClock())
    out["full windows, ~1% NaN samples per tick"] = _median_tick_ms(t, raws, window)
    for n in (15, 200):  # HostAnalyser: 300-sample history, one float per metric per call
        host = [f"host.{i}" for i in range(n)]
        values = rng.normal(50.0, 5.0, size=(300 + monitor_ticks, n))
        raws = [dict(zip(host, row.tolist(), strict=True)) for row in values]
        for reads in (False, True):
            t = MetricTransformer(
                "bench.monitor", 300, 10, forecast_horizon=60.0, clock=ManualClock()
            )
            label = f"monitor: {n} series x 300, full" + (", reading every metric" if reads else "")
            out[label] = _median_tick_ms(t, raws, 300, reads)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1000)
    parser.add_argument("--window", type=int, default=120)
    parser.add_argument("--ticks", type=int, default=30, help="timed ticks (rebellion, pandas)")
    parser.add_argument("--slow-ticks", type=int, default=3, help="timed pure-Python ticks")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: runs in seconds")
    args = parser.parse_args(argv)
    if args.smoke:
        args.series, args.window, args.ticks, args.slow_ticks = 50, 30, 3, 2
    results = run(args.series, args.window, args.ticks, args.slow_ticks)
    ours = results["rebellion MetricTransformer"]["median_ms"]
    print(f"MetricTransformer tick: {args.series} series x {args.window}-point windows")
    print(f"{'contender':32s} {'median ms/tick':>15s} {'x rebellion':>12s} {'ticks':>6s}")
    for label, row in results.items():
        ratio = row["median_ms"] / ours
        print(f"{label:32s} {row['median_ms']:15.2f} {ratio:12.1f} {row['ticks']:6d}")
    print("all three agree on " + ", ".join(KEYS) + " of the final tick")
    more = scenarios(args.series, args.window, args.ticks, 5 if args.smoke else 100)
    print(f"{'rebellion alone':52s} {'median ms/tick':>15s}")
    for label, ms in more.items():
        print(f"{label:52s} {ms:15.2f}")
    if not args.smoke:
        for label, ms in {"full windows": ours, **more}.items():
            if label.startswith("monitor"):
                continue
            status = "met" if ms <= TARGET_MS else "MISSED"
            print(f"target <= {TARGET_MS} ms per tick, {label}: {status} ({ms:.2f} ms)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
