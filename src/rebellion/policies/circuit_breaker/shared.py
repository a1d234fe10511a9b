"""A circuit breaker whose state every process shares through Redis.

Trip rule, as in the in-process :class:`CircuitBreaker` and Resilience4j: a sliding
window of the fleet's calls (``window_type="count"``: the last ``window_size`` calls;
``"time"``: the last ``window_size`` seconds in ``window_buckets`` buckets) opens the
breaker once it holds ``minimum_calls`` calls and the failure rate reaches
``failure_rate_threshold`` or the slow-call rate (calls lasting ``slow_call_duration``
or more) reaches ``slow_call_rate_threshold``. Every process's outcomes land in the
same window, so one process failing a quarter of the fleet's traffic is a 25% failure
rate for all, and a success elsewhere resets nothing. ``window_type="consecutive"``
(chosen by default when only ``failure_threshold`` is given, as in earlier releases)
counts consecutive failures across processes instead.

After the open wait (``reset_timeout``, times ``exponential_backoff_factor`` per failed
probe, capped at ``max_reset_timeout``) exactly ``half_open_max_calls`` probes run
*across all processes*: each holds a lease in Redis that expires after ``probe_lease``
seconds if its process dies; ``success_threshold`` successful probes close it, a failed
or slow one re-opens it. Every decision is one atomic Lua script, so two processes can
never both trip, both close, or over-admit probes.

**Clock.** By default the script reads Redis ``TIME``: every host uses one clock, so
skew between hosts cannot shorten or stretch an open wait. Passing ``clock`` (tests pass
a :class:`~rebellion.testing.ManualClock`) sends that clock's wall time instead
(``server_time`` chooses explicitly). Call durations are always measured locally.

**Staleness bound.** A process trusts its cached CLOSED state for ``refresh_interval``
seconds (default 0.1), so it sees a breaker opened elsewhere at most
``refresh_interval`` + one round trip later; its own outcomes refresh the cache.

**Redis down.** The breaker never raises a Redis error. The process emits
:class:`SharedStateUnavailable`, counts ``redis_errors`` and ``degraded_calls``, honours
an OPEN state it had seen until it expires, and otherwise decides per
``on_redis_down``: ``"local"`` (default) with a local :class:`CircuitBreaker` of the
same settings; ``"fail_open"`` lets calls run unjudged; ``"fail_closed"`` rejects them
with :class:`~rebellion.errors.CircuitOpenError` (state ``"UNAVAILABLE"``). Every
``resync_interval`` it tries Redis again; when Redis answers it pushes a trip the local
breaker made meanwhile, adopts the shared state and emits :class:`SharedStateRestored`.

Async callers: round trips run in a worker thread (``asyncio.to_thread``), so an
unresponsive Redis never blocks the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import timedelta
from inspect import isawaitable
from typing import Any, ClassVar, TypeVar, final

from ..._clock import Clock
from ..._events import EventStream, Listener
from ..._policy import Policy
from ..._registry import registry
from ..._validate import check_clock, check_name
from ...errors import CircuitOpenError, ConfigError
from ._config import BreakerConfig, CircuitState
from ._events import CallRejected, CircuitFailureRecorded
from ._shared_config import SharedSettings, script_settings, window_type_for
from ._shared_core import Permit, SharedCore
from ._shared_events import SharedStateRestored, SharedStateUnavailable
from ._shared_snapshot import SharedBreakerSnapshot, SharedCounts
from .breaker import CircuitBreaker

__all__ = [
    "SharedBreakerSnapshot",
    "SharedCircuitBreaker",
    "SharedStateRestored",
    "SharedStateUnavailable",
]

T = TypeVar("T")
Duration = float | timedelta


@final
class SharedCircuitBreaker(Policy):
    """Stop calling a failing dependency, agreed across processes through Redis.

    >>> from rebellion.testing import ManualClock
    >>> breaker = SharedCircuitBreaker(
    ...     "doc-payments", "redis://127.0.0.1:1/0", window_type="count", window_size=20,
    ...     minimum_calls=5, failure_rate_threshold=0.2, redis_timeout=0.05,
    ...     clock=ManualClock(),
    ... )
    >>> breaker.call(lambda: "paid"), breaker.stats().degraded  # nothing on port 1
    ('paid', True)
    >>> breaker.close()

    Args:
        name: the breaker's name; processes using the same name (and prefix) share it.
        redis_url: ``redis://`` URL of the shared state.
        failure_threshold: consecutive failures that open it (consecutive window only).
        reset_timeout: seconds (or a ``timedelta``) open before probes are allowed.
        exponential_backoff_factor: multiplies the open wait after each failed probe.
        max_reset_timeout: cap of the open wait (seconds or ``timedelta``).
        half_open_max_calls: probes allowed at once, across all processes.
        success_threshold: successful probes needed to close.
        window_type: ``"count"``, ``"time"`` or ``"consecutive"`` (default: ``"count"``,
            or ``"consecutive"`` when only ``failure_threshold`` is given).
        window_size: calls (count window, default 100) or seconds (time window).
        window_buckets: buckets of a time window (1 to 3600).
        minimum_calls: calls the window needs before rates are judged (default 10; at
            most ``window_size`` for a count window).
        failure_rate_threshold: fraction of failed calls (0 to 1, default 0.5) that opens it.
        slow_call_duration: seconds (or ``timedelta``) after which a call is slow
            (default: never).
        slow_call_rate_threshold: fraction of slow calls (0 to 1, default 1.0) that opens it.
        on_redis_down: ``"local"``, ``"fail_open"`` or ``"fail_closed"`` (see above).
        server_time: read Redis ``TIME`` in the script (default: unless ``clock`` is given).
        key_ttl: seconds the Redis keys outlive the last decision (default: an hour, or
            twice the longest open wait or time window if longer).
        probe_lease: seconds after which a probe whose process died frees its slot.
        refresh_interval: seconds a process trusts its cached CLOSED state.
        resync_interval: seconds between reconnection attempts while degraded.
        redis_timeout: socket timeout of each Redis round trip.
        key_prefix: prefix of the Redis keys (namespaces several deployments).
        failure_on: exception types that count as failures (default: ``Exception``).
        ignore_on: exception types that count as neither success nor failure.
        clock: time source (tests pass a ``ManualClock``).
        listeners: callables receiving this breaker's events.

    Raises:
        ConfigError: a parameter is out of range (the message names it).
    """

    kind: ClassVar[str] = "shared_circuit_breaker"

    def __init__(
        self,
        name: str,
        redis_url: str,
        *,
        failure_threshold: int | None = None,
        reset_timeout: Duration | None = None,
        exponential_backoff_factor: float | None = None,
        max_reset_timeout: Duration | None = None,
        half_open_max_calls: int | None = None,
        success_threshold: int | None = None,
        window_type: str | None = None,
        window_size: Duration | None = None,
        window_buckets: int = 10,
        minimum_calls: int | None = None,
        failure_rate_threshold: float | None = None,
        slow_call_duration: Duration | None = None,
        slow_call_rate_threshold: float | None = None,
        on_redis_down: str = "local",
        server_time: bool | None = None,
        key_ttl: Duration | None = None,
        probe_lease: Duration = 30.0,
        refresh_interval: Duration = 0.1,
        resync_interval: Duration = 1.0,
        redis_timeout: Duration = 0.25,
        key_prefix: str = "rebellion:breaker",
        failure_on: type[BaseException] | Iterable[type[BaseException]] | None = None,
        ignore_on: type[BaseException] | Iterable[type[BaseException]] | None = None,
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.name = check_name("name", name)
        if not isinstance(redis_url, str) or not redis_url.startswith(
            ("redis://", "rediss://", "unix://")
        ):
            raise ConfigError("redis_url", "a redis://, rediss:// or unix:// URL", redis_url)
        window_type = window_type_for(
            window_type,
            failure_threshold=failure_threshold,
            window_settings=(
                window_size,
                minimum_calls,
                failure_rate_threshold,
                slow_call_rate_threshold,
            ),
        )
        self._clock = check_clock(clock)
        self.events = EventStream(self.name, listeners)
        # The local fallback validates the shared settings too (same names, same rules).
        self._local = CircuitBreaker(
            f"{self.name}.local",
            failure_threshold=failure_threshold,
            reset_timeout=reset_timeout,
            exponential_backoff_factor=exponential_backoff_factor,
            max_reset_timeout=max_reset_timeout,
            half_open_max_calls=half_open_max_calls,
            success_threshold=success_threshold,
            window_type=window_type,
            window_size=100 if window_size is None else window_size,
            window_buckets=window_buckets,
            minimum_calls=10 if minimum_calls is None else minimum_calls,
            failure_rate_threshold=0.5
            if failure_rate_threshold is None
            else failure_rate_threshold,
            slow_call_duration=slow_call_duration,
            slow_call_rate_threshold=(
                1.0 if slow_call_rate_threshold is None else slow_call_rate_threshold
            ),
            failure_on=failure_on,
            ignore_on=ignore_on,
            clock=self._clock,
        )
        # Its counts are part of this breaker's snapshot: not listed on its own.
        registry.retire(self._local)
        cfg: BreakerConfig = self._local.config
        self.config = cfg
        self.settings = shared = SharedSettings.create(
            cfg,
            on_redis_down=on_redis_down,
            server_time=server_time,
            clock_given=clock is not None,
            key_ttl=key_ttl,
            probe_lease=probe_lease,
            refresh_interval=refresh_interval,
            resync_interval=resync_interval,
            redis_timeout=redis_timeout,
            key_prefix=key_prefix,
        )
        self.on_redis_down = shared.on_redis_down

        from ...backends.redis import connection_errors, sync_client

        self._core = SharedCore(
            self.name,
            client=sync_client(redis_url, timeout=shared.redis_timeout),
            key=f"{shared.key_prefix}:{self.name}",
            settings=script_settings(cfg),
            refresh_interval=shared.refresh_interval,
            resync_interval=shared.resync_interval,
            probe_lease=shared.probe_lease,
            key_ttl=shared.key_ttl,
            server_time=shared.server_time,
            clock=self._clock,
            events=self.events,
            errors=connection_errors(),
        )
        self._timed = cfg.slow_call_duration is not None
        self._counts = SharedCounts()
        registry.track(self)

    # -- state ---------------------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        """The shared state (re-read when older than ``refresh_interval``).

        OPEN turns HALF_OPEN here once its wait is over, as on :class:`CircuitBreaker`.
        While Redis is unreachable: the local breaker's state (``"local"``),
        ``DISABLED`` (``"fail_open"``) or ``FORCED_OPEN`` (``"fail_closed"``).
        """
        core = self._core
        core.refresh()
        if not core.degraded:
            if core.state is CircuitState.OPEN and core.remaining_open() <= 0:
                return CircuitState.HALF_OPEN
            return core.state
        if core.remaining_open() > 0:
            return CircuitState.OPEN
        if self.on_redis_down == "local":
            return self._local.state
        if self.on_redis_down == "fail_open":
            return CircuitState.DISABLED
        return CircuitState.FORCED_OPEN

    @property
    def degraded(self) -> bool:
        """Whether Redis is unreachable and this process decides alone."""
        return self._core.degraded

    @property
    def failure_count(self) -> int:
        """Failures in the shared window (or consecutive ones) as last seen here."""
        if self._core.degraded and self.on_redis_down == "local":
            return self._local.failure_count
        core = self._core
        return core.failures if core.consecutive else core.window[1]

    # -- decisions shared by both drivers ---------------------------------------------

    def _admit(self) -> Permit | None:
        """Return a shared permit, ``None`` to decide locally, or raise."""
        core = self._core
        if core.degraded:
            tripped = self.on_redis_down == "local" and self._local.state is not CircuitState.CLOSED
            if not core.try_resync(tripped):
                self._degraded_gate()
                return None
        try:
            permit = core.acquire()
        except CircuitOpenError as error:
            self._rejected(error)
            raise
        if permit is None:  # Redis failed just now
            self._local.reset()
            self._degraded_gate()
            return None
        return permit

    def _degraded_gate(self) -> None:
        """While degraded: honour a known OPEN state, then apply ``on_redis_down``."""
        core = self._core
        remaining = core.remaining_open()
        if remaining > 0:
            self._reject(CircuitOpenError(self.name, remaining, "OPEN"))
        if self.on_redis_down == "fail_closed":
            wait = max(0.0, core.next_resync - self._clock.monotonic())
            self._reject(CircuitOpenError(self.name, wait, "UNAVAILABLE"))
        self._counts.degraded.increment()

    def _reject(self, error: CircuitOpenError) -> None:
        self._rejected(error)
        raise error

    def _rejected(self, error: CircuitOpenError) -> None:
        self._counts.rejected.increment()
        if self.events.active:
            self.events.emit(
                CallRejected(self.name, self._clock.wall(), error.state, error.retry_after)
            )

    def _judge(self, error: BaseException | None, duration: float | None) -> str:
        """Count one outcome here and return what Redis should record."""
        slow = self._timed and duration is not None and duration >= self.config.slow_call_duration  # type: ignore[operator]
        if error is None:
            verdict: bool | None = False
        else:
            verdict = self.config.counts_as_failure(error)
        if verdict is None:
            self._counts.ignored.increment()
            return "release"
        if slow:
            self._counts.slow.increment()
        if not verdict:
            self._counts.success.increment()
            return "success"
        self._counts.failure.increment()
        if self.events.active:
            state = self._core.state.value
            self.events.emit(
                CircuitFailureRecorded(
                    self.name, self._clock.wall(), state, type(error).__name__, duration, slow
                )
            )
        return "failure"

    def _elapsed(self, started: float | None) -> float | None:
        return None if started is None else self._clock.monotonic() - started

    # -- drivers -------------------------------------------------------------------------

    def _sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        permit = self._admit()
        if permit is None and self.on_redis_down == "local":
            return self._local.run_sync(fn, args, kwargs)
        # Without a permit (fail open) the call is counted here and shared with no one.
        started = self._clock.monotonic() if self._timed else None
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:
            duration = self._elapsed(started)
            outcome = self._judge(error, duration)
            if permit is not None:
                self._core.record(permit, outcome, duration)
            raise
        duration = self._elapsed(started)
        outcome = self._judge(None, duration)
        if permit is not None:
            self._core.record(permit, outcome, duration)
        return result

    async def _async(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        core = self._core
        fast = (
            not core.degraded
            and core.state is CircuitState.CLOSED
            and self._clock.monotonic() - core.synced_at < core.refresh_interval
        )
        permit = (core.epoch, "") if fast else await asyncio.to_thread(self._admit)
        if permit is None and self.on_redis_down == "local":
            return await self._local.run_async(fn, args, kwargs)
        started = self._clock.monotonic() if self._timed else None
        try:
            result = fn(*args, **kwargs)
            if isawaitable(result):
                result = await result
        except BaseException as error:
            duration = self._elapsed(started)
            outcome = self._judge(error, duration)
            if permit is not None:
                await asyncio.to_thread(core.record, permit, outcome, duration)
            raise
        duration = self._elapsed(started)
        outcome = self._judge(None, duration)
        if permit is not None:
            await asyncio.to_thread(core.record, permit, outcome, duration)
        return result

    # -- operator controls and observation ------------------------------------------------

    def reset(self) -> None:
        """Close the breaker for every process (and the local fallback)."""
        self._core.reset()
        self._local.reset()

    def stats(self) -> SharedBreakerSnapshot:
        """Return a typed snapshot: the fleet's state and window, this process's counts."""
        return self._counts.snapshot(
            kind=self.kind,
            name=self.name,
            state=self.state,
            window_type=self.config.window_type,
            on_redis_down=self.on_redis_down,
            core=self._core,
            local=self._local.stats() if self.on_redis_down == "local" else None,
        )

    def close(self) -> None:
        """Close the Redis connection pool."""
        self._core.client.close()
        registry.retire(self)  # closed: off the dashboard's resilience view

    def __repr__(self) -> str:
        return f"SharedCircuitBreaker(name={self.name!r}, state={self._core.state.value})"
