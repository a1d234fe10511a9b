"""Predictive against plain failure-rate breaker: calls let through to a degrading dependency.

    python benchmarks/predictive_breaker_bench.py [--seeds 30] [--hours 1] [--write]
    python benchmarks/predictive_breaker_bench.py --smoke --json out.json

Everything runs on a simulated clock with seeded random numbers: no figure depends on
the machine. Calls arrive every ``1 / RATE`` seconds. A call's latency is reported by
the clock (its completion is read ``latency`` seconds after its arrival, while the next
arrival keeps its schedule: calls overlap, as they do in a service).

1. **Healthy but noisy dependency** (calibration). Per seed a base failure rate of
   2-5 %, with bursts (on average one every 5 minutes, 2-20 s long, 10-35 % failures)
   and, for the latency variant, log-normal latency with x2-x4 latency bursts. An open
   here is needless; counted per hour over a sweep of the plain breaker's threshold
   (``GRID``) and of the predictive breaker's threshold and trend significance
   (``PREDICTIVE_GRID`` x ``SIGNIFICANCE_GRID``; its other settings, ``PREDICTIVE``,
   are fixed in advance).
2. **Operating points at equal needless opens.** The plain breaker's point is the lowest
   threshold of the sweep with at most ``BUDGET`` needless opens per hour. Among the
   predictive settings whose needless-open rate is at most that point's, the one that
   lets the fewest calls through on separate *calibration* ramps is chosen. Calibration
   and evaluation seeds differ; the needless rates are measured again on the evaluation
   seeds and reported.
3. **Gradual degradation** (evaluation). After 10 healthy minutes the failure rate
   ramps linearly from the base rate to 100 % over 3-10 minutes (random per seed) and
   stays there 2 more minutes; in the latency variant the median latency ramps from
   50 ms to 3 s instead (``slow_call_duration`` is 1 s). Counted: calls that reached the
   dependency from the onset to the end of the run (half-open probes and any closed
   spell included), and, separately, until the breaker first opened.

Target: the predictive breaker lets >= 30 % fewer calls reach the degrading dependency
(ratio of medians over the evaluation seeds) at equal or lower needless-open rate.
``--write`` writes ``benchmarks/PREDICTIVE_RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from rebellion.errors import CircuitOpenError
from rebellion.policies.circuit_breaker import (
    CircuitBreaker,
    CircuitStateChanged,
    PredictiveCircuitBreaker,
)

RESULTS = Path(__file__).resolve().parent / "PREDICTIVE_RESULTS.md"
RATE = 10.0  # calls per second
TARGET = 0.30
BUDGET = 1.0  # needless opens per hour allowed at the plain breaker's operating point
GRID = (0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
"""Thresholds swept for the plain breaker."""
PREDICTIVE_GRID = (0.3, 0.4, 0.5)
SIGNIFICANCE_GRID = (4.0, 4.5, 5.0, 6.0)
"""Thresholds and trend significances swept for the predictive breaker."""
WARM = 600.0  # healthy seconds before a degradation starts
BREAKER = {
    "window_type": "time",
    "window_size": 30.0,
    "window_buckets": 10,
    "minimum_calls": 50,
    "reset_timeout": 30.0,
    "exponential_backoff_factor": 2.0,
    "max_reset_timeout": 240.0,
    "half_open_max_calls": 1,
    "success_threshold": 3,
}
PREDICTIVE = {
    "bucket": 1.0,
    "horizon": 360.0,
    "trend_window": 120,
    "anomaly_level": 0.5,
    "floor": 0.25,
}
SLOW = 1.0  # slow_call_duration of the latency variant


class SimClock:
    """Simulated time; ``offset`` reports a call's completion after its arrival."""

    def __init__(self) -> None:
        self.now = 0.0
        self.offset = 0.0

    def monotonic(self) -> float:
        return self.now + self.offset

    def wall(self) -> float:
        return 1_700_000_000.0 + self.now + self.offset

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)

    async def sleep_async(self, seconds: float) -> None:
        self.now += max(0.0, seconds)

    def call_later(self, delay: float, callback: Callable[[], object]) -> Any:
        raise NotImplementedError("the simulation never schedules callbacks")


