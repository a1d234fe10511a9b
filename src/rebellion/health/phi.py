"""Phi-accrual failure detection (Hayashibara et al. 2004), as Akka implements it.

Each peer's heartbeat inter-arrival times are kept in a bounded ring with running sums,
so a heartbeat costs O(1). The suspicion level after ``t`` seconds of silence is

    phi = -log10(1 - F(t)),  F = the normal CDF with the history's mean (plus
    ``acceptable_heartbeat_pause``) and standard deviation (at least
    ``min_std_deviation``),

with Akka's logistic approximation ``1 - F(t) ~= e / (1 + e)``,
``e = exp(-y (1.5976 + 0.070566 y^2))``, ``y = (t - mean) / std``. A peer is
available while ``phi < threshold``. As in Akka, the first heartbeat seeds the history
with ``first_heartbeat_estimate`` (std a quarter of it), and the interval that ends a
silence long enough to make a peer unavailable is not learned (it would skew the
statistics).

>>> from rebellion.testing import ManualClock
>>> clock = ManualClock()
>>> detector = PhiAccrualFailureDetector(acceptable_heartbeat_pause=0.0, clock=clock)
>>> for _ in range(10):
...     detector.heartbeat("db")
...     clock.advance(1.0)
>>> round(detector.phi("db"), 2), detector.is_available("db")
(0.3, True)
>>> clock.advance(1.0)
>>> detector.is_available("db")
False
"""

from __future__ import annotations

import math
import threading
from collections.abc import Hashable
from typing import Any, ClassVar, final

from .._clock import Clock
from .._registry import registry
from .._validate import check_clock, check_int, check_name, check_number

__all__ = ["PhiAccrualFailureDetector", "phi", "phi_threshold_offset"]

_A = 1.5976
_B = 0.070566
_LN10 = math.log(10.0)


def phi(elapsed: float, mean: float, std_deviation: float) -> float:
    """Return the suspicion level after ``elapsed`` seconds of silence.

    Algebraically Akka's two-branch formula, written as
    ``log10(1 + exp(y (1.5976 + 0.070566 y^2)))`` so it never overflows.

    >>> round(phi(1.0, 1.0, 0.1), 4)
    0.301
    """
    y = (elapsed - mean) / std_deviation
    w = y * (_A + _B * y * y)
    if w > 30.0:
        return (w + math.log1p(math.exp(-w))) / _LN10
    return math.log1p(math.exp(w)) / _LN10


def phi_threshold_offset(threshold: float) -> float:
    """Return ``y`` where phi reaches ``threshold``: silence ``mean + y * std`` suspects.

    Solves ``0.070566 y^3 + 1.5976 y = ln(10^threshold - 1)`` (one real root) by
    Cardano's formula.

    >>> round(phi(1.0 + phi_threshold_offset(8.0) * 0.1, 1.0, 0.1), 9)
    8.0
    """
    target = math.log(math.expm1(threshold * _LN10))
    p, q = _A / _B, -target / _B
    root = math.sqrt((q / 2.0) ** 2 + (p / 3.0) ** 3)
    return math.cbrt(-q / 2.0 + root) + math.cbrt(-q / 2.0 - root)


@final
class _History:
    __slots__ = ("count", "index", "intervals", "last", "replaced", "squares", "total")

    def __init__(self, now: float, estimate: float) -> None:
        deviation = estimate / 4.0
        self.intervals = [estimate - deviation, estimate + deviation]
        self.total = 2.0 * estimate
        self.squares = (estimate - deviation) ** 2 + (estimate + deviation) ** 2
        self.count = 2
        self.index = 0
        self.replaced = 0
        self.last = now


