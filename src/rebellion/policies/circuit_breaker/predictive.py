"""A circuit breaker that opens when its failure rate is heading for the threshold.

:class:`PredictiveCircuitBreaker` wraps a plain :class:`CircuitBreaker` (built from the
same settings) and watches what reaches the dependency: per-bucket failure rate and,
when slow calls are judged, slow-call rate and a latency quantile. Each bucket is fed
to the monitor's streaming anomaly detector and trend forecaster. When the trend says
a signal crosses the breaker's own threshold within ``horizon`` seconds (a significant
slope, not noise), or the detector flags a signal that is rising above ``floor`` times
its threshold, the breaker is opened early with :meth:`CircuitBreaker.trip` and the
reason ``predicted: ...``. Everything after that — the open wait, half-open probes,
closing — is the plain breaker's. Needs the ``metrics`` extra (NumPy).

>>> from rebellion.errors import CircuitOpenError
>>> from rebellion.testing import ManualClock
>>> clock = ManualClock()
>>> cb = PredictiveCircuitBreaker(
...     "payments", window_type="time", window_size=10, failure_rate_threshold=0.5,
...     horizon=30, clock=clock, seed=1)
>>> def charge(fails):
...     if fails:
...         raise ConnectionError("payments degraded")
...     return "ok"
>>> import random
>>> rng = random.Random(7)
>>> second = 0
>>> while cb.state == cb.CLOSED and second < 600:
...     rate = 0.02 if second < 120 else min(1.0, 0.02 + (second - 120) / 300)
...     for _ in range(20):
...         try:
...             _ = cb.call(charge, rng.random() < rate)
...         except (ConnectionError, CircuitOpenError):
...             pass
...         clock.advance(0.05)
...     second += 1
>>> snap = cb.stats()
>>> snap.state, snap.predicted_trips, snap.failure_rate < 0.5
('OPEN', 1, True)
>>> cb.breaker.get_health_status()["transitions_history"][-1]["reason"][:10]
'predicted:'
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from datetime import timedelta
from inspect import isawaitable
from typing import Any, ClassVar, TypeVar, final

from ..._clock import Clock
from ..._events import Event, EventStream, Listener
from ..._policy import Policy
from ..._registry import registry
from ..._validate import (
    check_clock,
    check_duration,
    check_fraction,
    check_int,
    check_name,
    check_number,
)
from ._config import CircuitState
from ._events import CircuitStateChanged
from ._predictive_types import (
    SIGNALS,
    CircuitTripPredicted,
    Prediction,
    PredictiveBreakerSnapshot,
)
from .breaker import CircuitBreaker

__all__ = ["PredictiveCircuitBreaker"]

T = TypeVar("T")


@final
class PredictiveCircuitBreaker(Policy):
    """Open the breaker before its threshold is reached when the trend says it will be.

    Args:
        name: the breaker's name (shared by the inner :attr:`breaker`).
        bucket: seconds per sample of the failure rate.
        horizon: a forecast crossing the threshold within this many seconds trips.
        trend_window: buckets in the trend's window (>= 10).
        significance: |t| of the slope that counts as a trend (higher: fewer, later trips).
        anomaly_level: detector score (0 to 1, 0.5 meaning p = 1e-5) from which a
            rising signal trips on a crossing up to three horizons ahead.
        floor: share of its threshold (0 to 1) a signal's recent level must reach
            before it may trip the breaker, so trends in the noise floor never do.
        min_bucket_calls: calls a bucket needs to count as a sample.
        latency_quantile: latency quantile sampled per bucket (with
            ``slow_call_duration``).
        warmup: buckets the anomaly detector learns from before it scores.
        clock: time source (tests pass a ``ManualClock``).
        listeners: receive this breaker's events and the inner breaker's.
        settings: :class:`CircuitBreaker` parameters. The thresholds predicted are
            ``failure_rate_threshold`` and, with ``slow_call_duration``,
            ``slow_call_rate_threshold`` for the slow-call rate and
            ``slow_call_duration`` for the latency quantile.

    Raises:
        ConfigError: a parameter is out of range; the message names it.
        ImportError: NumPy is missing (install ``system-rebellion[metrics]``).
    """

    kind: ClassVar[str] = "predictive_circuit_breaker"
    CLOSED: ClassVar[CircuitState] = CircuitState.CLOSED
    OPEN: ClassVar[CircuitState] = CircuitState.OPEN
    HALF_OPEN: ClassVar[CircuitState] = CircuitState.HALF_OPEN

    def __init__(
        self,
        name: str = "circuit_breaker",
        *,
        bucket: float | timedelta = 1.0,
        horizon: float | timedelta = 360.0,
        trend_window: int = 120,
        significance: float = 5.0,
        anomaly_level: float = 0.5,
        floor: float = 0.25,
        min_bucket_calls: int = 5,
        latency_quantile: float = 0.95,
        warmup: int = 100,
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
        **settings: Any,
    ) -> None:
        self.name = check_name("name", name)
        self.bucket = check_duration("bucket", bucket, exclusive_minimum=True)
        self.horizon = check_duration("horizon", horizon, exclusive_minimum=True)
        window = check_int("trend_window", trend_window, minimum=10, maximum=100_000)
        significance = check_number(
            "significance", significance, minimum=0.0, exclusive_minimum=True, maximum=1e6
        )
        anomaly_level = check_fraction("anomaly_level", anomaly_level, allow_zero=False)
        floor = check_fraction("floor", floor)
        min_calls = check_int("min_bucket_calls", min_bucket_calls, minimum=1, maximum=10**9)
        quantile = check_fraction("latency_quantile", latency_quantile)
        warmup = check_int("warmup", warmup, minimum=0, maximum=10**9)
        listeners = tuple(listeners)
        self._clock = check_clock(clock)
        try:
            from ._trend_watch import TrendWatch
        except ImportError as error:
            raise ImportError(
                "PredictiveCircuitBreaker needs NumPy: pip install 'system-rebellion[metrics]'"
            ) from error
        self.breaker = CircuitBreaker(name, clock=self._clock, listeners=listeners, **settings)
        cfg = self.breaker.config
        self._slow_after = cfg.slow_call_duration
        thresholds = [cfg.failure_rate_threshold]
        if self._slow_after is not None:
            thresholds += [cfg.slow_call_rate_threshold, self._slow_after]
        self._watch = TrendWatch(
            thresholds=thresholds,
            bucket=self.bucket,
            window=window,
            horizon=self.horizon,
            significance=significance,
            anomaly_level=anomaly_level,
            floor=floor,
            min_calls=min_calls,
            quantile=quantile,
            warmup=warmup,
        )
        self._lock = threading.Lock()
        # Transitions seen by a listener: reading the breaker's state under our lock could
        # move it and run its listeners there.
        self._moves = self._seen_moves = 0
        self.breaker.events.subscribe(self._on_breaker_event)
        self._predicted = 0
        self._last: Prediction | None = None
        self.events = EventStream(self.name, listeners)
        registry.track(self)

    # -- state -----------------------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        """The inner breaker's state."""
        return self.breaker.state

    # -- drivers: measure what reaches the dependency, inside the plain breaker --------

    def _sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        result: T = self.breaker.run_sync(self._measured, (fn, args, kwargs), {})
        return result

    async def _async(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        return await self.breaker.run_async(self._measured_async, (fn, args, kwargs), {})

    def _measured(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        started = self._clock.monotonic()
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:
            self._judge_error(started, error)
            raise
        self._judge_result(started, result)
        return result

    async def _measured_async(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        started = self._clock.monotonic()
        try:
            result = fn(*args, **kwargs)
            if isawaitable(result):
                result = await result
        except BaseException as error:
            self._judge_error(started, error)
            raise
        self._judge_result(started, result)
        return result

    def _judge_error(self, started: float, error: BaseException) -> None:
        verdict = self.breaker.config.counts_as_failure(error)
        if verdict is not None:  # ignored errors say nothing about the dependency
            self._record(started, verdict)

    def _judge_result(self, started: float, result: object) -> None:
        cfg = self.breaker.config
        self._record(started, cfg.checks_results and cfg.result_is_failure(result))

    def _record(self, started: float, failed: bool) -> None:
        now = self._clock.monotonic()
        duration = None if self._slow_after is None else now - started
        predictions: list[Prediction] = []
        with self._lock:
            watch = self._watch
            if watch.due(now):
                moves = self._moves
                moved, self._seen_moves = moves != self._seen_moves, moves
                predictions = watch.close(now, restart=moved)
            watch.count(failed, duration)
        if predictions:
            self._trip(predictions[0])

    def _on_breaker_event(self, event: Event) -> None:
        if isinstance(event, CircuitStateChanged):
            self._moves += 1

    def _trip(self, prediction: Prediction) -> None:
        # Outside our lock: the breaker's listeners run inside trip().
        reason = prediction.reason()
        if not self.breaker.trip(reason):
            return
        with self._lock:
            self._predicted += 1
            self._last = prediction
        if self.events.active:
            p = prediction
            self.events.emit(
                CircuitTripPredicted(
                    self.name, self._clock.wall(), p.signal, p.rule, p.value, p.threshold,
                    p.time_to_threshold, p.ttt_low, p.ttt_high, p.anomaly_score, reason,
                )
            )  # fmt: skip

    # -- observation -----------------------------------------------------------------

    def stats(self) -> PredictiveBreakerSnapshot:
        """Return a typed snapshot of the evidence judged last and the trips it caused."""
        state = self.breaker.state.value
        with self._lock:
            watch = self._watch
            levels = [float(x) for x in watch.levels()]
            forecasts = {
                signal: f.to_dict() for signal, f in zip(SIGNALS, watch.forecasts, strict=False)
            }
            detector = watch.detector.series_stats(0)
            last = self._last
            return PredictiveBreakerSnapshot(
                kind=self.kind,
                name=self.name,
                state=state,
                predicted_trips=self._predicted,
                buckets=watch.buckets,
                failure_rate=_or_zero(levels[0]),
                slow_call_rate=_or_zero(levels[1]) if len(levels) > 1 else 0.0,
                latency=levels[2] if len(levels) > 2 and levels[2] == levels[2] else None,
                anomaly_score=float(watch.scores.max()),
                time_to_threshold=watch.soonest(),
                forecasts=forecasts,
                horizon=self.horizon,
                last_prediction=None if last is None else last.reason(),
                warming_up=bool(detector["warming_up"]),
            )

    def __repr__(self) -> str:
        return f"PredictiveCircuitBreaker(name={self.name!r}, state={self.state.value})"


def _or_zero(x: float) -> float:
    return x if x == x else 0.0
