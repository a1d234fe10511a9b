"""Vectorised statistics of many windows at once: one NumPy pass over a 2-D array.

Input is ``(series, window)``, oldest sample first, NaN for a missing sample. Every
statistic ignores NaN and is NaN for a series with no sample. No Python loop runs per
series. Conventions (checked against per-series references in the tests):

* ``std`` is the population standard deviation (``ddof=0``, NumPy's default);
* percentiles use linear interpolation (``np.percentile``'s default);
* ``z`` compares the latest sample with the *other* samples of its window (mean and
  sample std, ``ddof=1``) so a spike does not dilute its own score; it is 0 below
  ``min_samples``, and +-inf when the others are all equal (spread < 1e-12 of their
  level) and the latest differs by more than that;
* ``robust_z`` is ``0.6745 * (latest - median) / MAD`` (Iglewicz-Hoaglin); with a MAD of
  0 it falls back to ``(latest - median) / (1.2533 * mean absolute deviation)``;
* ``smoothed[:, j]`` is the mean of the samples among slots ``j-k+1 .. j``;
* the trend is the least-squares line through (slot index, value).

>>> import numpy as np
>>> s = window_stats(np.array([[1.0, 2.0, 3.0, 4.0, 5.0]]), (0.5,), smoothing=2, min_samples=3)
>>> float(s.mean[0]), float(s.percentiles[0, 0]), float(s.slope[0]), s.smoothed[0].tolist()
(3.0, 3.0, 1.0, [1.0, 1.5, 2.5, 3.5, 4.5])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, final

import numpy as np
import numpy.typing as npt

__all__ = ["WindowStats", "sorted_quantiles", "window_stats"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_MAD_SCALE = 0.6745
_MEAN_AD_SCALE = 1.253314


@final
@dataclass(frozen=True, slots=True)
class WindowStats:
    """Per-series arrays (length ``series``; ``percentiles`` is ``series x len(q)``)."""

    count: IntArray
    latest: FloatArray
    latest_index: IntArray
    mean: FloatArray
    std: FloatArray
    min: FloatArray
    max: FloatArray
    median: FloatArray
    mad: FloatArray
    percentiles: FloatArray
    z: FloatArray
    robust_z: FloatArray
    smoothed: FloatArray
    slope: FloatArray
    intercept: FloatArray
    r2: FloatArray


def sorted_quantiles(sorted_rows: FloatArray, count: IntArray, q: FloatArray) -> FloatArray:
    """Return the ``q`` quantiles (linear) of rows sorted with NaN last; NaN if empty."""
    n, width = sorted_rows.shape
    if width == 0 or n == 0:
        return np.full((n, q.size), np.nan)
    last = np.maximum(count - 1, 0)[:, None]
    pos = q[None, :] * last
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, last)
    frac = pos - lo
    below = np.take_along_axis(sorted_rows, lo, axis=1)
    above = np.take_along_axis(sorted_rows, hi, axis=1)
    out = below + frac * (above - below)
    out[count == 0] = np.nan
    return out


def window_stats(
    x: FloatArray, quantiles: tuple[float, ...], smoothing: int, min_samples: int
) -> WindowStats:
    """Compute every statistic of every row of ``x`` (see the module docstring).

    Rows without a missing sample (the steady state) take a shorter path that knows
    counts and slot positions in advance; the others take the NaN-aware path. Both
    give the same numbers (the tests check it).
    """
    full = ~np.isnan(x).any(axis=1)
    if full.all():
        return _complete(x, quantiles, smoothing, min_samples)
    if not full.any():
        return _general(x, quantiles, smoothing, min_samples)
    rows_full, rows_gap = np.flatnonzero(full), np.flatnonzero(~full)
    a = _complete(x[rows_full], quantiles, smoothing, min_samples)
    b = _general(x[rows_gap], quantiles, smoothing, min_samples)
    merged: dict[str, npt.NDArray[Any]] = {}
    for name in WindowStats.__slots__:
        left, right = getattr(a, name), getattr(b, name)
        out = np.empty((x.shape[0], *left.shape[1:]), dtype=left.dtype)
        out[rows_full] = left
        out[rows_gap] = right
        merged[name] = out
    return WindowStats(**merged)


def _complete(
    x: FloatArray, quantiles: tuple[float, ...], smoothing: int, min_samples: int
) -> WindowStats:
    """:func:`window_stats` for rows with no NaN: fewer full-size temporaries."""
    n, width = x.shape
    count = np.full(n, width, dtype=np.int64)
    latest = x[:, -1].copy()
    mean = x.mean(axis=1)
    dev = x - mean[:, None]
    m2 = np.einsum("ij,ij->i", dev, dev)
    std = np.sqrt(m2 / width)
    ordered = np.sort(x, axis=1)
    q = np.asarray((0.5, *quantiles), dtype=np.float64)
    points = sorted_quantiles(ordered, count, q)
    median = points[:, 0]
    absdev = np.subtract(x, median[:, None])
    np.abs(absdev, out=absdev)
    mean_ad = absdev.mean(axis=1)
    absdev.sort(axis=1)
    mad = sorted_quantiles(absdev, count, np.array([0.5]))[:, 0]
    head = x[:, :-1]
    mean_o = head.mean(axis=1) if width > 1 else np.full(n, np.nan)
    dev_o = head - mean_o[:, None]
    m2_o = np.einsum("ij,ij->i", dev_o, dev_o)
    with np.errstate(invalid="ignore", divide="ignore"):
        z, robust = _scores(count, latest, mean_o, m2_o, median, mad, mean_ad, min_samples)
    k = min(smoothing, width)
    csum = np.cumsum(x, axis=1)
    smoothed = csum.copy()
    smoothed[:, k:] -= csum[:, :-k]
    smoothed /= np.minimum(np.arange(1, width + 1), k)
    idx = np.arange(width, dtype=np.float64)
    dx = idx - idx.mean()
    sxx = float(dx @ dx)
    sxy = dev @ dx
    slope = sxy / sxx if sxx > 0 else np.zeros(n)
    intercept = mean - slope * idx.mean()
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = np.where(m2 > 0, sxy * sxy / (sxx * np.where(m2 > 0, m2, 1.0)), 0.0)
    return WindowStats(
        count=count,
        latest=latest,
        latest_index=np.full(n, width - 1, dtype=np.int64),
        mean=mean,
        std=std,
        min=ordered[:, 0].copy(),
        max=ordered[:, -1].copy(),
        median=median,
        mad=mad,
        percentiles=points[:, 1:],
        z=z,
        robust_z=robust,
        smoothed=smoothed,
        slope=slope,
        intercept=intercept,
        r2=r2,
    )


def _scores(
    count: IntArray,
    latest: FloatArray,
    mean_o: FloatArray,
    m2_o: FloatArray,
    median: FloatArray,
    mad: FloatArray,
    mean_ad: FloatArray,
    min_samples: int,
) -> tuple[FloatArray, FloatArray]:
    """Return (z against the other samples, robust z) of the latest samples.

    A spread below ``1e-12`` of the level counts as zero, so rounding noise in a
    constant series cannot turn into a finite, arbitrary z.
    """
    others = count - 1
    std_o = np.sqrt(m2_o / np.maximum(others - 1, 1))
    diff = latest - mean_o
    tiny = 1e-12 * np.maximum(np.abs(mean_o), 1e-300)
    flat = np.where(np.abs(diff) <= tiny, 0.0, np.sign(diff) * np.inf)
    z = np.where(std_o > tiny, diff / std_o, flat)
    z = np.where(count >= min_samples, z, 0.0)
    rdiff = latest - median
    scale = np.where(mad > 0, mad / _MAD_SCALE, _MEAN_AD_SCALE * mean_ad)
    robust = np.where(scale > 0, rdiff / scale, np.where(rdiff == 0, 0.0, np.sign(rdiff) * np.inf))
    robust = np.where(count >= min_samples, robust, 0.0)
    return z, robust


def _general(
    x: FloatArray, quantiles: tuple[float, ...], smoothing: int, min_samples: int
) -> WindowStats:
    """:func:`window_stats` for rows with missing samples (NaN-aware throughout)."""
    n, width = x.shape
    valid = ~np.isnan(x)
    count = valid.sum(axis=1)
    empty = count == 0
    safe = np.maximum(count, 1)
    xz = np.where(valid, x, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(empty, np.nan, xz.sum(axis=1) / safe)
        dev = np.where(valid, x - mean[:, None], 0.0)
        m2 = np.einsum("ij,ij->i", dev, dev)
        std = np.where(empty, np.nan, np.sqrt(m2 / safe))
        lowest = np.where(empty, np.nan, np.where(valid, x, np.inf).min(axis=1))
        highest = np.where(empty, np.nan, np.where(valid, x, -np.inf).max(axis=1))

        # Latest sample: rows are right-aligned, but a NaN tick may sit at the end.
        latest_index = (width - 1 - np.argmax(valid[:, ::-1], axis=1)).astype(np.int64)
        latest = np.where(empty, np.nan, x[np.arange(n), latest_index])

        ordered = np.sort(x, axis=1)
        q = np.asarray((0.5, *quantiles), dtype=np.float64)
        points = sorted_quantiles(ordered, count, q)
        median = points[:, 0]
        absdev = np.abs(x - median[:, None])
        mad = sorted_quantiles(np.sort(absdev, axis=1), count, np.array([0.5]))[:, 0]
        mean_ad = np.where(valid, absdev, 0.0).sum(axis=1) / safe

        rest = valid.copy()
        rest[np.arange(n), latest_index] = False
        n_o = rest.sum(axis=1)
        mean_o = np.where(rest, x, 0.0).sum(axis=1) / np.maximum(n_o, 1)
        dev_o = np.where(rest, x - mean_o[:, None], 0.0)
        m2_o = np.einsum("ij,ij->i", dev_o, dev_o)
        z, robust = _scores(count, latest, mean_o, m2_o, median, mad, mean_ad, min_samples)

        # Moving average over the last `smoothing` slots (cumulative sums, NaN-aware).
        csum = np.concatenate((np.zeros((n, 1)), np.cumsum(xz, axis=1)), axis=1)
        ccnt = np.concatenate((np.zeros((n, 1)), np.cumsum(valid, axis=1)), axis=1)
        k = min(smoothing, width)
        sums = csum[:, k:] - csum[:, :-k]
        nums = ccnt[:, k:] - ccnt[:, :-k]
        head_s = csum[:, 1:k]
        head_n = ccnt[:, 1:k]
        sums = np.concatenate((head_s, sums), axis=1)
        nums = np.concatenate((head_n, nums), axis=1)
        smoothed = np.where(nums > 0, sums / np.maximum(nums, 1), np.nan)

        # Least-squares slope per slot, centred for accuracy.
        idx = np.arange(width, dtype=np.float64)
        xbar = np.where(valid, idx, 0.0).sum(axis=1) / safe
        dx = np.where(valid, idx[None, :] - xbar[:, None], 0.0)
        sxx = np.einsum("ij,ij->i", dx, dx)
        sxy = np.einsum("ij,ij->i", dx, dev)
        slope = np.where(sxx > 0, sxy / np.where(sxx > 0, sxx, 1.0), np.where(empty, np.nan, 0.0))
        intercept = mean - slope * xbar
        r2 = np.where((sxx > 0) & (m2 > 0), sxy * sxy / (sxx * np.where(m2 > 0, m2, 1.0)), 0.0)
    return WindowStats(
        count=count.astype(np.int64),
        latest=latest,
        latest_index=latest_index,
        mean=mean,
        std=std,
        min=lowest,
        max=highest,
        median=median,
        mad=mad,
        percentiles=points[:, 1:],
        z=z,
        robust_z=robust,
        smoothed=smoothed,
        slope=slope,
        intercept=intercept,
        r2=r2,
    )
