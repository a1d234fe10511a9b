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
from typing import final

import numpy as np
import numpy.typing as npt

__all__ = ["StatsScratch", "WindowStats", "sorted_quantiles", "window_stats"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
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


@final
class StatsScratch:
    """Work buffers that :func:`window_stats` reuses from call to call.

    One caller at a time (the owner serialises). Buffers grow to the largest
    ``series x window`` seen and are sliced into contiguous views of the needed shape,
    so a steady stream of ticks allocates no full-size temporaries.
    """

    __slots__ = ("_floats", "_mask")

    def __init__(self) -> None:
        self._floats: FloatArray = np.empty(0)
        self._mask: BoolArray = np.empty(0, dtype=np.bool_)

    def mask(self, n: int, width: int) -> BoolArray:
        """Return a ``(n, width)`` boolean work array (contents undefined)."""
        if self._mask.size < n * width:
            self._mask = np.empty(n * width, dtype=np.bool_)
        return self._mask[: n * width].reshape(n, width)

    def floats(self, n: int, width: int) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """Return four distinct ``(n, width)`` float work arrays (contents undefined)."""
        size = n * width
        if self._floats.size < 4 * size:
            self._floats = np.empty(4 * size)
        b = self._floats
        return (
            b[:size].reshape(n, width),
            b[size : 2 * size].reshape(n, width),
            b[2 * size : 3 * size].reshape(n, width),
            b[3 * size : 4 * size].reshape(n, width),
        )


def sorted_quantiles(sorted_rows: FloatArray, count: IntArray, q: FloatArray) -> FloatArray:
    """Return the ``q`` quantiles (linear) of rows sorted with NaN last; NaN if empty."""
    n, width = sorted_rows.shape
    if width == 0 or n == 0:
        return np.full((n, q.size), np.nan)
    last = np.maximum(count - 1, 0)[:, None]
    pos = q[None, :] * last
    lo = pos.astype(np.int64)  # pos >= 0: truncation is floor
    hi = np.minimum(lo + 1, last)
    frac = pos - lo
    # Flat indices: cheaper per call than take_along_axis for the few columns taken.
    flat = sorted_rows.reshape(-1)
    base = np.arange(0, n * width, width)[:, None]
    below = flat[lo + base]
    above = flat[hi + base]
    out: FloatArray = below + frac * (above - below)
    out[count == 0] = np.nan
    return out


def window_stats(
    x: FloatArray,
    quantiles: tuple[float, ...],
    smoothing: int,
    min_samples: int,
    scratch: StatsScratch | None = None,
) -> WindowStats:
    """Compute every statistic of every row of ``x`` (see the module docstring).

    Leading slots empty in every row (windows still filling) are cut off first, so a
    filling window costs what its filled part costs. Without a missing sample in what is
    left, counts and the latest slot are known and no masking is done; otherwise missing
    samples are zeroed once and counted per row, and the same formulas run. One sort
    serves min, max, median and every quantile; a second one the MAD.

    Args:
        x: ``(series, window)`` samples, oldest first, NaN for none.
        quantiles: fractions in [0, 1] for ``percentiles``.
        smoothing: samples in the moving average (>= 1).
        min_samples: samples needed before ``z`` and ``robust_z`` are non-zero.
        scratch: work buffers to reuse (None: fresh ones).

    Returns:
        The per-series arrays (new arrays, never views of the work buffers).
    """
    n, width = x.shape
    work = scratch if scratch is not None else StatsScratch()
    missing = work.mask(n, width)
    np.isnan(x, out=missing)
    lead = 0
    if width and missing[:, 0].all():
        empty_cols = missing.all(axis=0)
        lead = min(int(np.argmin(empty_cols)) if not empty_cols.all() else width, width - 1)
    m = width - lead
    xt, mt = x[:, lead:], missing[:, lead:]
    gaps = bool(mt.any())
    srt, dev, xz, valid = work.floats(n, m)
    rows = np.arange(n)
    idx = np.arange(m, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        if gaps:
            np.logical_not(mt, out=valid)
            count = m - np.count_nonzero(mt, axis=1).astype(np.int64)
            np.copyto(xz, xt)
            np.copyto(xz, 0.0, where=mt)
            values = xz
        else:
            count = np.full(n, m, dtype=np.int64)
            values = xt
            if lead or not x.flags.c_contiguous:  # the moving average wants flat rows
                values = xz
                np.copyto(values, xt)
        empty = count == 0
        safe = np.maximum(count, 1)
        sums = values.sum(axis=1)
        mean = sums / safe
        np.subtract(values, mean[:, None], out=dev)
        if gaps:
            dev *= valid
        m2 = np.einsum("ij,ij->i", dev, dev)
        mean[empty] = np.nan
        std = np.sqrt(m2 / safe)

        # Latest sample: rows are right-aligned, but a NaN tick may sit at the end.
        last_col = None
        if gaps and mt[:, -1].any():
            last_col = m - 1 - np.argmax(valid[:, ::-1], axis=1)
        latest = xt[:, -1].copy() if last_col is None else xt[rows, last_col]

        np.copyto(srt, xt)
        srt.sort(axis=1)  # NaN last
        points = sorted_quantiles(srt, count, np.asarray((0.5, *quantiles), dtype=np.float64))
        median = points[:, 0]
        lowest = srt[:, 0].copy()
        highest = srt[rows, safe - 1] if gaps else srt[:, -1].copy()
        absdev = srt  # the sorted values are no longer needed
        np.subtract(xt, median[:, None], out=absdev)
        np.abs(absdev, out=absdev)
        absdev.sort(axis=1)
        mad = sorted_quantiles(absdev, count, np.array([0.5]))[:, 0]
        mean_ad = np.zeros(n)  # only read where the MAD is 0: computed only there
        need = np.flatnonzero(mad == 0)
        if need.size:
            mean_ad[need] = np.nansum(absdev[need], axis=1) / safe[need]

        # Least-squares line through (slot, value), centred on the mean slot.
        if gaps:
            s1 = valid @ idx
            xbar = s1 / safe
            sxx = valid @ (idx * idx) - s1 * xbar
            sxy = dev @ idx - xbar * dev.sum(axis=1)
        else:
            xbar = np.full(n, (m - 1) / 2.0)
            dx = idx - (m - 1) / 2.0
            sxx = np.full(n, float(dx @ dx))
            sxy = dev @ dx
        ok = sxx > 0
        slope = np.where(ok, sxy / np.where(ok, sxx, 1.0), np.where(empty, np.nan, 0.0))
        intercept = mean - slope * (xbar + lead)
        r2 = np.where(ok & (m2 > 0), sxy * sxy / (sxx * np.where(m2 > 0, m2, 1.0)), 0.0)

        # z against the other samples: the latest one left out. Summed directly, not
        # as (sums - latest), which loses every digit of small others beside a huge
        # latest sample.
        if last_col is None:
            sums_o = values[:, :-1].sum(axis=1)
        else:  # gaps: ``values`` is a work buffer, safe to edit for a moment
            held = values[rows, last_col]
            values[rows, last_col] = 0.0
            sums_o = values.sum(axis=1)
            values[rows, last_col] = held
        mean_o = sums_o / np.maximum(count - 1, 1)
        dev_o = dev  # the deviations from the mean are no longer needed
        np.subtract(values, mean_o[:, None], out=dev_o)
        if gaps:
            dev_o *= valid
        if last_col is None:
            dev_o = dev_o[:, :-1]
        else:
            dev_o[rows, last_col] = 0.0
        # The corrected two-pass sum (Chan et al.) removes the rounding left in mean_o
        # from both the mean and the spread.
        n_o = np.maximum(count - 1, 1)
        s_o = dev_o.sum(axis=1)
        m2_o = np.maximum(np.einsum("ij,ij->i", dev_o, dev_o) - s_o * s_o / n_o, 0.0)
        mean_o = mean_o + s_o / n_o
        z, robust = _scores(count, latest, mean_o, m2_o, median, mad, mean_ad, min_samples)

        smoothed = _moving_average(values, valid if gaps else None, smoothing, lead, (srt, dev))
    return WindowStats(
        count=count,
        latest=latest,
        latest_index=np.full(n, width - 1, dtype=np.int64)
        if last_col is None
        else (last_col + lead).astype(np.int64),
        mean=mean,
        std=np.where(empty, np.nan, std),
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


def _moving_average(
    values: FloatArray,
    valid: FloatArray | None,
    k: int,
    lead: int,
    spares: tuple[FloatArray, FloatArray],
) -> FloatArray:
    """Mean of the samples among each slot's last ``k`` slots, NaN before ``lead``.

    ``values`` has missing samples zeroed and ``valid`` marks the others (None: no
    missing sample); the two ``spares`` (C-contiguous, same shape) are overwritten.
    """
    n, m = values.shape
    out = np.empty((n, lead + m))
    out[:, :lead] = np.nan
    k = min(k, m)
    sums = _window_sums(values, k, spares[0])
    if valid is None:
        np.divide(sums, np.minimum(np.arange(1, m + 1), k), out=out[:, lead:])
    else:
        nums = _window_sums(valid, k, spares[1])
        np.divide(sums, nums, out=out[:, lead:])  # 0 / 0 = NaN: no sample in reach
    return out


def _window_sums(src: FloatArray, k: int, out: FloatArray) -> FloatArray:
    """Return ``out`` with ``out[:, j] = src[:, max(0, j - k + 1) : j + 1].sum(1)``.

    For a short window, ``k - 1`` shifted adds over the flat buffers (a cumulative sum
    along rows is an order of magnitude slower per element); the first ``k - 1`` columns,
    which the flat shift mixes with the previous row, are then redone. ``out`` must be
    C-contiguous and distinct from ``src``.
    """
    m = src.shape[1]
    if k > 16:
        csum = np.cumsum(src, axis=1)
        out[:, :k] = csum[:, :k]
        np.subtract(csum[:, k:], csum[:, :-k], out=out[:, k:])
        return out
    head = np.cumsum(src[:, : min(k - 1, m)], axis=1)
    np.copyto(out, src)
    flat_out, flat_src = out.reshape(-1), src.reshape(-1)
    for shift in range(1, k):
        np.add(flat_out[shift:], flat_src[:-shift], out=flat_out[shift:])
    out[:, : head.shape[1]] = head
    return out


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
