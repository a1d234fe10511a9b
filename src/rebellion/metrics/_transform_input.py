"""Input checks of the metric transformer: samples, batches and thresholds.

>>> as_samples("cpu", [1, 2.5]).tolist()
[1.0, 2.5]
>>> right_aligned([np.array([1.0]), np.array([2.0, 3.0])]).tolist()
[[nan, 1.0], [2.0, 3.0]]
"""

from __future__ import annotations

from collections.abc import Mapping
from numbers import Real

import numpy as np
import numpy.typing as npt

from .._validate import check_number
from ..errors import ConfigError

__all__ = ["as_samples", "check_thresholds", "right_aligned"]

FloatArray = npt.NDArray[np.float64]


def as_samples(key: str, value: object) -> FloatArray:
    """Return ``value`` as a 1-D float array, refusing non-numeric content clearly."""
    rule = f"metric {key!r} must be a real number or a 1-D sequence of real numbers"
    if isinstance(value, str | bytes | bool) or value is None or isinstance(value, Mapping):
        raise TypeError(f"{rule} (NaN = missing), got {type(value).__name__}: {value!r}")
    if isinstance(value, np.ndarray):
        array = value
    elif isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, bool) or not isinstance(item, Real):
                raise TypeError(f"{rule}, got a {type(item).__name__} in its list: {item!r}")
        array = np.asarray(value, dtype=np.float64)
    else:
        raise TypeError(f"{rule} (NaN = missing), got {type(value).__name__}")
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{rule}, got an array of dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"{rule}, got an array of shape {array.shape}")
    out = array.astype(np.float64, copy=True)
    if np.isinf(out).any():
        raise ValueError(f"metric {key!r} must be finite or NaN (missing), got an infinity")
    return out


def right_aligned(batches: list[FloatArray]) -> FloatArray:
    """Stack batches into ``(len(batches), longest)`` with each batch's end aligned."""
    lengths = np.fromiter((b.size for b in batches), dtype=np.int64, count=len(batches))
    width = int(lengths.max()) if len(batches) else 0
    out = np.full((len(batches), width), np.nan)
    if width:
        total = int(lengths.sum())
        rows = np.repeat(np.arange(len(batches)), lengths)
        starts = np.cumsum(lengths) - lengths
        offset = np.arange(total) - np.repeat(starts, lengths)
        out[rows, np.repeat(width - lengths, lengths) + offset] = np.concatenate(batches)
    return out


def check_thresholds(value: object) -> dict[str, float]:
    """Return per-metric upper limits as floats (None: no limits)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConfigError("thresholds", "a mapping of metric name to a number, or None", value)
    return {str(k): check_number("thresholds", v) for k, v in value.items()}
