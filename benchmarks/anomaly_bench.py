"""Micro-benchmark: AnomalyDetectorBank cost per series-point (target <= 2 us at 10,000 series).

    python benchmarks/anomaly_bench.py [--series 1000 10000] [--steps 300] [--repeats 5]

Feeds random walks with per-series timestamps (so the daily profile is exercised) after a
warm-up past every learning period, then times ``update_many``; prints the median of
``--repeats`` timed runs in nanoseconds per series-point, and a single AnomalyDetector's
cost per update for comparison.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rebellion.metrics import AnomalyDetector, AnomalyDetectorBank

TARGET_NS = 2000.0


def bank_ns_per_point(n: int, steps: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    bank = AnomalyDetectorBank(n)
    warm = 250
    values = rng.normal(size=(warm + steps * repeats, n)).cumsum(axis=0)
    stamps = 1.7e9 + 300.0 * np.arange(values.shape[0])[:, None] + rng.uniform(0, 60, n)[None, :]
    for t in range(warm):
        bank.update_many(values[t], stamps[t])
    runs = []
    for r in range(repeats):
        start = time.perf_counter()
        for t in range(warm + r * steps, warm + (r + 1) * steps):
            bank.update_many(values[t], stamps[t])
        runs.append((time.perf_counter() - start) / (steps * n) * 1e9)
    return statistics.median(runs)


def single_us_per_update(updates: int = 3000) -> float:
    detector = AnomalyDetector()
    start = time.perf_counter()
    for i in range(updates):
        detector.update(float(i % 17), 1.7e9 + 300.0 * i)
    return (time.perf_counter() - start) / updates * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--series", type=int, nargs="+", default=[1000, 10000])
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    ok = True
    for n in args.series:
        ns = bank_ns_per_point(n, args.steps, args.repeats)
        verdict = (
            ""
            if n != 10000
            else ("  (target <= 2000: OK)" if ns <= TARGET_NS else "  (target <= 2000: MISSED)")
        )
        ok &= n != 10000 or ns <= TARGET_NS
        print(f"AnomalyDetectorBank  {n:>6} series: {ns:8.0f} ns/series-point{verdict}")
    print(f"AnomalyDetector      single:        {single_us_per_update():8.1f} us/update")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
