"""What a forecast is made of: a metric's physical range and one series' forecast.

>>> PERCENT.low, PERCENT.high, NON_NEGATIVE.high
(0.0, 100.0, inf)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError

__all__ = ["NON_NEGATIVE", "PERCENT", "UNBOUNDED", "Forecast", "ValueRange"]


@dataclass(frozen=True, slots=True)
class ValueRange:
    """The physically possible values of a metric, ``low <= x <= high``."""

    low: float = -math.inf
    high: float = math.inf

    def __post_init__(self) -> None:
        if math.isnan(self.low) or math.isnan(self.high) or self.low >= self.high:
            raise ConfigError("range", "low < high, neither NaN", (self.low, self.high))


PERCENT = ValueRange(0.0, 100.0)
"""A percentage: 0 to 100."""
NON_NEGATIVE = ValueRange(0.0, math.inf)
"""A rate, size or count: never below zero."""
UNBOUNDED = ValueRange()
"""No physical limit (a temperature difference, a balance)."""


@dataclass(frozen=True, slots=True)
class Forecast:
    """One series' forecast ``horizon`` seconds ahead; every value lies in its range.

    ``time_to_threshold`` (seconds) is None unless the trend is significant and points
    at the threshold; ``ttt_low``/``ttt_high`` bound it (``ttt_high`` None: unbounded).
    """

    value: float
    horizon: float
    low80: float
    high80: float
    low95: float
    high95: float
    model: str
    trend: str
    slope: float
    time_to_threshold: float | None = None
    ttt_low: float | None = None
    ttt_high: float | None = None

    def to_dict(self) -> dict[str, float | str | None]:
        """Return the forecast as a JSON-ready dict (numbers rounded)."""

        def r(x: float | None, digits: int = 4) -> float | None:
            return None if x is None or not math.isfinite(x) else round(x, digits)

        return {
            "value": r(self.value),
            "horizon": self.horizon,
            "low80": r(self.low80),
            "high80": r(self.high80),
            "low95": r(self.low95),
            "high95": r(self.high95),
            "model": self.model,
            "trend": self.trend,
            "slope": r(self.slope, 8),
            "time_to_threshold": r(self.time_to_threshold, 1),
            "ttt_low": r(self.ttt_low, 1),
            "ttt_high": r(self.ttt_high, 1),
        }
