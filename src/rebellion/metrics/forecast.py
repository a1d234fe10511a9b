"""Forecasts a person can trust: chosen by evidence, with intervals, inside the metric's range.

:class:`ForecastBank` forecasts many series at once, sample by sample (NumPy over the
series, O(1) state per series plus a window for the trend test). For every series it
keeps four exponential-smoothing models in error-correction form: a level (simple
exponential smoothing), a damped trend (Gardner-McKenzie), and both again with an
additive time-of-day profile. The model used is chosen by evidence:

* a trend only when the least-squares slope over the window is significant (a t test
  whose standard error is widened for lag-1 autocorrelation of the residuals);
* the seasonal profile only once the history spans two seasons *and* its one-step
  errors are smaller than the plain model's.

Each forecast carries 80 % and 95 % intervals from the model's one-step error variance
(the analytic h-step variance of the ETS(A,Ad,N) class), and every number is clipped to
the series' :class:`ValueRange`, so a percentage stays in 0-100 and a rate stays >= 0.
Time-to-threshold is given only when the trend is significant and points at the
threshold; it is the least-squares line's crossing ("if the current trend holds") with
an interval from the slope's 95 % confidence interval.

>>> bank = ForecastBank(1, ranges=PERCENT, window=60)
>>> for i in range(60):
...     bank.update([50.0 + 0.5 * i])
>>> f = bank.forecast(10.0, thresholds=[90.0])[0]
>>> f.model, f.trend, round(f.time_to_threshold)
('damped_trend', 'rising', 21)
>>> 0.0 <= f.low95 <= f.value <= f.high95 <= 100.0
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import final

import numpy as np
import numpy.typing as npt

from .._validate import check_int, check_number
from ..errors import ConfigError
from ._forecast_models import Smoothers, variance_factor
from ._forecast_types import NON_NEGATIVE, PERCENT, UNBOUNDED, Forecast, ValueRange

__all__ = [
    "NON_NEGATIVE",
    "PERCENT",
    "UNBOUNDED",
    "Forecast",
    "ForecastBank",
    "ValueRange",
]

FloatArray = npt.NDArray[np.float64]
_Z80, _Z95 = 1.2815515655446004, 1.959963984540054


@final
class ForecastBank:
    """Forecast many series at once; series ``i`` is judged only on its own history.

    Args:
        n_series: series held at first (:meth:`grow` adds more).
        ranges: one :class:`ValueRange` for all series, or one per series.
        sample_interval: seconds between samples (slopes and horizons are in seconds).
        window: samples in the trend test's window (>= 10).
        alpha: level smoothing, in (0, 1).
        beta: trend smoothing, in (0, 1).
        phi: trend damping per sample, in (0, 1].
        significance: |t| above which the slope counts as a trend (> 0; 3 by default:
            many series are tested every tick, so a loose test would see trends in noise).
        max_lead: longest time-to-threshold reported, in seconds.
        season_period: seconds in a season (a day); 0 disables seasonality.
        season_bins: slots in the seasonal profile.
        season_rate: share of a slot's error learnt per visit, in (0, 1).

    Raises:
        ConfigError: a parameter is out of range; the message names it.
    """

    __slots__ = (
        "_first",
        "_last",
        "_models",
        "_pos",
        "_ranges",
        "_ring",
        "alpha",
        "beta",
        "max_lead",
        "phi",
        "sample_interval",
        "season_period",
        "significance",
        "window",
    )

    def __init__(
        self,
        n_series: int,
        *,
        ranges: ValueRange | Sequence[ValueRange] = UNBOUNDED,
        sample_interval: float = 1.0,
        window: int = 300,
        alpha: float = 0.3,
        beta: float = 0.1,
        phi: float = 0.98,
        significance: float = 3.0,
        max_lead: float = 7 * 86400.0,
        season_period: float = 86400.0,
        season_bins: int = 48,
        season_rate: float = 0.3,
    ) -> None:
        check_int("n_series", n_series, minimum=0)
        self.sample_interval = check_number(
            "sample_interval", sample_interval, minimum=0.0, exclusive_minimum=True
        )
        self.window = check_int("window", window, minimum=10, maximum=100_000)
        self.alpha = check_number("alpha", alpha, minimum=0.0, maximum=1.0, exclusive_minimum=True)
        self.beta = check_number("beta", beta, minimum=0.0, maximum=1.0, exclusive_minimum=True)
        self.phi = check_number("phi", phi, minimum=0.0, maximum=1.0, exclusive_minimum=True)
        self.significance = check_number(
            "significance", significance, minimum=0.0, exclusive_minimum=True
        )
        self.max_lead = check_number("max_lead", max_lead, minimum=0.0, exclusive_minimum=True)
        self.season_period = check_number("season_period", season_period, minimum=0.0)
        bins = check_int("season_bins", season_bins, minimum=2, maximum=10_000)
        gamma = check_number(
            "season_rate", season_rate, minimum=0.0, maximum=1.0, exclusive_minimum=True
        )
        self._models = Smoothers(0, self.alpha, self.beta, self.phi, bins, gamma)
        self._ranges: list[ValueRange] = []
        self._ring: FloatArray = np.full((0, self.window), np.nan)
        self._pos = 0
        self._first: FloatArray = np.zeros(0)
        self._last: FloatArray = np.zeros(0)
        self.grow(_ranges_for(n_series, ranges))

    @property
    def n_series(self) -> int:
        """How many series the bank holds."""
        return len(self._ranges)

    def grow(self, ranges: Sequence[ValueRange]) -> None:
        """Add one series per range, with no history yet."""
        for r in ranges:
            if not isinstance(r, ValueRange):
                raise ConfigError("ranges", "ValueRange instances", r)
        k = len(ranges)
        self._ranges.extend(ranges)
        self._ring = np.vstack((self._ring, np.full((k, self.window), np.nan)))
        self._first = np.concatenate((self._first, np.full(k, np.nan)))
        self._last = np.concatenate((self._last, np.full(k, np.nan)))
        self._models.grow(k)

    def update(self, values: npt.ArrayLike, timestamp: float | None = None) -> None:
        """Learn one sample per series (NaN: no sample for that series this round).

        Args:
            values: ``n_series`` numbers.
            timestamp: epoch seconds of the sample; without it no season is learnt.

        Raises:
            ValueError: wrong shape or an infinite value.
        """
        x = np.asarray(values, dtype=np.float64)
        if x.shape != (self.n_series,):
            raise ValueError(f"values must have shape ({self.n_series},), got {x.shape}")
        if np.isinf(x).any():
            raise ValueError("values must be finite or NaN (missing), got an infinity")
        self._ring[:, self._pos] = x
        self._pos = (self._pos + 1) % self.window
        present = ~np.isnan(x)
        stamp = math.nan if timestamp is None else float(timestamp)
        if math.isfinite(stamp) and self.season_period > 0:
            self._first = np.where(present & np.isnan(self._first), stamp, self._first)
            self._last = np.where(present, stamp, self._last)
            phase = (stamp % self.season_period) / self.season_period
        else:
            phase = math.nan
        self._models.update(x, present, phase)

    def forecast(self, horizon: float, thresholds: npt.ArrayLike | None = None) -> list[Forecast]:
        """Return every series' forecast ``horizon`` seconds ahead.

        Args:
            horizon: seconds ahead (>= 0).
            thresholds: per-series upper limits for time-to-threshold (NaN: none).

        Raises:
            ConfigError: a negative horizon.
            ValueError: thresholds of the wrong shape.
        """
        horizon = check_number("horizon", horizon, minimum=0.0)
        n = self.n_series
        limits = np.full(n, np.nan) if thresholds is None else np.asarray(thresholds, float)
        if limits.shape != (n,):
            raise ValueError(f"thresholds must have shape ({n},), got {limits.shape}")
        steps = max(1, round(horizon / self.sample_interval))
        slope, se, fitted, significant = self._trend_test()
        m = self._models
        seasonal = self._seasonal_ready()
        use_trend = significant
        phase = self._phase_ahead(horizon)
        point, mse = m.choose(use_trend, seasonal, steps, phase)
        factor = np.where(
            use_trend,
            variance_factor(self.alpha, self.beta, self.phi, steps),
            variance_factor(self.alpha, 0.0, 0.0, steps),
        )
        spread = np.sqrt(np.maximum(mse, 0.0) * factor)
        per_second = slope / self.sample_interval
        out: list[Forecast] = []
        for i in range(n):
            out.append(
                self._one(
                    i, horizon, float(point[i]), float(spread[i]), bool(use_trend[i]),
                    bool(seasonal[i]), float(per_second[i]),
                    float(se[i]) / self.sample_interval, float(fitted[i]), float(limits[i]),
                )
            )  # fmt: skip
        return out

    def _one(
        self,
        i: int,
        horizon: float,
        point: float,
        spread: float,
        trended: bool,
        seasonal: bool,
        slope: float,
        se: float,
        fitted: float,
        limit: float,
    ) -> Forecast:
        r = self._ranges[i]
        lo, hi = r.low, r.high

        def clip(x: float) -> float:
            return min(max(x, lo), hi)

        if not math.isfinite(point):
            latest = self._latest(i)
            point = latest if math.isfinite(latest) else max(lo, min(0.0, hi))
        if not math.isfinite(spread):
            spread = 0.0
        model = ("seasonal_" if seasonal else "") + ("damped_trend" if trended else "level")
        trend = "flat" if not trended else ("rising" if slope > 0 else "falling")
        tts, low, high = (
            _crossing(limit, fitted, slope, se, self._latest(i), r, self.max_lead)
            if trended
            else (None, None, None)
        )
        return Forecast(
            value=clip(point),
            horizon=horizon,
            low80=clip(point - _Z80 * spread),
            high80=clip(point + _Z80 * spread),
            low95=clip(point - _Z95 * spread),
            high95=clip(point + _Z95 * spread),
            model=model,
            trend=trend,
            slope=slope if trended else 0.0,
            time_to_threshold=tts,
            ttt_low=low,
            ttt_high=high,
        )

    def _latest(self, i: int) -> float:
        row = self._ring[i]
        for k in range(1, self.window + 1):
            v = row[(self._pos - k) % self.window]
            if not math.isnan(v):
                return float(v)
        return math.nan

    def _ordered(self) -> FloatArray:
        return np.roll(self._ring, -self._pos, axis=1)

    def _trend_test(self) -> tuple[FloatArray, FloatArray, FloatArray, npt.NDArray[np.bool_]]:
        """Least-squares slope per sample over the window, its standard error, the fitted
        value at the newest slot, and whether |slope / se| exceeds ``significance``."""
        y = self._ordered()
        mask = ~np.isnan(y)
        x = np.arange(self.window, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            n = mask.sum(axis=1).astype(np.float64)
            xm = np.where(mask, x, 0.0)
            ym = np.where(mask, y, 0.0)
            xbar = xm.sum(axis=1) / n
            ybar = ym.sum(axis=1) / n
            dx = np.where(mask, x - xbar[:, None], 0.0)
            dy = np.where(mask, y - ybar[:, None], 0.0)
            sxx = (dx * dx).sum(axis=1)
            slope = (dx * dy).sum(axis=1) / sxx
            resid = dy - slope[:, None] * dx
            rss = (resid * resid).sum(axis=1)
            rho = (resid[:, 1:] * resid[:, :-1]).sum(axis=1) / rss
            rho = np.clip(np.nan_to_num(rho), 0.0, 0.95)
            var = rss / np.maximum(n - 2.0, 1.0) / sxx * (1.0 + rho) / (1.0 - rho)
            se = np.sqrt(var)
            fitted = ybar + slope * (self.window - 1 - xbar)
            scale = np.maximum(np.abs(ybar), 1.0) * 1e-12  # exact lines have se = 0
            significant = (n >= 10) & (np.abs(slope) > self.significance * se + scale)
        return (
            np.nan_to_num(slope),
            np.nan_to_num(se),
            fitted,
            np.asarray(significant, dtype=bool),
        )

    def _seasonal_ready(self) -> npt.NDArray[np.bool_]:
        if self.season_period <= 0:
            return np.zeros(self.n_series, dtype=bool)
        with np.errstate(invalid="ignore"):
            spanned = (self._last - self._first) >= 2.0 * self.season_period
        return np.asarray(spanned & self._models.season_helps(), dtype=bool)

    def _phase_ahead(self, horizon: float) -> float:
        if self.season_period <= 0 or not np.isfinite(self._last).any():
            return math.nan
        last = float(np.nanmax(self._last))
        return ((last + horizon) % self.season_period) / self.season_period


def _crossing(
    limit: float,
    fitted: float,
    slope: float,
    se: float,
    latest: float,
    r: ValueRange,
    max_lead: float,
) -> tuple[float | None, float | None, float | None]:
    """Return seconds until the trend line reaches ``limit``, with a 95 % interval."""
    if not math.isfinite(limit) or not r.low <= limit <= r.high:
        return None, None, None
    if math.isfinite(latest) and latest >= limit:
        return 0.0, 0.0, 0.0
    if slope <= 0 or not math.isfinite(fitted):
        return None, None, None
    gap = max(limit - fitted, 0.0)
    tts = gap / slope
    if tts > max_lead:
        return None, None, None
    fast, slow = slope + _Z95 * se, slope - _Z95 * se
    low = gap / fast if fast > 0 else 0.0
    high = gap / slow if slow > 0 and gap / slow <= max_lead else None
    return tts, low, high


def _ranges_for(n: int, ranges: ValueRange | Sequence[ValueRange]) -> list[ValueRange]:
    if isinstance(ranges, ValueRange):
        return [ranges] * n
    out = list(ranges)
    if len(out) != n:
        raise ConfigError("ranges", f"one ValueRange or {n} of them", f"{len(out)} ranges")
    return out