@dataclass
class Dependency:
    """Failure probability and latency as functions of simulated time."""

    base: float
    bursts: list[tuple[float, float, float]]  # start, end, failure rate (or latency x)
    onset: float | None = None
    ramp: float = 300.0
    latency: bool = False

    def failure(self, t: float) -> float:
        rate = self.base
        if not self.latency:
            for start, end, level in self.bursts:
                if start <= t < end:
                    rate = max(rate, level)
            if self.onset is not None and t >= self.onset:
                rate = max(rate, min(1.0, self.base + (t - self.onset) / self.ramp))
        return rate

    def median_latency(self, t: float) -> float:
        median = 0.05
        if self.latency:
            for start, end, factor in self.bursts:
                if start <= t < end:
                    median *= factor
            if self.onset is not None and t >= self.onset:
                median = max(median, 0.05 + 2.95 * min(1.0, (t - self.onset) / self.ramp))
        return median


def healthy(seed: int, seconds: float, latency: bool) -> Dependency:
    rng = random.Random(seed)
    bursts, t = [], rng.expovariate(1 / 300)
    while t < seconds:
        length = rng.uniform(2, 20)
        level = rng.uniform(2, 4) if latency else rng.uniform(0.10, 0.35)
        bursts.append((t, t + length, level))
        t += length + rng.expovariate(1 / 300)
    return Dependency(rng.uniform(0.02, 0.05), bursts, latency=latency)


Setting = tuple[float, float]
"""The breaker's threshold and the predictive breaker's significance (unused by plain)."""


def build(kind: str, setting: Setting, clock: SimClock, latency: bool) -> Any:
    threshold, significance = setting
    settings: dict[str, Any] = dict(BREAKER, clock=clock)
    if latency:
        settings.update(slow_call_duration=SLOW, slow_call_rate_threshold=threshold)
    else:
        settings.update(failure_rate_threshold=threshold)
    if kind == "plain":
        return CircuitBreaker("plain", **settings)
    return PredictiveCircuitBreaker(
        "predictive", **PREDICTIVE, significance=significance, **settings
    )


def run(kind: str, setting: Setting, dep: Dependency, seconds: float, seed: int) -> dict[str, int]:
    """Drive one breaker for ``seconds``; count opens and calls that reached ``dep``."""
    clock = SimClock()
    policy = build(kind, setting, clock, dep.latency)
    inner = policy if kind == "plain" else policy.breaker
    opens: list[float] = []

    def on_event(event: object) -> None:
        if isinstance(event, CircuitStateChanged) and event.new_state == "OPEN":
            opens.append(clock.now)

    inner.events.subscribe(on_event)
    rng = random.Random(seed * 7919 + 1)
    reached = {"after_onset": 0, "before_open": 0}
    onset = math.inf if dep.onset is None else dep.onset

    def call(fails: bool, latency: float) -> None:
        clock.offset = latency
        if clock.now >= onset:
            reached["after_onset"] += 1
            if not any(t >= onset for t in opens[-1:]):
                reached["before_open"] += 1
        if fails:
            raise ConnectionError("dependency failed")

    for i in range(int(seconds * RATE)):
        clock.now, clock.offset = i / RATE, 0.0
        fails = rng.random() < dep.failure(clock.now)
        latency = dep.median_latency(clock.now) * math.exp(0.5 * rng.gauss(0.0, 1.0))
        try:
            policy.call(call, fails, latency)
        except (ConnectionError, CircuitOpenError):
            pass
    return {
        "opens_before_onset": sum(1 for t in opens if t < onset),
        "after_onset": reached["after_onset"],
        "before_open": reached["before_open"],
        "predicted": policy.stats().predicted_trips if kind != "plain" else 0,
    }


def needless(kind: str, setting: Setting, seeds: list[int], hours: float, latency: bool) -> float:
    """Needless opens per hour on healthy dependencies (mean over seeds)."""
    seconds = hours * 3600
    opens = [run(kind, setting, healthy(s, seconds, latency), seconds, s) for s in seeds]
    return sum(o["opens_before_onset"] for o in opens) / (hours * len(seeds))