@final
class PhiAccrualFailureDetector:
    """Per-peer phi-accrual failure detectors (one heartbeat history per peer).

    Args:
        name: name for statistics and the registry.
        threshold: phi at which a peer is suspected (> 0; 8 means a ~1e-8 chance
            that a live peer is this late, by the model).
        max_sample_size: inter-arrival times kept per peer (>= 2).
        min_std_deviation: floor on the standard deviation in seconds (> 0), so
            perfectly regular heartbeats do not make the detector hair-triggered.
        acceptable_heartbeat_pause: seconds of extra silence tolerated (>= 0), added
            to the mean (GC pauses, transient network blips).
        first_heartbeat_estimate: expected interval in seconds before any is seen
            (> 0).
        clock: time source when ``now`` is not given.

    Raises:
        ConfigError: a parameter is out of range; the message names it.
    """

    kind: ClassVar[str] = "phi_accrual_detector"

    def __init__(
        self,
        name: str = "phi_accrual",
        *,
        threshold: float = 8.0,
        max_sample_size: int = 1000,
        min_std_deviation: float = 0.1,
        acceptable_heartbeat_pause: float = 3.0,
        first_heartbeat_estimate: float = 1.0,
        clock: Clock | None = None,
    ) -> None:
        self.name = check_name("name", name)
        self.threshold = check_number("threshold", threshold, minimum=0.0, exclusive_minimum=True)
        self.max_sample_size = check_int("max_sample_size", max_sample_size, minimum=2)
        self.min_std_deviation = check_number(
            "min_std_deviation", min_std_deviation, minimum=0.0, exclusive_minimum=True
        )
        self.acceptable_heartbeat_pause = check_number(
            "acceptable_heartbeat_pause", acceptable_heartbeat_pause, minimum=0.0
        )
        self.first_heartbeat_estimate = check_number(
            "first_heartbeat_estimate",
            first_heartbeat_estimate,
            minimum=0.0,
            exclusive_minimum=True,
        )
        self._clock = check_clock(clock)
        self._monotonic = self._clock.monotonic
        # phi is monotonic in y, so "phi < threshold" is "y < offset": no exp/log needed.
        self._offset = phi_threshold_offset(self.threshold)
        self._peers: dict[Hashable, _History] = {}
        self._lock = threading.Lock()
        registry.track(self)

    # -- heartbeats ---------------------------------------------------------------------

    def heartbeat(self, peer: Hashable, now: float | None = None) -> None:
        """Record a heartbeat from ``peer`` (at ``now``, default the clock's time).

        A heartbeat older than the latest one is ignored.
        """
        if now is None:
            now = self._monotonic()
        with self._lock:
            history = self._peers.get(peer)
            if history is None:
                self._peers[peer] = _History(now, self.first_heartbeat_estimate)
                return
            interval = now - history.last
            if interval < 0.0:
                return
            history.last = now
            count = history.count
            mean = history.total / count
            variance = history.squares / count - mean * mean
            std = math.sqrt(variance) if variance > 0.0 else 0.0
            if std < self.min_std_deviation:
                std = self.min_std_deviation
            if interval - mean - self.acceptable_heartbeat_pause >= self._offset * std:
                return  # it was suspected: do not learn the interval that ends the silence
            if count < self.max_sample_size:
                history.intervals.append(interval)
                history.count = count + 1
                history.total += interval
                history.squares += interval * interval
                return
            index = history.index
            old = history.intervals[index]
            history.intervals[index] = interval
            history.index = index + 1 if index + 1 < count else 0
            history.total += interval - old
            history.squares += interval * interval - old * old
            history.replaced += 1
            if history.replaced >= count:  # bound the drift of the running sums
                history.replaced = 0
                history.total = math.fsum(history.intervals)
                history.squares = math.fsum(x * x for x in history.intervals)

    def _model(self, history: _History) -> tuple[float, float]:
        count = history.count
        mean = history.total / count
        variance = history.squares / count - mean * mean
        std = math.sqrt(variance) if variance > 0.0 else 0.0
        return mean + self.acceptable_heartbeat_pause, max(std, self.min_std_deviation)

    # -- suspicion ----------------------------------------------------------------------

    def phi(self, peer: Hashable, now: float | None = None) -> float:
        """Return the suspicion level of ``peer`` (0.0 for a peer never heard from)."""
        if now is None:
            now = self._monotonic()
        with self._lock:
            history = self._peers.get(peer)
            if history is None:
                return 0.0
            count = history.count
            mean = history.total / count
            variance = history.squares / count - mean * mean
            elapsed = now - history.last
        # Inlined model and formula: this is the per-query hot path.
        std = math.sqrt(variance) if variance > 0.0 else 0.0
        if std < self.min_std_deviation:
            std = self.min_std_deviation
        y = (elapsed - mean - self.acceptable_heartbeat_pause) / std
        w = y * (_A + _B * y * y)
        if w > 30.0:
            return (w + math.log1p(math.exp(-w))) / _LN10
        return math.log1p(math.exp(w)) / _LN10

    def is_available(self, peer: Hashable, now: float | None = None) -> bool:
        """Return whether ``phi(peer) < threshold`` (a peer never heard from is)."""
        if now is None:
            now = self._monotonic()
        with self._lock:
            history = self._peers.get(peer)
            if history is None:
                return True
            mean, std = self._model(history)
            return now - history.last - mean < self._offset * std

    def suspect_at(self, peer: Hashable) -> float | None:
        """Return the time at which ``peer`` becomes suspected if it stays silent."""
        with self._lock:
            history = self._peers.get(peer)
            if history is None:
                return None
            mean, std = self._model(history)
            return history.last + mean + self._offset * std

    # -- peers ----------------------------------------------------------------------------

    def is_monitoring(self, peer: Hashable) -> bool:
        """Whether a heartbeat from ``peer`` was ever recorded (and not removed)."""
        return peer in self._peers

    def remove(self, peer: Hashable) -> None:
        """Forget ``peer`` and its history (no error if unknown)."""
        with self._lock:
            self._peers.pop(peer, None)

    def peers(self) -> list[Hashable]:
        """The peers being monitored."""
        with self._lock:
            return list(self._peers)

    def peer_stats(self, peer: Hashable) -> dict[str, Any] | None:
        """Return ``peer``'s model (mean, std, samples, phi) or ``None`` if unknown."""
        now = self._monotonic()
        with self._lock:
            history = self._peers.get(peer)
            if history is None:
                return None
            mean, std = self._model(history)
            samples, last = history.count, history.last
        level = phi(now - last, mean, std)
        return {
            "mean": mean - self.acceptable_heartbeat_pause,
            "std_deviation": std,
            "samples": samples,
            "last_heartbeat": last,
            "phi": level,
            "available": level < self.threshold,
        }

    def stats(self) -> dict[str, Any]:
        """Return a snapshot: settings and every peer's model."""
        return {
            "kind": self.kind,
            "name": self.name,
            "threshold": self.threshold,
            "peers": {str(peer): self.peer_stats(peer) for peer in self.peers()},
        }

    def __repr__(self) -> str:
        return f"PhiAccrualFailureDetector(name={self.name!r}, peers={len(self._peers)})"
