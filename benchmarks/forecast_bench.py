"""Forecast quality: MASE on the NAB series, time-to-full on synthetic ramps.

Usage::

    python benchmarks/forecast_bench.py            # every NAB series in benchmarks/nab/data
    python benchmarks/forecast_bench.py --smoke    # a few series, short ramps: seconds

MASE: for every series and every time t after a warm-up, the
:class:`~rebellion.metrics.forecast.ForecastBank` forecasts ``h`` samples ahead with the
data up to t (causal); the naive forecast is the value at t. Each mean absolute error is
scaled by the series' in-sample one-step naive MAE (Hyndman and Koehler's MASE), so the
naive forecast's MASE at h = 1 is 1 by construction. Reported: the median over series of
both, and the geometric mean of their ratio (model / naive; < 1 means better).

Time-to-full: a percentage climbing linearly from a random start at a random rate, with
no noise and with Gaussian noise (sd 1 % and 3 %), full between half a window and five
windows after the last sample; after ``window`` samples, the time to
100 % is read and compared with the truth. Reported: the share within 10 % and the median
relative error.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import sys
from datetime import datetime
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from rebellion.metrics.forecast import PERCENT, UNBOUNDED, ForecastBank  # noqa: E402

DATA = ROOT / "benchmarks" / "nab" / "data"
HORIZONS = (1, 12)


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with path.open() as handle:
        rows = list(csv.DictReader(handle))
    stamps = np.array([datetime.fromisoformat(r["timestamp"]).timestamp() for r in rows])
    return stamps, np.array([float(r["value"]) for r in rows])


def mase(stamps: np.ndarray, values: np.ndarray, warmup: int) -> dict[int, tuple[float, float]]:
    step = float(np.median(np.diff(stamps)))
    scale = float(np.mean(np.abs(np.diff(values))))
    if scale == 0:
        return {}
    bank = ForecastBank(1, ranges=UNBOUNDED, sample_interval=step, window=288)
    errors: dict[int, list[tuple[float, float]]] = {h: [] for h in HORIZONS}
    for t, (stamp, value) in enumerate(zip(stamps, values, strict=True)):
        bank.update([value], stamp)
        if t < warmup:
            continue
        for h in HORIZONS:
            if t + h < values.size:
                f = bank.forecast(h * step)[0]
                truth = values[t + h]
                errors[h].append((abs(f.value - truth), abs(value - truth)))
    out = {}
    for h, pairs in errors.items():
        e = np.array(pairs)
        out[h] = (float(e[:, 0].mean() / scale), float(e[:, 1].mean() / scale))
    return out


def ramps(count: int, window: int, noise: float, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    errors = []
    for _ in range(count):
        start = rng.uniform(5.0, 50.0)
        seconds_to_full = rng.uniform(0.5, 5.0) * window  # full in 0.5-5 windows
        rate = (100.0 - start) / (seconds_to_full + window)
        bank = ForecastBank(1, ranges=PERCENT, window=window)
        for i in range(window):
            value = start + rate * i + noise * rng.standard_normal()
            bank.update([min(max(value, 0.0), 100.0)])
        f = bank.forecast(60.0, thresholds=[100.0])[0]
        truth = (100.0 - start - rate * (window - 1)) / rate
        got = f.time_to_threshold
        errors.append(math.inf if got is None else abs(got - truth) / truth)
    e = np.array(errors)
    return float(np.mean(e <= 0.10)), float(np.median(e))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few series, seconds")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    files = sorted(DATA.glob("*/*.csv"))
    if args.smoke:
        files = files[:: max(1, len(files) // 3)][:3]
    model_mase: dict[int, list[float]] = {h: [] for h in HORIZONS}
    naive_mase: dict[int, list[float]] = {h: [] for h in HORIZONS}
    for path in files:
        stamps, values = load(path)
        if args.smoke:
            stamps, values = stamps[:400], values[:400]
        for h, (m, n) in mase(stamps, values, warmup=100 if args.smoke else 288).items():
            model_mase[h].append(m)
            naive_mase[h].append(n)
    report: dict[str, object] = {"series": len(files)}
    print(f"MASE on {len(files)} NAB series (median over series; ratio = geometric mean)")
    for h in HORIZONS:
        m, n = np.array(model_mase[h]), np.array(naive_mase[h])
        ratio = float(np.exp(np.mean(np.log(m / n))))
        report[f"h{h}"] = {
            "model_median": float(np.median(m)),
            "naive_median": float(np.median(n)),
            "ratio_geomean": ratio,
            "series_better": int(np.sum(m < n)),
        }
        print(
            f"  h={h:>2}: model {np.median(m):.3f}  naive {np.median(n):.3f}  "
            f"model/naive {ratio:.3f}  better on {int(np.sum(m < n))}/{m.size}"
        )
    count, window = (10, 60) if args.smoke else (200, 300)
    print(f"time-to-full on {count} synthetic ramps per noise level (window {window} samples)")
    for noise in (0.0, 1.0, 3.0):
        share, median = ramps(count, window, noise, seed=int(noise * 10))
        report[f"ramp_noise_{noise:g}"] = {"within_10pct": share, "median_rel_error": median}
        print(f"  noise sd {noise:g} %: within 10 %: {share:.0%}  median error {median:.1%}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