def degrade(kind: str, setting: Setting, seeds: list[int], latency: bool) -> list[dict[str, int]]:
    out = []
    for s in seeds:
        ramp = random.Random(s + 101).uniform(180, 600)
        dep = healthy(s, WARM, latency)
        dep.onset, dep.ramp = WARM, ramp
        out.append(run(kind, setting, dep, WARM + ramp + 120, s))
    return out


def spread(values: list[float]) -> dict[str, float]:
    q = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
    return {"median": statistics.median(values), "p25": q[0], "p75": q[2]}


def reached(runs: list[dict[str, int]], key: str = "after_onset") -> list[float]:
    return [float(r[key]) for r in runs]


def variant(latency: bool, seeds: dict[str, list[int]], hours: float) -> dict[str, Any]:
    """Calibrate both breakers on the calibration seeds, then compare them on fresh ones."""
    cal, cal_ramps, ev = seeds["calibration"], seeds["calibration_ramps"], seeds["evaluation"]
    plain_sweep = [
        {"threshold": t, "needless": needless("plain", (t, 0.0), cal, hours, latency)} for t in GRID
    ]
    plain_row = next((r for r in plain_sweep if r["needless"] <= BUDGET), plain_sweep[-1])
    tp = plain_row["threshold"]
    pred_sweep = []
    for t in PREDICTIVE_GRID:
        for sig in SIGNIFICANCE_GRID:
            rate = needless("predictive", (t, sig), cal, hours, latency)
            row = {"threshold": t, "significance": sig, "needless": rate, "reached": None}
            if rate <= plain_row["needless"]:
                calls = reached(degrade("predictive", (t, sig), cal_ramps, latency))
                row["reached"] = statistics.median(calls)
            pred_sweep.append(row)
    allowed = [r for r in pred_sweep if r["reached"] is not None]
    # No setting as quiet as the plain breaker: take the quietest (reported as such).
    best = (
        min(allowed, key=lambda r: (r["reached"], r["needless"]))
        if allowed
        else min(pred_sweep, key=lambda r: r["needless"])
    )
    sp: Setting = (tp, 0.0)
    sq: Setting = (best["threshold"], best["significance"])
    plain, pred = degrade("plain", sp, ev, latency), degrade("predictive", sq, ev, latency)
    a, b = reached(plain), reached(pred)
    a1, b1 = reached(plain, "before_open"), reached(pred, "before_open")
    paired = [1 - y / x for x, y in zip(a, b, strict=True) if x]
    return {
        "plain_sweep": plain_sweep,
        "predictive_sweep": pred_sweep,
        "plain_threshold": tp,
        "plain_needless_calibration": plain_row["needless"],
        "predictive_threshold": sq[0],
        "predictive_significance": sq[1],
        "predictive_needless_calibration": best["needless"],
        "needless_eval": {
            "plain": needless("plain", sp, ev, hours, latency),
            "predictive": needless("predictive", sq, ev, hours, latency),
        },
        "reached_plain": spread(a),
        "reached_predictive": spread(b),
        "before_open_plain": spread(a1),
        "before_open_predictive": spread(b1),
        "reduction": 1 - statistics.median(b) / statistics.median(a),
        "reduction_before_open": 1 - statistics.median(b1) / statistics.median(a1),
        "paired_reduction": spread(paired),
        "predicted_trips": sum(r["predicted"] for r in pred),
        "seeds": len(ev),
    }


