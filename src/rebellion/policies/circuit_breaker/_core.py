"""The breaker's state machine: pure decisions under one lock, no I/O, no user code.

Drivers (``breaker.py``) ask :meth:`BreakerCore.acquire` for a *permit*, run the call
outside any lock, then report the outcome with the permit. A permit is an int:
``epoch << 1 | probe``. Every automatic transition bumps the epoch, so an outcome that
started under an earlier state (a slow call finishing after the breaker opened) is
counted in the statistics but never moves the new state.

The core is the breaker's *gate* (see ``rebellion._driver``): :meth:`enter`,
:meth:`exit_ok` and :meth:`exit_error` wrap the permit with the call's start time when
slow calls are judged. The closed, consecutive-failure, untimed configuration — the
seeds' default — is *passthrough*: ``free_token`` holds the permit, so drivers skip
:meth:`enter` and record a success with one atomic counter (``count_free``), and a
failure below the threshold is counted without the lock.
"""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, final

from ..._clock import Clock
from ..._events import Event, EventStream
from ...errors import CircuitOpenError, RejectedError
from .._atomic import GIL_ATOMIC
from .._counter import AtomicCounter
from ._config import BreakerConfig, CircuitState
from ._events import CallRejected, CircuitFailureRecorded
from ._machine import BreakerMachine
from ._windows import FAILED, SLOW, SUCCESS, THROTTLED, CountWindow, TimeWindow, Window

__all__ = ["NO_RECORD", "BreakerCore"]

NO_RECORD = -1
"""Permit of a call whose outcome feeds only the statistics (DISABLED, shadow rejects)."""

CLOSED, OPEN, HALF_OPEN, DEGRADED = (
    CircuitState.CLOSED,
    CircuitState.OPEN,
    CircuitState.HALF_OPEN,
    CircuitState.DEGRADED,
)
FORCED_OPEN, ISOLATED, DISABLED, METRICS_ONLY = (
    CircuitState.FORCED_OPEN,
    CircuitState.ISOLATED,
    CircuitState.DISABLED,
    CircuitState.METRICS_ONLY,
)
INF = math.inf


