"""Which metrics changed: two-sample Kolmogorov-Smirnov of a window against its baseline.

As Netdata's metric correlations: the samples of a window are compared with those of a
baseline (by default four times as long, just before it) and the metrics are ranked by
the KS statistic D, the largest gap between the two empirical distribution functions
(0: same distribution, 1: no overlap). :func:`ks_two_sample` computes D for many series
at once with NumPy (one sort per call, ties handled), and its asymptotic p-value.

>>> import numpy as np
>>> base = np.array([[1.0, 2.0, 3.0, 4.0] * 5, [1.0, 2.0, 3.0, 4.0] * 5])
>>> window = np.array([[9.0, 9.5, 10.0, 9.0, 9.5], [2.0, 3.0, 1.0, 4.0, 2.5]])
>>> d, p = ks_two_sample(window, base)
>>> d.round(2).tolist(), bool(p[0] < 0.01), bool(p[1] > 0.5)
([1.0, 0.1], True, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["kolmogorov_sf", "ks_two_sample", "nan_quantiles", "rank_changes"]

FloatArray = npt.NDArray[np.float64]


def kolmogorov_sf(lam: FloatArray) -> FloatArray:
    """Return P(K > lam) for the Kolmogorov distribution (the KS test's tail)."""
    lam = np.asarray(lam, dtype=np.float64)
    k = np.arange(1, 101, dtype=np.float64)
    terms = 2.0 * (-1.0) ** (k - 1) * np.exp(-2.0 * (k**2) * (lam[..., None] ** 2))
    p = terms.sum(axis=-1)
    return np.asarray(np.clip(np.where(lam < 0.2, 1.0, p), 0.0, 1.0), dtype=np.float64)


def nan_quantiles(a: npt.ArrayLike, qs: Sequence[float]) -> FloatArray:
    """Return the ``qs`` quantiles (linear interpolation) of each row of ``a``, NaN aside.

    The same figures as ``np.nanquantile(a, qs, axis=1).T``, from one sort: NumPy's
    nan-aware median and quantiles go through ``numpy.ma`` for small rows, which costs
    the monitor about 5 MB of memory and most of its incident check's time.

    >>> nan_quantiles([[1.0, np.nan, 3.0, 2.0], [np.nan] * 4], [0.5, 1.0]).tolist()
    [[2.0, 3.0], [nan, nan]]
    """
    x = np.sort(np.atleast_2d(np.asarray(a, dtype=np.float64)), axis=1)  # NaN sort last
    n = (~np.isnan(x)).sum(axis=1)
    at = np.asarray(qs, dtype=np.float64)[None, :] * np.maximum(n - 1, 0)[:, None]
    lo = np.floor(at).astype(np.intp)
    hi = np.minimum(lo + 1, np.maximum(n - 1, 0)[:, None])
    low, high = np.take_along_axis(x, lo, axis=1), np.take_along_axis(x, hi, axis=1)
    out = low + (high - low) * (at - lo)
    out[n == 0] = np.nan
    return np.asarray(out, dtype=np.float64)


def ks_two_sample(a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Return the KS statistic D and its p-value for each row of ``a`` against ``b``.

    Args:
        a: (series, n) samples of the window; NaN marks a missing sample.
        b: (series, m) samples of the baseline; NaN marks a missing sample.

    Returns:
        ``(d, p)``, one value per series (D = 0, p = 1 where a side has no sample).
    """
    x = np.atleast_2d(np.asarray(a, dtype=np.float64))
    y = np.atleast_2d(np.asarray(b, dtype=np.float64))
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"a and b must have as many rows, got {x.shape[0]} and {y.shape[0]}")
    na = (~np.isnan(x)).sum(axis=1).astype(np.float64)
    nb = (~np.isnan(y)).sum(axis=1).astype(np.float64)
    both = np.concatenate((x, y), axis=1)
    order = np.argsort(both, axis=1, kind="stable")  # NaN sort last
    values = np.take_along_axis(both, order, axis=1)
    from_a = order < x.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        step = np.where(from_a, 1.0 / na[:, None], -1.0 / nb[:, None])
    step = np.where(np.isnan(values), 0.0, step)
    gap = np.cumsum(step, axis=1)
    # Only where the next value differs (ties move together) is the gap a real one.
    last_of_tie = np.ones_like(values, dtype=bool)
    last_of_tie[:, :-1] = values[:, 1:] != values[:, :-1]
    d = np.where(last_of_tie, np.abs(gap), 0.0).max(axis=1)
    empty = (na == 0) | (nb == 0)
    d = np.where(empty, 0.0, np.nan_to_num(d))
    with np.errstate(invalid="ignore", divide="ignore"):
        en = np.sqrt(na * nb / (na + nb))
        lam = (en + 0.12 + 0.11 / en) * d
    p = np.where(empty, 1.0, kolmogorov_sf(np.nan_to_num(lam)))
    return d, p


def rank_changes(
    names: Sequence[str],
    window: npt.ArrayLike,
    baseline: npt.ArrayLike,
    *,
    top: int = 10,
    max_p: float = 0.01,
) -> list[dict[str, Any]]:
    """Rank metrics by how much their window differs from their baseline.

    Args:
        names: one name per row.
        window: (series, n) recent samples.
        baseline: (series, m) samples before them.
        top: rows returned.
        max_p: rows with a larger p-value are left out (no evidence of change).

    Returns:
        ``{"name", "score", "p_value", "before", "after", "direction"}`` rows, highest
        score first; ``score`` is D, ``before``/``after`` the medians.
    """
    w = np.atleast_2d(np.asarray(window, dtype=np.float64))
    b = np.atleast_2d(np.asarray(baseline, dtype=np.float64))
    if len(names) != w.shape[0]:
        raise ValueError(f"names must have one entry per row ({w.shape[0]}), got {len(names)}")
    d, p = ks_two_sample(w, b)
    before = nan_quantiles(b, [0.5])[:, 0]
    after = nan_quantiles(w, [0.5])[:, 0]
    keep = [i for i in np.argsort(-d, kind="stable") if d[i] > 0 and p[i] <= max_p]
    return [
        {
            "name": names[i],
            "score": round(float(d[i]), 3),
            "p_value": float(f"{p[i]:.3g}"),
            "before": round(float(before[i]), 4),
            "after": round(float(after[i]), 4),
            "direction": "up" if after[i] > before[i] else "down",
        }
        for i in keep[:top]
    ]
