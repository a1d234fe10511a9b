"""A circuit breaker whose state every process shares through Redis.

Failures in one process open the breaker for all of them; after ``reset_timeout``
exactly ``half_open_max_calls`` probes run *across all processes* (each holds a lease
in Redis that expires after ``probe_lease`` seconds if its process dies); a process
that joins later reads the state and never resets the counters. Every transition is
one Lua script, so two processes can never both trip, both close, or over-admit
probes. Trip rule: ``failure_threshold`` consecutive failures (shared count; a success in
any process resets it, so a fleet where only one process fails keeps the breaker closed).

**Staleness bound.** A process trusts its cached CLOSED state for
``refresh_interval`` seconds (default 0.1), so it sees a breaker opened elsewhere at
most ``refresh_interval`` + one Redis round trip later. OPEN is always enforced
locally until ``open_until``; the open-to-half-open move is decided in Redis.

**Redis down.** A failed round trip never raises from the breaker: the process emits
:class:`SharedStateUnavailable` and decides with a local :class:`CircuitBreaker` of
the same settings (an OPEN state it had seen is honoured until it expires). Every
``resync_interval`` it tries Redis again; when Redis answers it pushes a trip made
during the outage, adopts the shared state, and emits :class:`SharedStateRestored`.
The outcome of the one call whose report failed is not counted.

Async callers: round trips run in a worker thread (``asyncio.to_thread``), so an
unresponsive Redis never blocks the event loop; a fresh CLOSED state costs none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from inspect import isawaitable
from typing import Any, ClassVar, TypeVar, final

from ..._clock import Clock
from ..._events import EventStream, Listener
from ..._policy import Policy
from ..._registry import registry
from ..._validate import check_clock, check_exception_types, check_name, check_number
from ...errors import CircuitOpenError, ConfigError
from ._config import BreakerConfig, CircuitState
from ._events import CallRejected
from ._shared_core import Permit, SharedCore
from ._shared_events import SharedStateRestored, SharedStateUnavailable
from .breaker import CircuitBreaker

__all__ = ["SharedCircuitBreaker", "SharedStateRestored", "SharedStateUnavailable"]

T = TypeVar("T")


@final
class SharedCircuitBreaker(Policy):
    """Stop calling a failing dependency, agreed across processes through Redis.

    Args:
        name: the breaker's name; processes using the same name (and prefix) share it.
        redis_url: ``redis://`` URL of the shared state.
        failure_threshold: consecutive failures (across processes) that open it.
        reset_timeout: seconds open before probes are allowed.
        exponential_backoff_factor: multiplies the open wait after each failed probe.
        max_reset_timeout: cap of the open wait.
        half_open_max_calls: probes allowed at once, across all processes.
        success_threshold: successful probes needed to close.
        probe_lease: seconds after which a probe whose process died frees its slot.
        refresh_interval: seconds a process trusts its cached CLOSED state.
        resync_interval: seconds between reconnection attempts while degraded.
        redis_timeout: socket timeout of each Redis round trip.
        key_prefix: prefix of the Redis keys (namespaces several deployments).
        failure_on: exception types that count as failures (default: ``Exception``).
        ignore_on: exception types that count as neither success nor failure.
        clock: time source (tests pass a ``ManualClock``; Redis gets its wall time).
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
        reset_timeout: float | None = None,
        exponential_backoff_factor: float | None = None,
        max_reset_timeout: float | None = None,
        half_open_max_calls: int | None = None,
        success_threshold: int | None = None,
        probe_lease: float = 30.0,
        refresh_interval: float = 0.1,
        resync_interval: float = 1.0,
        redis_timeout: float = 0.25,
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
            failure_on=failure_on,
            ignore_on=ignore_on,
            clock=self._clock,
        )
        cfg: BreakerConfig = self._local.config
        self.config = cfg
        positive = {"minimum": 0.0, "exclusive_minimum": True}
        lease = check_number("probe_lease", probe_lease, **positive)  # type: ignore[arg-type]
        refresh = check_number("refresh_interval", refresh_interval, minimum=0.0)
        resync = check_number("resync_interval", resync_interval, **positive)  # type: ignore[arg-type]
        timeout = check_number("redis_timeout", redis_timeout, **positive)  # type: ignore[arg-type]
        prefix = check_name("key_prefix", key_prefix)
        self._failure_on = check_exception_types(
            "failure_on", Exception if failure_on is None else failure_on
        )
        self._ignore_on = check_exception_types("ignore_on", () if ignore_on is None else ignore_on)

        from ...backends.redis import connection_errors, sync_client

        client = sync_client(redis_url, timeout=timeout)
        self._core = SharedCore(
            self.name,
            client=client,
            key=f"{prefix}:{self.name}",
            settings={
                "failure_threshold": cfg.failure_threshold,
                "reset_timeout": cfg.reset_timeout,
                "exponential_backoff_factor": cfg.exponential_backoff_factor,
                "max_reset_timeout": cfg.max_reset_timeout,
                "half_open_max_calls": cfg.half_open_max_calls,
                "success_threshold": cfg.success_threshold,
            },
            refresh_interval=refresh,
            resync_interval=resync,
            probe_lease=lease,
            clock=self._clock,
            events=self.events,
            errors=connection_errors(),
        )
        self.n_success = self.n_failure = self.n_rejected = self.n_local = 0
        registry.track(self)

    # -- state ---------------------------------------------------------------------

    @property
    def state(self) -> CircuitState:
        """The shared state (re-read when older than ``refresh_interval``), or the local one."""
        core = self._core
        core.refresh()
        if core.degraded:
            return self._local.state
        return core.state

    @property
    def degraded(self) -> bool:
        """Whether Redis is unreachable and the local breaker decides."""
        return self._core.degraded

    @property
    def failure_count(self) -> int:
        """The shared consecutive-failure count as last seen by this process."""
        return self._local.failure_count if self._core.degraded else self._core.failures

    # -- decisions shared by both drivers ---------------------------------------------

    def _admit(self) -> Permit | None:
        """Return a shared permit, ``None`` to run on the local breaker, or raise."""
        core = self._core
        if core.degraded and not core.try_resync(self._local.state is not CircuitState.CLOSED):
            return None
        if core.degraded:
            return None
        try:
            permit = core.acquire()
        except CircuitOpenError as error:
            self._rejected(error)
            raise
        if permit is None:  # Redis failed just now
            self._local.reset()
        return permit

    def _rejected(self, error: CircuitOpenError) -> None:
        self.n_rejected += 1
        if self.events.active:
            self.events.emit(
                CallRejected(self.name, self._clock.wall(), error.state, error.retry_after)
            )

    def _outcome(self, error: BaseException | None) -> str:
        if error is None:
            self.n_success += 1
            return "success"
        if not isinstance(error, Exception) or isinstance(error, self._ignore_on):
            return "release"
        if isinstance(error, self._failure_on):
            self.n_failure += 1
            return "failure"
        self.n_success += 1
        return "success"

    def _locally_open(self) -> None:
        """While degraded, honour an OPEN state seen in Redis until it expires."""
        core = self._core
        if core.state is CircuitState.OPEN:
            remaining = core.open_until - self._clock.wall()
            if remaining > 0:
                error = CircuitOpenError(self.name, remaining, "OPEN")
                self._rejected(error)
                raise error

    # -- drivers -------------------------------------------------------------------------

    def _sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        permit = self._admit()
        if permit is None:
            self._locally_open()
            self.n_local += 1
            return self._local.run_sync(fn, args, kwargs)
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:
            self._core.record(permit, self._outcome(error))
            raise
        self._core.record(permit, self._outcome(None))
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
        if permit is None:
            self._locally_open()
            self.n_local += 1
            return await self._local.run_async(fn, args, kwargs)
        try:
            result = fn(*args, **kwargs)
            if isawaitable(result):
                result = await result
        except BaseException as error:
            await self._report(permit, self._outcome(error))
            raise
        await self._report(permit, self._outcome(None))
        return result

    async def _report(self, permit: Permit, outcome: str) -> None:
        epoch, lease = permit
        core = self._core
        if not lease and outcome == "success" and (core.failures == 0 or epoch != core.epoch):
            return
        await asyncio.to_thread(core.record, permit, outcome)

    # -- operator controls and observation ------------------------------------------------

    def reset(self) -> None:
        """Close the breaker for every process (and the local fallback)."""
        self._core.reset()
        self._local.reset()

    def stats(self) -> dict[str, Any]:
        """Return the shared state as seen here, local counters and Redis health."""
        core = self._core
        state = self.state
        return {
            "kind": self.kind,
            "name": self.name,
            "state": state.value,
            "shared": not core.degraded,
            "degraded": core.degraded,
            "epoch": core.epoch,
            "failure_count": self.failure_count,
            "open_until": core.open_until or None,
            "successful_calls": self.n_success,
            "failed_calls": self.n_failure,
            "rejected_calls": self.n_rejected + self._local.stats()["rejected_calls"],
            "local_calls": self.n_local,
            "redis_errors": core.redis_errors,
            "last_redis_error": core.last_error,
            "refresh_interval": core.refresh_interval,
        }

    def close(self) -> None:
        """Close the Redis connection pool."""
        self._core.client.close()
        registry.retire(self)  # closed: off the dashboard's resilience view

    def __repr__(self) -> str:
        return f"SharedCircuitBreaker(name={self.name!r}, state={self._core.state.value})"