@final
class BreakerCore(BreakerMachine):
    """State, counters and transitions of one breaker."""

    def __init__(
        self,
        name: str,
        cfg: BreakerConfig,
        clock: Clock,
        rng: random.Random,
        events: EventStream,
    ) -> None:
        self.name = name
        self.cfg = cfg
        self.clock = clock
        self.rng = rng
        self.events = events
        self.lock = threading.Lock()
        self.consecutive_mode = cfg.window_type == "consecutive"
        self.timed = cfg.slow_call_duration is not None
        self.checks_results = cfg.checks_results
        self.window: Window | None = None
        if cfg.window_type == "count":
            self.window = CountWindow(int(cfg.window_size))
        elif cfg.window_type == "time":
            self.window = TimeWindow(cfg.window_size, cfg.window_buckets)
        # Lifetime counters: lock-free increments that still add up exactly under threads.
        self.n_success = AtomicCounter()
        self.n_failure = AtomicCounter()
        self.n_rejected = AtomicCounter()
        self.n_ignored = AtomicCounter()
        self.n_slow = AtomicCounter()
        self.n_shadow_rejected = AtomicCounter()
        self.n_transitions = AtomicCounter()
        self.history: deque[dict[str, Any]] = deque(maxlen=cfg.history_size)
        self.pending: list[Event] = []
        self.override: CircuitState | None = None
        self.state = CLOSED
        self.epoch = 0
        self.level = 0
        self.open_until = 0.0
        self.in_flight = 0
        self.probe_successes = 0
        # Last time a probe started or reported: probes silent for probe_timeout are hung.
        self.probe_progress = 0.0
        self.consecutive_failures = 0
        self.last_failure_monotonic: float | None = None
        # Exception-type-only classification (the default) is decided inline.
        self.simple_failures = (
            not cfg.ignore_on and cfg.is_failure is None and cfg.classifier is None
        )
        self.failure_on = cfg.failure_on
        self.passthrough = False
        self.free_token: int | None = None
        self._monotonic = clock.monotonic
        self._count_rejected = self.n_rejected.increment
        self._count_success: Callable[[], object] = self.n_success.increment
        self._count_resetting: Callable[[], object] = self._success_after_failures
        self.count_free: Callable[[], object] = self._count_success
        self.failures_are_exceptions = all(issubclass(t, Exception) for t in self.failure_on)
        self.rejecting = False
        self.reject_until = 0.0
        self.reject_label = "OPEN"
        self._update_passthrough()

    # -- gate: what the drivers call -------------------------------------------------

    def enter(self) -> int | tuple[int, float]:
        """Admit one call: its permit (with its start time when timed), or raise."""
        if self.rejecting:
            remaining = self.reject_until - self._monotonic()
            if remaining > 0:
                # The open breaker's hot path: count, tell listeners, refuse.
                self._count_rejected()
                if self.events.active:
                    self.emit_rejected(self.reject_label, remaining)
                raise CircuitOpenError(self.name, remaining, self.reject_label)
        permit = self.acquire()
        if self.timed:
            return permit, self.clock.monotonic()
        return permit

    def exit_ok(self, token: int | tuple[int, float], result: object) -> None:
        """Record that the call admitted with ``token`` returned ``result``."""
        if type(token) is tuple:
            permit, started = token
            duration: float | None = self.clock.monotonic() - started
        else:
            permit, duration = token, None  # type: ignore[assignment]
        if self.checks_results:
            self.on_result(permit, duration, result)
        else:
            self.on_success(permit, duration)

    def exit_error(self, token: int | tuple[int, float], error: BaseException) -> None:
        """Record that the call admitted with ``token`` raised ``error``."""
        if type(token) is tuple:
            permit, started = token
            self.on_error(permit, self.clock.monotonic() - started, error)
        elif (
            self.simple_failures
            and isinstance(error, self.failure_on)
            and (self.failures_are_exceptions or isinstance(error, Exception))
            and not isinstance(error, RejectedError)
        ):
            self.on_failure(token, None, error.__class__.__name__)  # type: ignore[arg-type]
        else:
            self.on_error(token, None, error)  # type: ignore[arg-type]

    def _success_after_failures(self) -> None:
        # count_free while consecutive failures are pending: a success ends the run.
        self.n_success.increment()
        free = self.free_token
        if free is not None and self.consecutive_failures:
            self._record(free, SUCCESS)

    # -- permission ---------------------------------------------------------------

    def acquire(self) -> int:
        """Return a permit for one call, or raise :class:`CircuitOpenError`."""
        override = self.override
        if override is not None:
            if override is DISABLED:
                return NO_RECORD
            if override is not METRICS_ONLY:
                raise self.reject(override, INF)
        while True:
            state = self.state
            if state is CLOSED:
                return self.epoch << 1
            now = self.clock.monotonic()
            if state is OPEN:
                if now < self.open_until:
                    return self._refuse(OPEN, self.open_until - now)
                with self.lock:
                    if self.state is OPEN and now >= self.open_until:
                        self._transition(HALF_OPEN, "reset timeout elapsed", now)
                self.flush()
                continue
            if state is HALF_OPEN:
                with self.lock:
                    if self.state is not HALF_OPEN:
                        continue
                    if self.in_flight < self.cfg.half_open_max_calls:
                        self.in_flight += 1
                        self.probe_progress = now
                        return self.epoch << 1 | 1
                    waited = self._expire_probes(now)
                if waited is None:
                    self.flush()
                    continue
                return self._refuse(HALF_OPEN, waited)
            # DEGRADED: adaptive client-side throttling.
            if self.rng.random() < self.throttle_probability(now):
                with self.lock:
                    assert self.window is not None
                    self.window.record(THROTTLED, now)
                return self._refuse(DEGRADED, 0.0)
            return self.epoch << 1

    def _refuse(self, state: CircuitState, remaining: float) -> int:
        if self.override is METRICS_ONLY:
            self.n_shadow_rejected.increment()
            if self.events.active:
                self.events.emit(
                    CallRejected(self.name, self.clock.wall(), state.value, remaining, True)
                )
            return NO_RECORD
        raise self.reject(state, remaining)

    def reject(self, state: CircuitState | str, remaining: float) -> CircuitOpenError:
        """Count a rejection and build the error to raise."""
        self.n_rejected.increment()
        label = state if isinstance(state, str) else state.value
        if self.events.active:
            self.emit_rejected(label, remaining)
        return CircuitOpenError(self.name, remaining, label)

    def emit_rejected(self, label: str, remaining: float) -> None:
        """Emit :class:`CallRejected` (callers check ``events.active`` first)."""
        retry_after = None if remaining == INF else remaining
        self.events.emit(CallRejected(self.name, self.clock.wall(), label, retry_after))

    def last_failure_time(self) -> float | None:
        """Wall-clock time of the last failure (derived from one monotonic reading)."""
        if self.last_failure_monotonic is None:
            return None
        return self.clock.wall() - (self.clock.monotonic() - self.last_failure_monotonic)

    def throttle_probability(self, now: float) -> float:
        """Client-side throttling: ``max(0, (requests - K*accepts) / (requests + 1))``."""
        assert self.window is not None
        calls, failures, _, throttled = self.window.totals(now)
        requests = calls + throttled
        accepts = calls - failures
        return max(0.0, (requests - self.cfg.throttle_k * accepts) / (requests + 1))

    # -- outcomes -----------------------------------------------------------------

    def on_success(self, permit: int, duration: float | None) -> None:
        """Record a successful call (slow if ``duration`` crosses the threshold)."""
        self.n_success.increment()
        outcome = SUCCESS
        if duration is not None and duration >= self.cfg.slow_call_duration:  # type: ignore[operator]
            self.n_slow.increment()
            outcome = SLOW
        if permit == NO_RECORD:
            return
        if outcome or permit & 1 or self.window is not None or self.consecutive_failures:
            self._record(permit, outcome)

    def on_error(self, permit: int, duration: float | None, error: BaseException) -> None:
        """Classify ``error`` and record it as failure, success or neither."""
        if self.simple_failures:
            if isinstance(error, self.failure_on) and isinstance(error, Exception):
                if not isinstance(error, RejectedError):
                    self.on_failure(permit, duration, error.__class__.__name__)
                    return
                verdict: bool | None = None  # refused inside: the callee never ran
            else:
                verdict = False if isinstance(error, Exception) else None
        else:
            verdict = self.cfg.counts_as_failure(error)
        if verdict is None:
            self.n_ignored.increment()
            if permit != NO_RECORD and permit & 1:
                self._release_probe(permit)
            return
        if not verdict:
            self.on_success(permit, duration)
            return
        self.on_failure(permit, duration, type(error).__name__)

    def on_failure(self, permit: int, duration: float | None, label: str) -> None:
        """Record a failed call (an exception, or a result judged a failure)."""
        self.n_failure.increment()
        outcome = FAILED
        slow = duration is not None and duration >= self.cfg.slow_call_duration  # type: ignore[operator]
        if slow:
            self.n_slow.increment()
            outcome |= SLOW
        self.last_failure_monotonic = now = self.clock.monotonic()
        if self.events.active:
            state = self.override or self.state
            self.events.emit(
                CircuitFailureRecorded(
                    self.name, self.clock.wall(), state.value, label, duration, slow
                )
            )
        if permit == NO_RECORD:
            return
        if permit == self.free_token and GIL_ATOMIC:
            # Closed, consecutive and untimed: below the threshold a failure only bumps
            # the count. Call-free from the reads to the writes, so no lock (_atomic).
            count = self.consecutive_failures + 1
            if count < self.cfg.failure_threshold and permit == self.free_token:
                self.consecutive_failures = count
                self.count_free = self._count_resetting
                return
        self._record(permit, outcome, now)

    def on_result(self, permit: int, duration: float | None, result: object) -> None:
        """Record a returned value, judging it with the result predicates if any."""
        if self.checks_results and self.cfg.result_is_failure(result):
            self.on_failure(permit, duration, "result")
        else:
            self.on_success(permit, duration)

    def _release_probe(self, permit: int) -> None:
        with self.lock:
            if permit >> 1 == self.epoch and self.state is HALF_OPEN and self.in_flight > 0:
                self.in_flight -= 1
                self.probe_progress = self.clock.monotonic()

    def _record(self, permit: int, outcome: int, now: float | None = None) -> None:
        if now is None:
            now = self.clock.monotonic()
        with self.lock:
            if permit >> 1 != self.epoch:
                return  # started under an earlier state: statistics only
            bad = outcome & (FAILED | SLOW)
            if permit & 1:
                self.in_flight -= 1
                self.probe_progress = now
                if bad:
                    self.level += 1
                    why = "probe failed" if outcome & FAILED else "probe was slow"
                    self._transition(OPEN, why, now)
                else:
                    self.probe_successes += 1
                    if self.probe_successes >= self.cfg.success_threshold:
                        self._transition(CLOSED, f"{self.probe_successes} probe(s) succeeded", now)
            elif self.window is None:
                if bad:
                    self.consecutive_failures += 1
                    self.count_free = self._count_resetting
                    if self.consecutive_failures >= self.cfg.failure_threshold:
                        self._transition(
                            OPEN, f"{self.consecutive_failures} consecutive failures", now
                        )
                else:
                    self.consecutive_failures = 0
                    self.count_free = self._count_success
            else:
                self.window.record(outcome, now)
                self._evaluate(now)
        self.flush()

    def _evaluate(self, now: float) -> None:
        assert self.window is not None
        calls, failures, slow, _ = self.window.totals(now)
        if calls < self.cfg.minimum_calls:
            return
        failure_rate = failures / calls
        slow_rate = slow / calls
        if failure_rate >= self.cfg.failure_rate_threshold:
            self._transition(OPEN, f"failure rate {failure_rate:.1%} over {calls} calls", now)
        elif self.timed and slow_rate >= self.cfg.slow_call_rate_threshold:
            self._transition(OPEN, f"slow call rate {slow_rate:.1%} over {calls} calls", now)
        elif self.cfg.throttle_failure_rate is not None:
            if failure_rate >= self.cfg.throttle_failure_rate:
                if self.state is CLOSED:
                    self._transition(DEGRADED, f"failure rate {failure_rate:.1%}: throttling", now)
            elif self.state is DEGRADED:
                self._transition(CLOSED, f"failure rate {failure_rate:.1%}: recovered", now)
