"""The vectorised scoring kernel shared by AnomalyDetector and AnomalyDetectorBank.

One code path serves both: a single detector is a bank of one, so the two give the very
same scores. Every array holds one entry per series; :meth:`Kernel.step` scores one new
sample of the selected series and then absorbs it (a score never sees later data).

Per series the score is the largest of five surprises, each turned into a tail
probability of *that series'* own history, so one threshold fits every metric:

* **level**: ``|x - level| / scale`` against a robust (Huber-clipped) exponentially
  weighted level and mean absolute deviation, squashed to a raw score in [0, 1);
* **change**: the step from the previous sample against the typical step, scored the
  same way; smoothed, it measures how erratic the metric is lately, so a metric that
  turns jittery is seen even while it stays near its usual level;
* **shift**: the mean of the last ``smoothing`` signed residuals, in scales (each clipped
  at 10 so one outlier cannot make a shift): a sustained move to one side, which the
  magnitudes above dilute. Its fit starts halfway through the warm-up, once the scale
  has settled;
* **season** (only with timestamps): the same residual against a time-of-day profile
  (``bins`` slots per ``period``), trusted once a slot has seen ``trust`` periods;
* **novelty**: a value beyond the range seen so far by more than ``tolerance`` of it.

The raw level, change and season scores are averaged over the last ``smoothing`` samples
and compared with a Gaussian fit of their own past (Numenta's "anomaly likelihood"), as
is the shift (two-sided); the tail probability ``p`` becomes ``-log10(p) / 10`` (0.5 at
p = 1e-5, 1 at p <= 1e-10). The level, change and shift tests are combined
Bonferroni-style (the smallest ``p`` tripled), so asking three questions does not triple
the false alarms. The seasonal test waits for
``2 * warmup`` scores of trusted slots: a profile that has just become trusted is still
settling, and its early residuals would make the fit too narrow.
After an alert (score >= ``alert_level``) the next ``rest`` scores are capped just
below it, so one episode raises one alert.

>>> import numpy as np
>>> k = Kernel(2, KernelParams())
>>> k.step(np.array([1.0, 2.0]), np.full(2, np.nan), None).tolist()
[0.0, 0.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import final

import numpy as np
import numpy.typing as npt

from ._anomaly_fit import (
    LOG10_P_FLOOR,
    FloatArray,
    Index,
    likelihood,
    raw_surprise,
    smoothed,
)

__all__ = ["Index", "Kernel", "KernelParams"]

_MEAN_ABS_TO_SIGMA = math.sqrt(math.pi / 2.0)  # mean |x - mu| of a normal is sigma * sqrt(2/pi)
_CLIP = 3.0  # Huber clip (in scales) so one outlier cannot drag the level or the scale
_REL_FLOOR = 1e-3  # scale floor relative to the range / level: idle metrics keep a scale
_ABS_FLOOR = 1e-12
_MAX_MAGNITUDE = 1e280  # |x - y| / 1e-12 must stay below the float64 maximum
_SEASON_SCALE_SHARE = 0.25  # a season slot's scale is at least this share of the level scale
_SEASON_WARMUP = 2  # the seasonal fit waits for this many warm-ups of trusted scores
_BONFERRONI = math.log10(3.0) / LOG10_P_FLOOR  # three tests (level, change, shift)
_SHIFT_CLIP = 10.0  # a residual counts at most this many scales towards a shift


@final
@dataclass(frozen=True, slots=True)
class KernelParams:
    """Validated numeric settings of the kernel (see AnomalyDetector for their meaning)."""

    alpha: float = 0.01
    likelihood_rate: float = 0.002
    smoothing: int = 10
    warmup: int = 100
    tolerance: float = 0.05  # inf disables novelty scoring
    rest: int = 30
    alert_level: float = 0.5
    bins: int = 48  # 0 disables the seasonal profile
    period: float = 86400.0
    season_rate: float = 0.3
    trust: float = 2.0


@final
class Kernel:
    """State arrays of ``n`` independent detectors and the step that scores them."""

    def __init__(self, n: int, params: KernelParams) -> None:
        self.n = n
        self.p = params
        self.reset(slice(None))

    def reset(self, idx: Index) -> None:
        """Forget everything about the selected series (all of them on the first call)."""
        n, p = self.n, self.p
        if isinstance(idx, slice) and idx == slice(None):
            self.count = np.zeros(n, np.int64)
            self.level = np.zeros(n)
            self.dev = np.zeros(n)
            self.low = np.zeros(n)
            self.high = np.zeros(n)
            self.ring = np.zeros((p.smoothing, n))
            self.mean = np.zeros(n)
            self.var = np.zeros(n)
            self.quiet = np.zeros(n, np.int64)
            self.alerts = np.zeros(n, np.int64)
            self.last_score = np.zeros(n)
            self.last_ts = np.full(n, np.nan)
            bins = max(p.bins, 1)
            self.prof = np.zeros((n, bins))
            self.pdev = np.zeros((n, bins))
            self.cover = np.zeros((n, bins))
            self.h_ring = np.zeros((p.smoothing, n))
            self.h_mean = np.zeros(n)
            self.h_var = np.zeros(n)
            self.prev = np.zeros(n)
            self.step_dev = np.zeros(n)
            self.c_ring = np.zeros((p.smoothing, n))
            self.c_mean = np.zeros(n)
            self.c_var = np.zeros(n)
            self.s_count = np.zeros(n, np.int64)
            self.s_ring = np.zeros((p.smoothing, n))
            self.s_mean = np.zeros(n)
            self.s_var = np.zeros(n)
            return
        for name in ("count", "quiet", "alerts", "s_count"):
            getattr(self, name)[idx] = 0
        for name in ("level", "dev", "low", "high", "mean", "var", "last_score"):
            getattr(self, name)[idx] = 0.0
        for name in ("s_mean", "s_var", "prev", "step_dev", "c_mean", "c_var", "h_mean", "h_var"):
            getattr(self, name)[idx] = 0.0
        self.last_ts[idx] = np.nan
        self.ring[:, idx] = 0.0
        self.s_ring[:, idx] = 0.0
        self.c_ring[:, idx] = 0.0
        self.h_ring[:, idx] = 0.0
        self.prof[idx] = 0.0
        self.pdev[idx] = 0.0
        self.cover[idx] = 0.0

    def step(self, x: FloatArray, ts: FloatArray, idx: Index | None) -> FloatArray:
        """Score ``x`` (finite) for the series ``idx`` (None: all), then learn from it.

        Args:
            x: one finite value per selected series (magnitudes above 1e280 are clipped).
            ts: one timestamp in seconds per selected series (NaN: none).
            idx: the selected series, or None for all of them in order.

        Returns:
            The scores in [0, 1], one per selected series.
        """
        p = self.p
        sel: Index = slice(None) if idx is None else idx
        x = np.clip(x, -_MAX_MAGNITUDE, _MAX_MAGNITUDE)  # keeps every difference finite
        count = self.count[sel]
        first = count == 0
        level = np.where(first, x, self.level[sel])
        low = np.where(first, x, self.low[sel])
        high = np.where(first, x, self.high[sel])
        dev = self.dev[sel]
        span = high - low
        floor = np.maximum(_REL_FLOOR * np.maximum(span, np.abs(level)), _ABS_FLOOR)
        scale = np.maximum(_MEAN_ABS_TO_SIGMA * dev, floor)
        resid = x - level
        smooth = smoothed(self.ring, sel, count, raw_surprise(resid, scale))
        level_score, self.mean[sel], self.var[sel] = likelihood(
            self.mean[sel], self.var[sel], smooth, count, p.likelihood_rate
        )
        change = x - np.where(first, x, self.prev[sel])
        step_dev = self.step_dev[sel]
        step_scale = np.maximum(_MEAN_ABS_TO_SIGMA * step_dev, floor)
        smooth = smoothed(self.c_ring, sel, count, raw_surprise(change, step_scale))
        change_score, self.c_mean[sel], self.c_var[sel] = likelihood(
            self.c_mean[sel], self.c_var[sel], smooth, count, p.likelihood_rate
        )
        shift = np.clip(resid / scale, -_SHIFT_CLIP, _SHIFT_CLIP)
        smooth = smoothed(self.h_ring, sel, count, shift)
        # Residuals in scales mean little before the scale has settled, and unlike the raw
        # scores they are not bounded by 1: the shift fit starts halfway through the warm-up.
        start = p.warmup // 2
        h_mean, h_var = self.h_mean[sel], self.h_var[sel]
        shift_score, new_mean, new_var = likelihood(
            h_mean, h_var, smooth, np.maximum(count - start, 0), p.likelihood_rate, True
        )
        learn = count >= start
        self.h_mean[sel] = np.where(learn, new_mean, h_mean)
        self.h_var[sel] = np.where(learn, new_var, h_var)
        ready = count >= p.warmup
        score = np.maximum(level_score, np.maximum(change_score, shift_score))
        score = np.maximum(score - _BONFERRONI, 0.0)
        score = np.where(ready, score, 0.0)

        if p.bins:
            score = np.maximum(score, self._season(sel, x, ts, ready, floor, scale))

        if p.tolerance != math.inf:
            margin = p.tolerance * span
            novel = ready & (span > 0.0) & ((x > high + margin) | (x < low - margin))
            score = np.where(novel, 1.0, score)

        quiet = self.quiet[sel]
        cap = np.nextafter(p.alert_level, 0.0)
        score = np.where(quiet > 0, np.minimum(score, cap), score)
        alert = score >= p.alert_level
        self.quiet[sel] = np.where(alert, p.rest, np.maximum(quiet - 1, 0))
        self.alerts[sel] += alert

        step = np.maximum(p.alpha, 1.0 / (count + 1.0))
        clipped = np.clip(resid, -_CLIP * scale, _CLIP * scale)
        self.level[sel] = level + step * clipped
        self.dev[sel] = dev + step * (np.abs(clipped) - dev)
        # The first step is learnt from the second sample on (the first has no step).
        c_step = np.maximum(p.alpha, 1.0 / np.maximum(count, 1.0))
        c_clipped = np.minimum(np.abs(change), _CLIP * step_scale)
        self.step_dev[sel] = np.where(first, 0.0, step_dev + c_step * (c_clipped - step_dev))
        self.prev[sel] = x
        self.low[sel] = np.minimum(low, x)
        self.high[sel] = np.maximum(high, x)
        self.count[sel] = count + 1
        self.last_score[sel] = score
        return score

    def _season(
        self,
        sel: Index,
        x: FloatArray,
        ts: FloatArray,
        ready: npt.NDArray[np.bool_],
        floor: FloatArray,
        scale: FloatArray,
    ) -> FloatArray:
        """Score against the time-of-day profile and update it; 0 where not trusted."""
        p = self.p
        has_ts = ~np.isnan(ts)
        rows = np.arange(self.n)[sel]
        safe_ts = np.where(has_ts, ts, 0.0)
        phase = np.mod(safe_ts, p.period) * (p.bins / p.period)
        slot = np.minimum(phase.astype(np.int64), p.bins - 1)
        prof = self.prof[rows, slot]
        pdev = self.pdev[rows, slot]
        cover = self.cover[rows, slot]
        trusted = has_ts & (cover >= p.trust)

        s_scale = np.maximum(
            _MEAN_ABS_TO_SIGMA * pdev, np.maximum(floor, _SEASON_SCALE_SHARE * scale)
        )
        resid = x - prof
        raw = raw_surprise(resid, s_scale)
        s_count = self.s_count[rows]
        score = np.zeros(x.shape[0])
        if trusted.any():
            t_rows = rows[trusted]
            t_count = s_count[trusted]
            smooth = smoothed(self.s_ring, t_rows, t_count, raw[trusted])
            t_score, self.s_mean[t_rows], self.s_var[t_rows] = likelihood(
                self.s_mean[t_rows], self.s_var[t_rows], smooth, t_count, p.likelihood_rate
            )
            t_ready = ready[trusted] & (t_count >= _SEASON_WARMUP * p.warmup)
            score[trusted] = np.where(t_ready, t_score, 0.0)
            self.s_count[t_rows] = t_count + 1

        # A sample stands for the time since the previous one, at most a whole slot.
        last = self.last_ts[rows]
        gap = np.where(has_ts & ~np.isnan(last), safe_ts - np.where(np.isnan(last), 0.0, last), 0.0)
        weight = np.clip(gap * (p.bins / p.period), 0.0, 1.0)
        rate = np.maximum(
            -np.expm1(weight * math.log1p(-p.season_rate)) if p.season_rate < 1.0 else weight,
            weight / np.maximum(cover + weight, _ABS_FLOOR),
        )
        clipped = np.where(cover > 0.0, np.clip(resid, -_CLIP * s_scale, _CLIP * s_scale), resid)
        spread = np.where(cover > 0.0, np.abs(clipped), 0.0)  # a first sample has no spread
        self.prof[rows, slot] = prof + rate * clipped
        self.pdev[rows, slot] = pdev + rate * (spread - pdev)
        self.cover[rows, slot] = cover + weight
        self.last_ts[rows] = np.where(has_ts, safe_ts, last)
        return score
