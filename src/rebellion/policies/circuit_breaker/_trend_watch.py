"""The predictive breaker's evidence: per-bucket rates judged by the monitor's detector and trend.

Outcomes are counted in buckets of ``bucket`` seconds. Each closed bucket gives one
sample per signal (failure rate; with slow calls judged, slow-call rate and a latency
quantile), learnt by the same :class:`~rebellion.metrics.anomaly.AnomalyDetectorBank`
and :class:`~rebellion.metrics.forecast.ForecastBank` the monitor runs on host metrics.
A bucket with fewer than ``min_calls`` calls is a missing sample (NaN), never a zero.

Not thread-safe: the predictive breaker holds its lock around every method.

>>> import random
>>> rng = random.Random(3)
>>> watch = TrendWatch(thresholds=(0.5,), bucket=1.0, window=120, horizon=90.0)
>>> first = None
>>> for second in range(600):
...     rate = 0.03 if second < 300 else 0.03 + (second - 300) / 300
...     if watch.due(second) and not first:
...         first = watch.close(second, restart=False)
...     for call in range(20):
...         watch.count(rng.random() < rate, None)
>>> p = first[0]
>>> p.signal, p.rule, p.value < 0.5, p.reason()[:40]
('failure_rate', 'anomaly', True, 'predicted: failure rate 17.2% (threshold')
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import final

import numpy as np

from ...metrics.anomaly import AnomalyDetectorBank
from ...metrics.forecast import NON_NEGATIVE, Forecast, ForecastBank, ValueRange
from ._predictive_types import SIGNALS, Prediction

__all__ = ["TrendWatch"]

ANOMALY_REACH = 3.0
"""With an anomaly flagged, a crossing this many horizons ahead trips too."""
_FRACTION = ValueRange(0.0, 1.0)


@final
class TrendWatch:
    """Bucket outcomes, learn each bucket, and say which signals head for their threshold.

    Args:
        thresholds: the failure-rate threshold, or (failure rate, slow-call rate,
            latency in seconds) when slow calls are judged.
        bucket: seconds per sample.
        window: buckets in the trend test's window.
        horizon: a trend crossing its threshold within this many seconds trips.
        significance: |t| of the slope that counts as a trend.
        anomaly_level: detector score that counts as an anomaly.
        floor: share of its threshold a signal's recent level must reach first.
        min_calls: calls a bucket needs to be a sample.
        quantile: latency quantile sampled per bucket.
        warmup: buckets the detector learns from before it scores.
    """

    def __init__(
        self,
        *,
        thresholds: Sequence[float],
        bucket: float,
        window: int,
        horizon: float,
        significance: float = 3.0,
        anomaly_level: float = 0.5,
        floor: float = 0.25,
        min_calls: int = 5,
        quantile: float = 0.95,
        warmup: int = 100,
    ) -> None:
        self.thresholds = np.asarray(thresholds, dtype=np.float64)
        self.n = len(self.thresholds)
        self.bucket, self.window, self.horizon = bucket, window, horizon
        self.significance, self.anomaly_level, self.floor = significance, anomaly_level, floor
        self.min_calls, self.quantile = min_calls, quantile
        self.fresh = 0  # samples learnt since the breaker last moved
        self.settle = 3
        self.detector = AnomalyDetectorBank(self.n, name="predictive", warmup=warmup)
        self.bank = self._new_bank()
        self.recent: deque[tuple[int, int, int, float]] = deque(maxlen=max(5, window // 6))
        self.index: int | None = None
        self.calls = self.failures = self.slow = 0
        self.durations: list[float] = []
        self.buckets = 0
        self.scores = np.zeros(self.n)
        self.forecasts: list[Forecast] = []
        self.crossings: list[float | None] = []  # per signal, as judged

    def _new_bank(self) -> ForecastBank:
        ranges = [_FRACTION, _FRACTION, NON_NEGATIVE][: self.n]
        return ForecastBank(
            self.n,
            ranges=ranges,
            sample_interval=self.bucket,
            window=self.window,
            significance=self.significance,
            max_lead=max(self.horizon, self.bucket) * 100.0,
            season_period=0.0,
        )

    # -- counting --------------------------------------------------------------------

    def due(self, now: float) -> bool:
        """Whether ``now`` lies past the current bucket (a clock that steps back does not)."""
        index = math.floor(now / self.bucket)
        if self.index is None:
            self.index = index
            return False
        return index > self.index

    def count(self, failed: bool, duration: float | None) -> None:
        """Count one outcome in the current bucket (slow calls judged when ``duration``)."""
        self.calls += 1
        if failed:
            self.failures += 1
        if duration is not None:
            self.durations.append(duration)
            if self.n > 1 and duration >= self.thresholds[2]:
                self.slow += 1

    # -- judging ---------------------------------------------------------------------

    def close(self, now: float, *, restart: bool) -> list[Prediction]:
        """Close the current bucket, learn it, and return the signals predicted to trip.

        Args:
            now: the time that lies past the bucket (buckets between are missing).
            restart: the breaker moved since the last bucket; its trend starts afresh.
        """
        assert self.index is not None
        sample = self._sample()
        self.buckets += 1
        self.calls = self.failures = self.slow = 0
        self.durations = []
        if restart:
            # The breaker moved (opened, probed, closed): judge the level afresh, but keep
            # the trend, so a degradation that is still under way trips again at once.
            self.recent.clear()
            self.fresh = 0
        self.scores = self.detector.update_many(sample)
        predictions: list[Prediction] = []
        if not restart:
            self.bank.update(sample)
            self.fresh += 1
            # A recent level needs a few buckets since the breaker last moved.
            if not np.isnan(sample[0]) and self.fresh >= self.settle:
                predictions = self._judge(sample)
        gap = min(math.floor(now / self.bucket) - self.index - 1, self.window)
        missing = np.full(self.n, np.nan)
        for _ in range(max(gap, 0)):
            self.bank.update(missing)
        self.index = math.floor(now / self.bucket)
        return predictions

    def _sample(self) -> np.ndarray:
        values = np.full(self.n, np.nan)
        if self.calls >= self.min_calls:
            values[0] = self.failures / self.calls
            if self.n > 1:
                timed = len(self.durations)
                if timed >= self.min_calls:
                    values[1] = self.slow / timed
                    values[2] = float(np.quantile(self.durations, self.quantile))
            self.recent.append((self.calls, self.failures, self.slow, float(values[-1])))
        return values

    def levels(self) -> np.ndarray:
        """Each signal's level pooled over the recent buckets (NaN: none yet)."""
        out = np.full(self.n, np.nan)
        calls = sum(r[0] for r in self.recent)
        if calls:
            out[0] = sum(r[1] for r in self.recent) / calls
            if self.n > 1:
                out[1] = sum(r[2] for r in self.recent) / calls
                latencies = [r[3] for r in self.recent if not math.isnan(r[3])]
                out[2] = float(np.mean(latencies)) if latencies else math.nan
        return out

    def _judge(self, sample: np.ndarray) -> list[Prediction]:
        self.forecasts = self.bank.forecast(self.horizon, self.thresholds)
        levels = self.levels()
        out: list[Prediction] = []
        self.crossings = []
        for i in range(self.n):
            level, limit = float(levels[i]), float(self.thresholds[i])
            f, score = self.forecasts[i], float(self.scores[i])
            ttt, low, high = f.time_to_threshold, f.ttt_low, f.ttt_high
            if ttt == 0.0 and level < limit and f.slope > 0:
                # Only the newest bucket reached the limit: one noisy sample is not the
                # rate. Where the recent level goes at the trend's slope decides.
                ttt, low, high = (limit - level) / f.slope, None, None
            self.crossings.append(ttt)
            if not level >= self.floor * limit:  # NaN never passes
                continue
            if f.trend != "rising" or ttt is None:
                continue
            if ttt <= self.horizon:
                rule = "trend"
            elif (
                ttt <= ANOMALY_REACH * self.horizon
                and score >= self.anomaly_level
                and sample[i] > self._learnt_level(i)
            ):
                # An anomaly is evidence the rise is not noise: act on a longer view.
                rule = "anomaly"
            else:
                continue
            out.append(Prediction(SIGNALS[i], rule, level, limit, ttt, low, high, score))
        return out

    def _learnt_level(self, i: int) -> float:
        level = self.detector.series_stats(i)["level"]
        return float(level) if isinstance(level, float) else math.inf

    def soonest(self) -> float | None:
        """The soonest crossing judged last (seconds; 0: crossed), or None."""
        times = [t for t in self.crossings if t is not None]
        return min(times) if times else None
