"""The circuit breaker policy: :class:`BreakerCore` as the gate of the shared driver template."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Iterable
from datetime import timedelta
from typing import Any, ClassVar, TypeVar, final

from ..._awaitable import DONE, Done, ReadyDict
from ..._clock import Clock
from ..._driver import Gated
from ..._events import EventStream, Listener
from ..._registry import registry
from ..._validate import check_clock, check_int, check_name, check_seed
from ...errors import ConfigError
from ..classify import FailureClassifier
from ._config import BreakerConfig, CircuitState
from ._core import INF, BreakerCore
from ._snapshot import BreakerSnapshot

__all__ = ["CircuitBreaker", "get_circuit_breaker"]

T = TypeVar("T")


@final
class CircuitBreaker(Gated):
    """Stop calling a failing dependency; probe it after a wait; close when it recovers.

    Trips on ``failure_threshold`` consecutive failures (the default mode), or on a
    failure rate / slow-call rate over a count- or time-based sliding window. While
    open, calls fail fast with :class:`~rebellion.errors.CircuitOpenError`. After
    ``reset_timeout`` (growing by ``exponential_backoff_factor`` after each failed
    probe, capped at ``max_reset_timeout``) up to ``half_open_max_calls`` probes run;
    ``success_threshold`` successful probes close it again.

    >>> from rebellion.testing import ManualClock
    >>> from rebellion.errors import CircuitOpenError
    >>> clock = ManualClock()
    >>> cb = CircuitBreaker(name="openai", failure_threshold=2, reset_timeout=60, clock=clock)
    >>> def broken():
    ...     raise ConnectionError("down")
    >>> for _ in range(2):
    ...     try:
    ...         cb.call(broken)
    ...     except ConnectionError:
    ...         pass
    >>> cb.state == CircuitBreaker.OPEN
    True
    >>> try:
    ...     cb.call(broken)
    ... except CircuitOpenError as error:
    ...     (error.name, error.remaining)
    ('openai', 60.0)
    >>> clock.advance(60)
    >>> cb.state
    <CircuitState.HALF_OPEN: 'HALF_OPEN'>
    >>> cb.call(lambda: "recovered"), cb.state
    ('recovered', <CircuitState.CLOSED: 'CLOSED'>)

    Args:
        name: shown in errors, events, statistics and the dashboard.
        failure_threshold: consecutive failures that open the breaker (alias
            ``max_failures``; consecutive mode only).
        reset_timeout: seconds the breaker stays open before probing.
        exponential_backoff_factor: multiplies the open wait after each failed probe.
        max_reset_timeout: cap of the open wait (default: ``REBELLION_`` default, 600 s).
        reset_timeout_jitter: spread the open wait by ±this fraction (0 to 0.99).
        window_type: ``"consecutive"`` (default), ``"count"`` or ``"time"``.
        window_size: calls (count window) or seconds (time window).
        window_buckets: buckets of a time window.
        minimum_calls: calls a window needs before rates are judged.
        failure_rate_threshold: fraction of failed calls (0 to 1) that opens the breaker.
        slow_call_duration: seconds after which a call counts as slow (None: never).
        slow_call_rate_threshold: fraction of slow calls (0 to 1) that opens the breaker.
        half_open_max_calls: probes allowed at once while half-open.
        success_threshold: successful probes needed to close.
        probe_timeout: seconds half-open probes may stay silent while they hold every
            permit (default: ``reset_timeout``); then they are presumed hung, their
            permits expire and the breaker re-opens with the next, longer wait.
        throttle_failure_rate: fraction (below ``failure_rate_threshold``) at which the
            breaker enters DEGRADED and rejects a growing fraction of calls.
        throttle_k: the K of client-side throttling (2.0 is Google SRE's choice).
        failure_on: exception types that count as failures (default: ``Exception``).
        ignore_on: exception types that count as neither success nor failure (a
            :class:`~rebellion.errors.RejectedError` raised by an inner policy always
            does: the callee never ran).
        is_failure: predicate on an exception, overriding ``failure_on``.
        failure_if_result: predicate on a returned value that marks it a failure.
        classifier: a shared :class:`FailureClassifier` deciding what counts.
        history_size: transitions kept for :meth:`get_health_status`.
        clock: time source (tests pass a ``ManualClock``).
        seed: seed for jitter and throttling decisions (reproducible tests).
        listeners: callables receiving this breaker's events.
    """

    kind: ClassVar[str] = "circuit_breaker"

    CLOSED: ClassVar[CircuitState] = CircuitState.CLOSED
    OPEN: ClassVar[CircuitState] = CircuitState.OPEN
    HALF_OPEN: ClassVar[CircuitState] = CircuitState.HALF_OPEN
    DEGRADED: ClassVar[CircuitState] = CircuitState.DEGRADED
    FORCED_OPEN: ClassVar[CircuitState] = CircuitState.FORCED_OPEN
    ISOLATED: ClassVar[CircuitState] = CircuitState.ISOLATED
    DISABLED: ClassVar[CircuitState] = CircuitState.DISABLED
    METRICS_ONLY: ClassVar[CircuitState] = CircuitState.METRICS_ONLY

    def __init__(
        self,
        name: str = "circuit_breaker",
        *,
        failure_threshold: int | None = None,
        max_failures: int | None = None,
        reset_timeout: float | timedelta | None = None,
        exponential_backoff_factor: float | None = None,
        max_reset_timeout: float | timedelta | None = None,
        reset_timeout_jitter: float = 0.0,
        window_type: str = "consecutive",
        window_size: float | timedelta = 100,
        window_buckets: int = 10,
        minimum_calls: int = 10,
        failure_rate_threshold: float = 0.5,
        slow_call_duration: float | timedelta | None = None,
        slow_call_rate_threshold: float = 1.0,
        half_open_max_calls: int | None = None,
        success_threshold: int | None = None,
        probe_timeout: float | timedelta | None = None,
        throttle_failure_rate: float | None = None,
        throttle_k: float = 2.0,
        failure_on: type[BaseException] | Iterable[type[BaseException]] | None = None,
        ignore_on: type[BaseException] | Iterable[type[BaseException]] | None = None,
        is_failure: Callable[[BaseException], bool] | None = None,
        failure_if_result: Callable[[Any], bool] | None = None,
        classifier: FailureClassifier | None = None,
        history_size: int = 50,
        clock: Clock | None = None,
        seed: int | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.name = check_name("name", name)
        if max_failures is not None:
            max_failures = check_int("max_failures", max_failures, minimum=1)
            if failure_threshold is not None and failure_threshold != max_failures:
                raise ConfigError(
                    "max_failures",
                    f"equal to failure_threshold ({failure_threshold!r})",
                    max_failures,
                )
            failure_threshold = max_failures
        self.config = BreakerConfig.create(
            failure_threshold=failure_threshold,
            reset_timeout=reset_timeout,
            max_reset_timeout=max_reset_timeout,
            exponential_backoff_factor=exponential_backoff_factor,
            reset_timeout_jitter=reset_timeout_jitter,
            window_type=window_type,
            window_size=window_size,
            window_buckets=window_buckets,
            minimum_calls=minimum_calls,
            failure_rate_threshold=failure_rate_threshold,
            slow_call_duration=slow_call_duration,
            slow_call_rate_threshold=slow_call_rate_threshold,
            half_open_max_calls=half_open_max_calls,
            success_threshold=success_threshold,
            probe_timeout=probe_timeout,
            throttle_failure_rate=throttle_failure_rate,
            throttle_k=throttle_k,
            failure_on=failure_on,
            ignore_on=ignore_on,
            is_failure=is_failure,
            failure_if_result=failure_if_result,
            classifier=classifier,
            history_size=history_size,
        )
        self._clock = check_clock(clock)
        self.events = EventStream(self.name, listeners)
        self._core = self._gate = BreakerCore(
            self.name, self.config, self._clock, random.Random(check_seed(seed)), self.events
        )
        registry.track(self)

    # -- state -------------------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        """The current state (OPEN turns HALF_OPEN here once its wait is over)."""
        return self._core.public_state()

    @property
    def failure_count(self) -> int:
        """Consecutive failures (consecutive mode) or failures in the window."""
        core = self._core
        if core.window is None:
            return core.consecutive_failures
        return core.window.totals(self._clock.monotonic())[1]

    @property
    def last_failure_time(self) -> float | None:
        """Wall-clock time of the last failure, or ``None``."""
        return self._core.last_failure_time()

    @property
    def failure_threshold(self) -> int:
        return self.config.failure_threshold

    @property
    def reset_timeout(self) -> float:
        return self.config.reset_timeout

    # -- operator controls ---------------------------------------------------------

    # The operator actions act at once; they return DONE so ``await cb.force_open()``
    # (the seeds' spelling) works as well as the plain call.
    def force_open(self, reason: str = "forced open by operator") -> Done:
        """Reject every call until :meth:`force_close` or :meth:`reset`."""
        self._core.set_override(CircuitState.FORCED_OPEN, reason)
        return DONE

    def isolate(self, reason: str = "isolated by operator") -> Done:
        """Like :meth:`force_open`, marked as an incident isolation."""
        self._core.set_override(CircuitState.ISOLATED, reason)
        return DONE

    def force_close(self, reason: str = "closed by operator") -> Done:
        """Close the breaker now: clear counts and the backoff level, resume deciding."""
        self._core.set_override(None, reason)
        return DONE

    def disable(self, reason: str = "disabled by operator") -> None:
        """Let every call through without judging outcomes (statistics still count)."""
        self._core.set_override(CircuitState.DISABLED, reason)

    def metrics_only(self, reason: str = "shadow mode") -> None:
        """Let every call through but record and emit the transitions it *would* make."""
        self._core.set_override(CircuitState.METRICS_ONLY, reason)

    # Settings the core derives structures from when it is built; they need a new breaker.
    _STRUCTURAL = frozenset(
        {
            "window_type",
            "window_size",
            "window_buckets",
            "history_size",
            "slow_call_duration",
            "failure_if_result",
            "failure_on",
            "ignore_on",
            "is_failure",
            "classifier",
        }
    )

    def reconfigure(self, **settings: Any) -> list[str]:
        """Change thresholds and timeouts now, keeping the state, window and counts.

        An open period already started keeps its deadline; the next one uses the new
        timeout.

        Args:
            settings: constructor parameters (``failure_threshold``, ``reset_timeout``,
                ``minimum_calls``, ``failure_rate_threshold``, ...). Window shape,
                history size and failure classification need a new breaker.

        Returns:
            The names in ``settings`` that were not applied (structural ones), sorted.

        Raises:
            ConfigError: a value is out of range, or an unknown parameter; nothing changes.
        """
        if "max_failures" in settings:
            settings["failure_threshold"] = settings.pop("max_failures")
        current = {f.name: getattr(self.config, f.name) for f in dataclasses.fields(self.config)}
        for key in settings:
            if key not in current:
                raise ConfigError(key, "a circuit breaker setting", settings[key])
        skipped = sorted(k for k in settings if k in self._STRUCTURAL)
        live = {k: v for k, v in settings.items() if k not in self._STRUCTURAL}
        new = BreakerConfig.create(**{**current, **live})
        with self._core.lock:
            self.config = self._core.cfg = new
        return skipped

    def reset(self) -> None:
        """Return to CLOSED with empty counts; lifetime statistics are kept."""
        self._core.set_override(None, "reset")

    def trip(self, reason: str) -> bool:
        """Open now as if a trip condition had been met; recovery runs as usual.

        Unlike :meth:`force_open`, the breaker then waits ``reset_timeout`` (with its
        backoff), probes and closes by itself. Policies that judge the dependency on
        other evidence (a forecast of the failure rate) open the breaker with this.

        Args:
            reason: recorded in the transition history and the ``CircuitStateChanged``
                event.

        Returns:
            True if the breaker opened (in shadow mode: would have opened); False if
            it was not CLOSED or DEGRADED, or an operator override holds it.
        """
        reason = check_name("reason", reason)
        core = self._core
        with core.lock:
            if core.override not in (None, CircuitState.METRICS_ONLY) or core.state not in (
                CircuitState.CLOSED,
                CircuitState.DEGRADED,
            ):
                return False
            core._transition(CircuitState.OPEN, reason, self._clock.monotonic())
        core.flush()
        return True

    # -- observation -----------------------------------------------------------------

    def stats(self) -> BreakerSnapshot:
        """Return a typed snapshot of state, lifetime counters and window rates."""
        core = self._core
        state = self.state
        now = self._clock.monotonic()
        calls = failures = slow = 0
        if core.window is not None:
            calls, failures, slow, _ = core.window.totals(now)
        remaining = self._core.remaining_open()
        successes, failed = core.n_success.value, core.n_failure.value
        ignored = core.n_ignored.value
        return BreakerSnapshot(
            kind=self.kind,
            name=self.name,
            state=state.value,
            shadow_state=core.state.value if core.override is CircuitState.METRICS_ONLY else None,
            calls=successes + failed + ignored,
            successes=successes,
            failures=failed,
            rejections=core.n_rejected.value,
            ignored=ignored,
            slow=core.n_slow.value,
            shadow_rejections=core.n_shadow_rejected.value,
            transitions=core.n_transitions.value,
            in_flight=core.in_flight if core.state is CircuitState.HALF_OPEN else 0,
            consecutive_failures=core.consecutive_failures,
            window_calls=calls,
            window_failures=failures,
            failure_rate=failures / calls if calls else 0.0,
            slow_call_rate=slow / calls if calls else 0.0,
            open_level=core.level,
            time_until_half_open=None if remaining == INF else remaining,
        )

    def get_health_status(self) -> ReadyDict:
        """Return state, counts, rates, time until half-open and the last transitions.

        The dict may also be awaited (``await cb.get_health_status()``).
        """
        status = ReadyDict(self.stats().as_dict())
        state = status["state"]
        status["healthy"] = state in ("CLOSED", "DISABLED", "METRICS_ONLY")
        status["last_failure_time"] = self._core.last_failure_time()
        status["config"] = self.config.as_dict()
        with self._core.lock:
            status["transitions_history"] = list(self._core.history)
        return status

    def __repr__(self) -> str:
        return f"CircuitBreaker(name={self.name!r}, state={self.state.value})"


def get_circuit_breaker(name: str, **settings: Any) -> CircuitBreaker:
    """Return the breaker registered as ``name``, creating it with ``settings`` first.

    >>> from rebellion import registry
    >>> a = get_circuit_breaker(name="metrics_websocket", max_failures=3, reset_timeout=30)
    >>> get_circuit_breaker("metrics_websocket") is a
    True
    >>> get_circuit_breaker("metrics_websocket", max_failures=5)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    rebellion.errors.ConfigError: failure_threshold must be 3 as registered for ..., got 5
    >>> registry.unregister("circuit_breaker", "metrics_websocket")

    Raises:
        ConfigError: ``name`` is registered with different settings.
    """
    if "max_failures" in settings:
        settings["failure_threshold"] = settings.pop("max_failures")
    comparable = {k: v for k, v in settings.items() if k not in ("clock", "listeners")}
    return registry.get_or_create(
        CircuitBreaker.kind, name, lambda: CircuitBreaker(name, **settings), comparable
    )
