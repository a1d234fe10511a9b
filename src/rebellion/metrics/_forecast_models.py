"""Four exponential-smoothing models per series, updated together with NumPy.

Rows of every state array: 0 level (SES), 1 damped trend, 2 level + season,
3 damped trend + season. The season is a time-of-day profile (an exponentially weighted
mean per slot); the seasonal twins smooth the samples with the profile taken out and
add it back to their forecasts, as STL + ETS does. All in error-correction form
(Hyndman et al., *Forecasting with Exponential Smoothing*, class 1 models), so the
h-step error variance has a closed form (:func:`variance_factor`).

>>> m = Smoothers(1, 0.5, 0.1, 0.9, 4, 0.3)
>>> import numpy as np
>>> for v in (1.0, 2.0, 3.0):
...     m.update(np.array([v]), np.array([True]), float("nan"))
>>> float(m.level[0, 0])
2.25
"""

from __future__ import annotations

import functools
import math
import warnings
from typing import final

import numpy as np
import numpy.typing as npt

__all__ = ["Smoothers", "variance_factor"]

FloatArray = npt.NDArray[np.float64]
_ERROR_RATE = 0.02  # one-step squared errors are averaged over ~50 samples


@functools.lru_cache(maxsize=256)
def variance_factor(alpha: float, beta: float, phi: float, steps: int) -> float:
    """Return Var(h-step error) / Var(one-step error) for a damped-trend ETS model.

    With ``beta = 0`` it is simple exponential smoothing's ``1 + (h - 1) alpha^2``.
    """
    total = 1.0
    for j in range(1, steps):
        damp = j if phi == 1.0 else phi * (1.0 - phi**j) / (1.0 - phi)
        c = alpha * (1.0 + beta * damp)
        total += c * c
    return total


def _damped_sum(phi: float, steps: int) -> float:
    return float(steps) if phi == 1.0 else phi * (1.0 - phi**steps) / (1.0 - phi)


@final
class Smoothers:
    """Level, damped-trend and their seasonal twins for ``n`` series."""

    __slots__ = (
        "alpha",
        "beta",
        "bins",
        "count",
        "gamma",
        "level",
        "mse",
        "phi",
        "profile",
        "trend",
    )

    def __init__(
        self, n: int, alpha: float, beta: float, phi: float, bins: int, gamma: float
    ) -> None:
        self.alpha, self.beta, self.phi, self.bins, self.gamma = alpha, beta, phi, bins, gamma
        self.level: FloatArray = np.zeros((4, n))
        self.trend: FloatArray = np.zeros((4, n))
        self.mse: FloatArray = np.full((4, n), np.nan)
        self.count: FloatArray = np.zeros(n)
        self.profile: FloatArray = np.full((n, bins), np.nan)

    def grow(self, k: int) -> None:
        """Add ``k`` series with no history."""
        self.level = np.hstack((self.level, np.zeros((4, k))))
        self.trend = np.hstack((self.trend, np.zeros((4, k))))
        self.mse = np.hstack((self.mse, np.full((4, k), np.nan)))
        self.count = np.concatenate((self.count, np.zeros(k)))
        self.profile = np.vstack((self.profile, np.full((k, self.bins), np.nan)))

    def _season(self, idx: npt.NDArray[np.int64] | slice, slot: int) -> FloatArray:
        """Return the profile's deviation from its mean at ``slot`` (0 where unknown)."""
        rows = self.profile[idx]
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: no profile yet
            centre = np.nanmean(rows, axis=1)
        deviation: FloatArray = np.nan_to_num(rows[:, slot] - centre)
        return deviation

    def _phis(self) -> FloatArray:
        return np.array([0.0, self.phi, 0.0, self.phi])[:, None]

    def update(self, x: FloatArray, present: npt.NDArray[np.bool_], phase: float) -> None:
        """Learn one sample per series where ``present``; ``phase`` in [0, 1) or NaN."""
        idx = np.flatnonzero(present)
        if not idx.size:
            return
        y = x[idx]
        fresh = self.count[idx] == 0
        phis = self._phis()
        level, trend = self.level[:, idx], self.trend[:, idx]
        target = np.broadcast_to(y, (4, idx.size)).copy()
        slot = -1
        if math.isfinite(phase):
            # The seasonal twins see the sample with the time-of-day profile removed.
            slot = min(int(phase * self.bins), self.bins - 1)
            target[2:] -= self._season(idx, slot)
        error = target - (level + phis * trend)
        error[:, fresh] = 0.0
        level = np.where(fresh, target, level + phis * trend + self.alpha * error)
        trend = phis * trend + np.array([0.0, 1.0, 0.0, 1.0])[:, None] * (
            self.alpha * self.beta * error
        )
        self.level[:, idx] = level
        self.trend[:, idx] = trend
        if slot >= 0:
            old_slot = self.profile[idx, slot]
            self.profile[idx, slot] = np.where(
                np.isnan(old_slot), y, old_slot + self.gamma * (y - old_slot)
            )
        squared = error * error
        old = self.mse[:, idx]
        seen = self.count[idx] >= 1
        first_error = seen & np.isnan(old)
        self.mse[:, idx] = np.where(
            first_error, squared, np.where(seen, old + _ERROR_RATE * (squared - old), old)
        )
        self.count[idx] += 1

    def season_helps(self) -> npt.NDArray[np.bool_]:
        """Return where a seasonal model's one-step error beats the plain ones by 5 %."""
        with np.errstate(invalid="ignore"):
            plain = np.fmin(self.mse[0], self.mse[1])
            season = np.fmin(self.mse[2], self.mse[3])
            return np.asarray(season < 0.95 * plain, dtype=bool)

    def choose(
        self,
        trend: npt.NDArray[np.bool_],
        seasonal: npt.NDArray[np.bool_],
        steps: int,
        phase: float,
    ) -> tuple[FloatArray, FloatArray]:
        """Return each series' point forecast ``steps`` ahead and its one-step MSE."""
        n = self.level.shape[1]
        row = 2 * seasonal.astype(np.int64) + trend.astype(np.int64)
        cols = np.arange(n)
        damp = np.array([0.0, _damped_sum(self.phi, steps), 0.0, _damped_sum(self.phi, steps)])
        point = self.level[row, cols] + damp[row] * self.trend[row, cols]
        if math.isfinite(phase):
            slot = min(int(phase * self.bins), self.bins - 1)
            point = point + np.where(row >= 2, self._season(slice(None), slot), 0.0)
        mse = self.mse[row, cols]
        return point, np.where(np.isnan(mse), 0.0, mse)
