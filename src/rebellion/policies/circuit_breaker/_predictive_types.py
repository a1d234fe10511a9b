"""What the predictive breaker reports: its trip event, its snapshot and one prediction.

Kept apart from the NumPy-backed evidence (``_trend_watch.py``) so importing the names
costs nothing when the metrics extra is not installed.

>>> PredictiveBreakerSnapshot.measure("predicted_trips")
'counter'
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, final

from ..._events import Event
from ..._snapshot import Snapshot, counter, gauge, info, ratio, seconds

__all__ = ["SIGNALS", "CircuitTripPredicted", "Prediction", "PredictiveBreakerSnapshot"]

SIGNALS = ("failure_rate", "slow_call_rate", "latency")
"""The signals judged, in order (the last two only when slow calls are judged)."""


@final
@dataclass(frozen=True, slots=True)
class Prediction:
    """One signal judged to be heading for the breaker's threshold.

    ``rule`` is ``"trend"`` (the forecast crosses ``threshold`` within the horizon) or
    ``"anomaly"`` (the detector flagged the signal while it rose above the floor).
    """

    signal: str
    rule: str
    value: float
    threshold: float
    time_to_threshold: float | None
    ttt_low: float | None
    ttt_high: float | None
    anomaly_score: float

    def reason(self) -> str:
        """Return the sentence recorded in the breaker's transition history."""
        what = self.signal.replace("_", " ")
        if self.signal == "latency":
            shown = f"{what} {self.value:.3g}s (limit {self.threshold:.3g}s)"
        else:
            shown = f"{what} {self.value:.1%} (threshold {self.threshold:.0%})"
        crossing = ""
        if self.time_to_threshold is not None:
            crossing = f", crossing in {self.time_to_threshold:.0f}s"
            if self.ttt_low is not None:
                high = "?" if self.ttt_high is None else f"{self.ttt_high:.0f}"
                crossing += f" (95% {self.ttt_low:.0f}-{high}s)"
        if self.rule == "anomaly":
            crossing += f", anomaly score {self.anomaly_score:.2f}"
        return f"predicted: {shown} rising{crossing}"


@final
@dataclass(frozen=True, slots=True)
class CircuitTripPredicted(Event):
    """The predictive breaker opened its breaker before the threshold was reached.

    ``signal`` is ``failure_rate``, ``slow_call_rate`` or ``latency``; ``rule`` is
    ``trend`` or ``anomaly``; ``value`` is the signal's recent level. The breaker's own
    ``CircuitStateChanged`` follows the same trip with ``reason`` starting ``predicted:``.
    """

    policy_kind: ClassVar[str] = "predictive_circuit_breaker"

    signal: str
    rule: str
    value: float
    threshold: float
    time_to_threshold: float | None
    ttt_low: float | None
    ttt_high: float | None
    anomaly_score: float
    reason: str


@final
@dataclass(frozen=True, slots=True)
class PredictiveBreakerSnapshot(Snapshot):
    """The evidence a predictive breaker judged last, and what it did about it.

    Rates and latency are pooled over the recent buckets. ``forecasts`` holds each
    signal's last forecast ``horizon`` seconds ahead (as ``Forecast.to_dict()``);
    ``time_to_threshold`` is the soonest predicted crossing, ``None`` when no signal
    trends towards its threshold.
    """

    kind: str = info()
    name: str = info()
    state: str = info()
    predicted_trips: int = counter()
    buckets: int = counter()
    failure_rate: float = ratio()
    slow_call_rate: float = ratio()
    latency: float | None = seconds()
    anomaly_score: float = ratio()
    time_to_threshold: float | None = seconds()
    forecasts: Mapping[str, Mapping[str, float | str | None]] = info()
    horizon: float = info()
    last_prediction: str | None = info()
    warming_up: bool = gauge()