def report(results: dict[str, Any], smoke: bool) -> tuple[str, bool]:
    lines, ok = [], True
    for name, r in results["variants"].items():
        lines += [
            f"### {name}",
            "",
            "Needless opens per hour on the healthy, noisy dependency (calibration seeds). "
            "Plain breaker:",
            "",
            "| threshold | needless opens/h |",
            "|--:|--:|",
            *[f"| {s['threshold']:g} | {s['needless']:.2f} |" for s in r["plain_sweep"]],
            "",
            "Predictive breaker (calls reached: median over the calibration ramps, measured "
            "only where its needless rate is at most the plain operating point's):",
            "",
            "| threshold | significance | needless opens/h | calls reached |",
            "|--:|--:|--:|--:|",
            *[
                f"| {s['threshold']:g} | {s['significance']:g} | {s['needless']:.2f} | "
                + ("-" if s["reached"] is None else f"{s['reached']:.0f}")
                + " |"
                for s in r["predictive_sweep"]
            ],
            "",
            f"Operating points: plain threshold {r['plain_threshold']:g} "
            f"({r['plain_needless_calibration']:.2f}/h); predictive threshold "
            f"{r['predictive_threshold']:g}, significance {r['predictive_significance']:g} "
            f"({r['predictive_needless_calibration']:.2f}/h). Needless opens per hour on the "
            f"evaluation seeds: plain {r['needless_eval']['plain']:.2f}, predictive "
            f"{r['needless_eval']['predictive']:.2f}.",
            "",
            f"Calls that reached the degrading dependency ({r['seeds']} evaluation seeds, "
            "median [p25, p75]):",
            "",
            "| counted | plain | predictive | fewer (ratio of medians) |",
            "|:--|--:|--:|--:|",
        ]
        for label, key, red in (
            ("onset to end of run", "reached", "reduction"),
            ("onset to first open", "before_open", "reduction_before_open"),
        ):
            p, q = r[f"{key}_plain"], r[f"{key}_predictive"]
            lines.append(
                f"| {label} | {p['median']:.0f} [{p['p25']:.0f}, {p['p75']:.0f}] "
                f"| {q['median']:.0f} [{q['p25']:.0f}, {q['p75']:.0f}] | {r[red]:.1%} |"
            )
        pr = r["paired_reduction"]
        met = r["reduction"] >= TARGET and (
            r["needless_eval"]["predictive"] <= r["needless_eval"]["plain"]
        )
        ok = ok and met
        verdict = "smoke: not judged" if smoke else ("met" if met else "MISSED")
        lines += [
            "",
            f"Per-seed reduction: median {pr['median']:.1%} [{pr['p25']:.1%}, {pr['p75']:.1%}]; "
            f"predicted trips: {r['predicted_trips']}. Target >= {TARGET:.0%} fewer (onset to "
            f"end of run) at no more needless opens on the evaluation seeds: **{verdict}**.",
            "",
        ]
    head = [
        f"Settings: {RATE:g} calls/s; breaker {json.dumps(BREAKER)}; predictive "
        f"{json.dumps(PREDICTIVE)}; needless-open budget {BUDGET:g}/h; "
        f"{results['hours']:g} h per calibration seed, {results['calibration_seeds']} "
        f"calibration seeds (and as many calibration ramps), {results['evaluation_seeds']} "
        "evaluation seeds (healthy hours and ramps), all distinct.",
        "",
    ]
    return "\n".join(head + lines), ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seeds", type=int, default=30, help="evaluation seeds per variant")
    ap.add_argument("--calibration-seeds", type=int, default=10)
    ap.add_argument("--hours", type=float, default=1.0, help="healthy hours per seed")
    ap.add_argument("--smoke", action="store_true", help="tiny run, no verdict")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--write", action="store_true", help="write benchmarks/PREDICTIVE_RESULTS.md")
    args = ap.parse_args(argv)
    n_cal, n_ev, hours = (
        (2, 2, 0.05) if args.smoke else (args.calibration_seeds, args.seeds, args.hours)
    )
    seeds = {
        "calibration": list(range(1000, 1000 + n_cal)),
        "calibration_ramps": list(range(3000, 3000 + n_cal)),
        "evaluation": list(range(5000, 5000 + n_ev)),
    }
    started = time.perf_counter()
    names = {"failure-rate ramp": False, "latency ramp (slow calls)": True}
    with ProcessPoolExecutor(max_workers=2) as pool:  # one variant per core
        futures = {name: pool.submit(variant, lat, seeds, hours) for name, lat in names.items()}
        variants = {name: future.result() for name, future in futures.items()}
    results: dict[str, Any] = {
        "hours": hours,
        "calibration_seeds": n_cal,
        "evaluation_seeds": n_ev,
        "variants": variants,
    }
    body, ok = report(results, args.smoke)
    print(body)
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if args.write:
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        RESULTS.write_text(
            "# Predictive circuit breaker\n\nProduced by "
            f"`python benchmarks/predictive_breaker_bench.py --write` ({stamp}).\n\n{body}\n",
            encoding="utf-8",
        )
    return 0 if ok or args.smoke else 1


if __name__ == "__main__":
    raise SystemExit(main())
