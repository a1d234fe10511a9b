"""Streaming anomaly scores in [0, 1] that mean the same thing for every metric.

:class:`AnomalyDetector` scores one metric, sample by sample; :class:`AnomalyDetectorBank`
scores many metrics at once with NumPy and gives exactly the scores that as many
independent detectors would. A score at time t uses only the samples up to t.

A score is ``-log10(p) / 10`` where ``p`` is how unlikely the recent behaviour is under
the metric's own history: 0.5 means p = 1e-5 (the default alert level), 1 means
p <= 1e-10 or a value far outside everything seen so far. Because every metric is
calibrated against itself, one threshold serves all of them. The defaults need no tuning
per metric; the parameters count samples, except the seasonal ones, which use the
timestamps (a daily profile is learnt only when timestamps are given).

>>> detector = AnomalyDetector(warmup=20)
>>> scores = [detector.update(10.0 + 0.1 * (i % 7)) for i in range(300)]
>>> max(scores) < 0.5
True
>>> detector.update(50.0)  # far outside anything seen: certain novelty
1.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from numbers import Real
from typing import final

import numpy as np
import numpy.typing as npt

from .._validate import check_duration, check_fraction, check_int, check_number
from ..errors import ConfigError
from ._anomaly_kernel import Kernel, KernelParams

__all__ = ["AnomalyDetector", "AnomalyDetectorBank", "anomaly_params"]

Timestamp = float | int | datetime | None

# Upper bounds keep every setting inside int64 / float64 arithmetic with room to spare.
_MAX_COUNT = 1_000_000_000  # samples (warmup, rest)
_MAX_RATIO = 1e6  # novelty_tolerance, season_trust
_MAX_SERIES = 100_000_000  # a bank of more would not fit in memory anyway


def anomaly_params(
    *,
    alpha: float = 0.01,
    likelihood_rate: float = 0.002,
    smoothing: int = 10,
    warmup: int = 100,
    novelty_tolerance: float | None = 0.05,
    rest: int = 30,
    alert_level: float = 0.5,
    season_bins: int = 48,
    season_period: float = 86400.0,
    season_rate: float = 0.3,
    season_trust: float = 2.0,
) -> KernelParams:
    """Validate detector settings and return them as kernel parameters.

    Args:
        alpha: per-sample adaptation rate of the robust level and scale, in (0, 1].
        likelihood_rate: per-sample rate at which the distribution of recent surprise
            is re-estimated, in (0, 1] (0.002: a memory of about 500 samples).
        smoothing: number of samples whose surprise is averaged before it is judged
            (also the window of the shift test), in [1, 10000].
        warmup: samples to learn from before any score other than 0 is given, in
            [0, 1e9].
        novelty_tolerance: a value beyond the range seen so far by more than this share
            of that range scores 1, in [0, 1e6]; None disables novelty scoring.
        rest: after a score reaches ``alert_level`` the next ``rest`` scores are capped
            just below it, so one episode raises one alert (0 disables), in [0, 1e9].
        alert_level: the score that counts as an alert for ``rest`` (0.5: p = 1e-5).
        season_bins: slots of the seasonal (time-of-day) profile, in [0, 100000]; 0
            disables it.
        season_period: length of the season in seconds (a day by default), in (0, 1e9].
        season_rate: share of a profile slot renewed per period, in (0, 1].
        season_trust: periods of data a slot needs before it is used for scoring, in
            (0, 1e6].

    Returns:
        The validated, frozen parameters.

    Raises:
        ConfigError: a parameter is out of range; the message names it.
    """
    tolerance = math.inf
    if novelty_tolerance is not None:
        tolerance = check_number(
            "novelty_tolerance", novelty_tolerance, minimum=0.0, maximum=_MAX_RATIO
        )
    return KernelParams(
        alpha=check_number("alpha", alpha, minimum=0.0, maximum=1.0, exclusive_minimum=True),
        likelihood_rate=check_number(
            "likelihood_rate", likelihood_rate, minimum=0.0, maximum=1.0, exclusive_minimum=True
        ),
        smoothing=check_int("smoothing", smoothing, minimum=1, maximum=10_000),
        warmup=check_int("warmup", warmup, minimum=0, maximum=_MAX_COUNT),
        tolerance=tolerance,
        rest=check_int("rest", rest, minimum=0, maximum=_MAX_COUNT),
        alert_level=check_fraction("alert_level", alert_level, allow_zero=False),
        bins=check_int("season_bins", season_bins, minimum=0, maximum=100_000),
        period=check_duration("season_period", season_period, exclusive_minimum=True),
        season_rate=check_number(
            "season_rate", season_rate, minimum=0.0, maximum=1.0, exclusive_minimum=True
        ),
        trust=check_number(
            "season_trust", season_trust, minimum=0.0, maximum=_MAX_RATIO, exclusive_minimum=True
        ),
    )


def _epoch(timestamp: object, name: str = "timestamp") -> float:
    """Seconds since the epoch for a number or a datetime (naive ones are read as UTC)."""
    if timestamp is None:
        return math.nan
    if isinstance(timestamp, datetime):
        if timestamp.tzinfo is None:
            timestamp = timestamp.replace(tzinfo=UTC)
        return timestamp.timestamp()
    if isinstance(timestamp, bool) or not isinstance(timestamp, Real):
        raise TypeError(
            f"{name} must be a number of seconds, a datetime or None, got {timestamp!r}"
        )
    seconds = float(timestamp)
    if not math.isfinite(seconds):
        raise ValueError(f"{name} must be finite, got {timestamp!r}")
    return seconds


def _stats_of(kernel: Kernel, i: int) -> dict[str, object]:
    p = kernel.p
    count = int(kernel.count[i])
    trusted = int(np.count_nonzero(kernel.cover[i] >= p.trust)) if p.bins else 0
    return {
        "samples": count,
        "warming_up": count < p.warmup,
        "level": float(kernel.level[i]),
        "scale": float(kernel.dev[i]) * math.sqrt(math.pi / 2.0),
        "step_scale": float(kernel.step_dev[i]) * math.sqrt(math.pi / 2.0),
        "low": float(kernel.low[i]) if count else None,
        "high": float(kernel.high[i]) if count else None,
        "last_score": float(kernel.last_score[i]),
        "alerts": int(kernel.alerts[i]),
        "resting_for": int(kernel.quiet[i]),
        "season_slots_trusted": trusted,
    }


@final
class AnomalyDetector:
    """Score one metric's samples as they arrive; 0 is ordinary, 1 is certainly anomalous.

    Args:
        name: label shown in ``stats()`` (the metric's name, say).
        **settings: see :func:`anomaly_params`; the defaults suit most metrics.

    Raises:
        ConfigError: a setting is out of range.
    """

    kind = "anomaly_detector"

    __slots__ = ("_kernel", "_ts", "_x", "name")

    def __init__(self, name: str = "anomaly", **settings: float | int | None) -> None:
        if not isinstance(name, str) or not name:
            raise ConfigError("name", "a non-empty string", name)
        self.name = name
        self._kernel = Kernel(1, anomaly_params(**settings))  # type: ignore[arg-type]
        self._x = np.zeros(1)
        self._ts = np.zeros(1)

    @property
    def params(self) -> KernelParams:
        """The validated settings in use."""
        return self._kernel.p

    def update(self, value: float, timestamp: Timestamp = None) -> float:
        """Score ``value`` against the history so far, then learn from it.

        Args:
            value: the new sample; must be a finite real number.
            timestamp: seconds since the epoch or a datetime (naive = UTC); enables the
                daily profile. Samples without one are scored without it.

        Returns:
            The anomaly score in [0, 1].

        Raises:
            TypeError: ``value`` or ``timestamp`` is not a number.
            ValueError: ``value`` or ``timestamp`` is NaN or infinite (finite magnitudes
                above 1e280 are clipped to it).
        """
        given: object = value  # callers outside the type checker may pass anything
        if isinstance(given, bool) or not isinstance(given, Real):
            raise TypeError(f"value must be a real number, got {value!r}")
        x = float(given)
        if not math.isfinite(x):
            raise ValueError(f"value must be finite, got {value!r}")
        self._x[0] = x
        self._ts[0] = _epoch(timestamp)
        return float(self._kernel.step(self._x, self._ts, None)[0])

    def reset(self) -> None:
        """Forget all history, as if newly built with the same settings."""
        self._kernel.reset(slice(None))

    def stats(self) -> dict[str, object]:
        """Return a fresh snapshot: samples, level, scale, step scale, range, score, alerts."""
        snapshot: dict[str, object] = {"kind": self.kind, "name": self.name}
        snapshot.update(_stats_of(self._kernel, 0))
        return snapshot

    def __repr__(self) -> str:
        return f"AnomalyDetector(name={self.name!r}, samples={int(self._kernel.count[0])})"


@final
class AnomalyDetectorBank:
    """Score ``n_series`` metrics at once; series ``i`` behaves as its own AnomalyDetector.

    ``update_many(values)`` takes one value per series (NaN: no sample this round, the
    series is left untouched and scores 0) and returns one score per series.

    Args:
        n_series: how many series the bank holds, in [1, 1e8].
        name: label shown in ``stats()``.
        **settings: see :func:`anomaly_params` (shared by every series).

    Raises:
        ConfigError: ``n_series`` or a setting is out of range.
    """

    kind = "anomaly_detector_bank"

    __slots__ = ("_kernel", "n_series", "name")

    def __init__(
        self, n_series: int, name: str = "anomaly_bank", **settings: float | int | None
    ) -> None:
        self.n_series = check_int("n_series", n_series, minimum=1, maximum=_MAX_SERIES)
        if not isinstance(name, str) or not name:
            raise ConfigError("name", "a non-empty string", name)
        self.name = name
        self._kernel = Kernel(n_series, anomaly_params(**settings))  # type: ignore[arg-type]

    @property
    def params(self) -> KernelParams:
        """The validated settings in use."""
        return self._kernel.p

    def update_many(
        self,
        values: npt.ArrayLike,
        timestamps: npt.ArrayLike | float | datetime | None = None,
    ) -> npt.NDArray[np.float64]:
        """Score one new sample of every series, then learn from them.

        Args:
            values: ``n_series`` numbers; NaN marks a series with no sample this round.
            timestamps: None, one timestamp for all series (seconds or datetime), or
                ``n_series`` seconds (NaN: none for that series).

        Returns:
            A new float64 array of ``n_series`` scores in [0, 1] (0 where NaN was given).

        Raises:
            ValueError: wrong shape, non-numeric or infinite values or timestamps.
        """
        try:
            x = np.asarray(values, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"values must be numbers: {exc}") from None
        if x.shape != (self.n_series,):
            raise ValueError(f"values must have shape ({self.n_series},), got {x.shape}")
        ts = self._timestamps(timestamps)
        if np.isinf(x).any():
            raise ValueError("values must be finite or NaN (missing), got an infinity")
        present = ~np.isnan(x)
        if present.all():
            return self._kernel.step(x, ts, None)
        scores = np.zeros(self.n_series)
        idx = np.flatnonzero(present)
        if idx.size:
            scores[idx] = self._kernel.step(x[idx], ts[idx], idx)
        return scores

    def _timestamps(
        self, timestamps: npt.ArrayLike | float | datetime | None
    ) -> npt.NDArray[np.float64]:
        if timestamps is None or isinstance(timestamps, datetime | Real):
            return np.full(self.n_series, _epoch(timestamps, "timestamps"))
        try:
            ts = np.asarray(timestamps, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"timestamps must be numbers: {exc}") from None
        if ts.shape != (self.n_series,):
            raise ValueError(f"timestamps must have shape ({self.n_series},), got {ts.shape}")
        if np.isinf(ts).any():
            raise ValueError("timestamps must be finite or NaN (none), got an infinity")
        return ts

    def reset(self, series: Sequence[int] | None = None) -> None:
        """Forget the history of the given series (all when None).

        Raises:
            IndexError: a series index is out of range.
        """
        if series is None:
            self._kernel.reset(slice(None))
            return
        idx = np.unique(np.asarray(series, dtype=np.int64))
        if idx.size and (idx[0] < 0 or idx[-1] >= self.n_series):
            raise IndexError(f"series indices must lie in [0, {self.n_series}), got {list(series)}")
        self._kernel.reset(idx)

    def series_stats(self, i: int) -> dict[str, object]:
        """Return the ``stats()`` snapshot an AnomalyDetector would give for series ``i``."""
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < self.n_series:
            raise IndexError(f"series index must lie in [0, {self.n_series}), got {i!r}")
        return _stats_of(self._kernel, i)

    def stats(self) -> dict[str, object]:
        """Return a fresh snapshot of the whole bank (totals, alerting series)."""
        k = self._kernel
        return {
            "kind": self.kind,
            "name": self.name,
            "n_series": self.n_series,
            "samples": int(k.count.sum()),
            "warming_up": int(np.count_nonzero(k.count < k.p.warmup)),
            "alerts": int(k.alerts.sum()),
            "resting": int(np.count_nonzero(k.quiet)),
            "max_last_score": float(k.last_score.max()),
        }

    def __repr__(self) -> str:
        return f"AnomalyDetectorBank(n_series={self.n_series}, name={self.name!r})"
