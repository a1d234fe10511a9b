"""The breaker's states and transitions: the half of :class:`BreakerCore` that moves it.

Every automatic transition goes through :meth:`BreakerMachine._transition` (with the
lock held; events are queued and emitted by :meth:`BreakerMachine.flush` after the lock
is released), and operator overrides through :meth:`BreakerMachine.set_override`.
:class:`~rebellion.policies.circuit_breaker._core.BreakerCore` adds the permits and
the outcome recording on top.

>>> from rebellion.policies.circuit_breaker import CircuitBreaker
>>> core = CircuitBreaker("machine", failure_threshold=1)._core
>>> core.set_override(CircuitState.FORCED_OPEN, "maintenance")
>>> core.public_state(), core.remaining_open(), core.history[-1]["reason"]
(<CircuitState.FORCED_OPEN: 'FORCED_OPEN'>, inf, 'maintenance')
"""

from __future__ import annotations

import math
import random
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from ..._clock import Clock
from ..._events import Event, EventStream
from .._counter import AtomicCounter
from ._config import BreakerConfig, CircuitState
from ._events import CircuitStateChanged
from ._windows import Window

__all__ = ["BreakerMachine"]

CLOSED, OPEN, HALF_OPEN = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
FORCED_OPEN, ISOLATED = CircuitState.FORCED_OPEN, CircuitState.ISOLATED
METRICS_ONLY = CircuitState.METRICS_ONLY
INF = math.inf


class BreakerMachine:
    """State, backoff level and transitions of one breaker (see ``BreakerCore``)."""

    name: str
    cfg: BreakerConfig
    clock: Clock
    rng: random.Random
    events: EventStream
    lock: threading.Lock
    consecutive_mode: bool
    timed: bool
    checks_results: bool
    window: Window | None
    n_transitions: AtomicCounter
    history: deque[dict[str, Any]]
    pending: list[Event]
    override: CircuitState | None
    state: CircuitState
    epoch: int
    level: int
    open_until: float
    in_flight: int
    probe_successes: int
    probe_progress: float
    consecutive_failures: int
    passthrough: bool
    free_token: int | None
    count_free: Callable[[], object]
    _count_success: Callable[[], object]
    rejecting: bool
    reject_until: float
    reject_label: str

    def _expire_probes(self, now: float) -> float | None:
        """Re-open if every probe permit is held and none reported for ``probe_timeout``.

        Call with the lock held while HALF_OPEN. Returns the seconds the held permits
        have left, or ``None`` after re-opening (their late outcomes carry an old epoch,
        so they count in the statistics but never move the new state).
        """
        left = self.probe_progress + self.cfg.probe_timeout - now
        if left > 0:
            return left
        self.level += 1
        self._transition(
            OPEN, f"{self.in_flight} probe(s) silent for {self.cfg.probe_timeout:g}s", now
        )
        return None

    # -- transitions (call with the lock held; then flush() after releasing it) -----

    def _transition(self, new: CircuitState, reason: str, now: float) -> None:
        old = self.state
        self.state = new
        self.epoch += 1
        if new is OPEN:
            try:
                wait = self.cfg.reset_timeout * self.cfg.exponential_backoff_factor**self.level
            except OverflowError:  # factor ** level left the floats long after the cap
                wait = math.inf
            wait = min(wait, self.cfg.max_reset_timeout)
            if self.cfg.reset_timeout_jitter:
                spread = self.cfg.reset_timeout_jitter
                wait = min(
                    wait * self.rng.uniform(1 - spread, 1 + spread), self.cfg.max_reset_timeout
                )
            self.open_until = now + wait
            self.consecutive_failures = 0
        elif new is HALF_OPEN:
            self.in_flight = 0
            self.probe_successes = 0
            self.probe_progress = now
        elif new is CLOSED:
            self._clear_counts()
        self._update_passthrough()
        self._audit(old, new, reason, self.override is METRICS_ONLY)

    def _clear_counts(self) -> None:
        self.level = 0
        self.consecutive_failures = 0
        if self.window is not None:
            self.window.clear()

    def _audit(self, old: CircuitState, new: CircuitState, reason: str, shadow: bool) -> None:
        self.n_transitions.increment()
        at = self.clock.wall()
        self.history.append(
            {"at": at, "from": old.value, "to": new.value, "reason": reason, "shadow": shadow}
        )
        if self.events.active:
            self.pending.append(
                CircuitStateChanged(self.name, at, old.value, new.value, reason, shadow)
            )

    def flush(self) -> None:
        """Emit transition events queued under the lock (listeners never run under it)."""
        if not self.pending:
            return
        with self.lock:
            events, self.pending = self.pending, []
        for event in events:
            self.events.emit(event)

    def _update_passthrough(self) -> None:
        # Drivers read these without the lock: each is one attribute, set atomically.
        override = self.override
        if override is FORCED_OPEN or override is ISOLATED:
            self.reject_until, self.reject_label, self.rejecting = INF, override.value, True
        elif override is None and self.state is OPEN:
            self.reject_until, self.reject_label, self.rejecting = self.open_until, "OPEN", True
        else:
            self.rejecting = False
        self.passthrough = (
            self.override is None
            and self.state is CLOSED
            and self.consecutive_mode
            and not self.timed
            and not self.checks_results
        )
        self.free_token = self.epoch << 1 if self.passthrough else None
        if not self.consecutive_failures:
            self.count_free = self._count_success

    # -- operator controls -------------------------------------------------------

    def set_override(self, override: CircuitState | None, reason: str) -> None:
        """Force a state (FORCED_OPEN, ISOLATED, DISABLED, METRICS_ONLY) or clear it."""
        with self.lock:
            old = self.override or self.state
            self.override = override
            self.epoch += 1  # in-flight calls no longer move the machine
            if override is None or override is METRICS_ONLY:
                self.state = CLOSED
                self.in_flight = 0
                self._clear_counts()
            new = override or self.state
            self._update_passthrough()
            self._audit(old, new, reason, False)
        self.flush()

    def public_state(self) -> CircuitState:
        """Return the reported state, moving OPEN to HALF_OPEN once its wait is over."""
        override = self.override
        if override is not None and override is not METRICS_ONLY:
            return override
        state = self.state
        if state is OPEN and self.clock.monotonic() >= self.open_until:
            with self.lock:
                now = self.clock.monotonic()
                if self.state is OPEN and now >= self.open_until:
                    self._transition(HALF_OPEN, "reset timeout elapsed", now)
            self.flush()
        elif state is HALF_OPEN and self.in_flight >= self.cfg.half_open_max_calls:
            with self.lock:
                if self.state is HALF_OPEN and self.in_flight >= self.cfg.half_open_max_calls:
                    self._expire_probes(self.clock.monotonic())
            self.flush()
        return override or self.state

    def remaining_open(self) -> float:
        """Seconds until a probe may run (0 unless OPEN; inf while forced open)."""
        state = self.public_state()
        if state in (FORCED_OPEN, ISOLATED):
            return INF
        if self.state is OPEN:
            return max(0.0, self.open_until - self.clock.monotonic())
        return 0.0
