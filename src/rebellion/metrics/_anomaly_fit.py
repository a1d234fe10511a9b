"""Tail probabilities and the anomaly-likelihood fit used by the anomaly kernel.

A raw surprise (a residual measured in scales, squashed into [0, 1)) is averaged over a
short ring of recent samples; :func:`likelihood` scores that average against a Gaussian
fit of its own past and then updates the fit. Scores are ``-log10(p) / 10``, clipped to
[0, 1]. Every operation is element-wise, so a series' result never depends on which
other series share the call.

>>> import numpy as np
>>> float(log10_gauss_tail(np.array([0.0]))[0])  # Q(0) = 1/2
-0.3010...
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

__all__ = [
    "LOG10_P_FLOOR",
    "FloatArray",
    "Index",
    "IntArray",
    "likelihood",
    "log10_gauss_tail",
    "raw_surprise",
    "smoothed",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Index = slice | IntArray

_RAW_SCALE = 3.0  # raw = 1 - exp(-z / 3): 0.63 at three scales
_VAR_FLOOR = 1e-4  # variance floor of the smoothed raw score (flat series stay finite)
LOG10_P_FLOOR = 10.0  # score 1 at p <= 1e-10
_TWO_SIDED = math.log10(2.0)
_LN2 = math.log(2.0)
_LN10 = math.log(10.0)
_SQRT2 = math.sqrt(2.0)


def log10_gauss_tail(z: FloatArray) -> FloatArray:
    """Return ``log10(Q(z))``, Q the upper tail of the standard normal, without underflow.

    Uses the Numerical Recipes ``erfcc`` Chebyshev fit (relative error < 1.2e-7) in log
    form, so very large ``z`` give large negative logs instead of ``-inf``.

    Args:
        z: standard scores (any real values).

    Returns:
        ``log10`` of the upper tail probability, element-wise.
    """
    x = np.abs(z) / _SQRT2
    t = 1.0 / (1.0 + 0.5 * x)
    poly = (
        -x * x
        - 1.26551223
        + t
        * (
            1.00002368
            + t
            * (
                0.37409196
                + t
                * (
                    0.09678418
                    + t
                    * (
                        -0.18628806
                        + t
                        * (
                            0.27886807
                            + t
                            * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))
                        )
                    )
                )
            )
        )
    )
    ln_upper = np.log(t) + poly - _LN2  # ln Q(|z|)
    ln_tail = np.where(z >= 0.0, ln_upper, np.log1p(-np.exp(ln_upper)))
    result: FloatArray = ln_tail / _LN10
    return result


def smoothed(ring: FloatArray, idx: Index, count: IntArray, raw: FloatArray) -> FloatArray:
    """Store ``raw`` in each series' ring and return the mean of its filled slots.

    The sum runs row by row, so a series' result does not depend on how many series
    share the call (a bank of one equals a bank of many, bit for bit).
    """
    size = ring.shape[0]
    cols = np.arange(ring.shape[1])[idx]
    ring[count % size, cols] = raw
    rows = ring[:, cols]
    total = rows[0].copy()
    for i in range(1, size):
        total += rows[i]
    filled = np.minimum(count + 1, size).astype(np.float64)
    result: FloatArray = total / filled
    return result


def likelihood(
    mean: FloatArray,
    var: FloatArray,
    smooth: FloatArray,
    count: IntArray,
    rate: float,
    two_sided: bool = False,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Score ``smooth`` against the Gaussian fit (mean, var), then update the fit.

    Returns:
        The scores in [0, 1] and the updated mean and variance.
    """
    z = (smooth - mean) / np.sqrt(np.maximum(var, _VAR_FLOOR))
    log_p = log10_gauss_tail(np.abs(z)) + _TWO_SIDED if two_sided else log10_gauss_tail(z)
    score: FloatArray = np.clip(-log_p / LOG10_P_FLOOR, 0.0, 1.0)
    step = np.maximum(rate, 1.0 / (count + 1.0))
    delta = smooth - mean
    return score, mean + step * delta, (1.0 - step) * (var + step * delta * delta)


def raw_surprise(resid: FloatArray, scale: FloatArray) -> FloatArray:
    """Squash a residual measured in scales into a raw surprise in [0, 1)."""
    result: FloatArray = 1.0 - np.exp(-np.abs(resid) / (scale * _RAW_SCALE))
    return result
