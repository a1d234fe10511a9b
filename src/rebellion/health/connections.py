"""Self-healing connections: ping, detect failure, really reconnect with backoff.

Register a connection with your own ``connect()`` coroutine (it returns the live
connection object), an optional ``ping(conn)`` and ``close(conn)``. One supervisor task
per connection connects, pings every ``ping_interval`` (latency and loss statistics;
successful pings are heartbeats for a :class:`PhiAccrualFailureDetector`), and on
failure closes the old object and reconnects: the first attempt at once, then after
``base_delay * 2 ** min(n, 10)`` (capped at ``max_delay``, jittered) for the n-th
consecutive failure, until ``max_attempts`` failed attempts make it FAILED. Callers
always take the live object from :meth:`ConnectionManager.get`, so traffic resumes
after a reconnect with no action on their part.

>>> import asyncio
>>> from rebellion.testing import ManualClock
>>> async def demo():
...     manager = ConnectionManager(clock=ManualClock())
...     async def connect():
...         return "conn-1"
...     manager.register("db", connect)
...     await manager.start()
...     await manager.wait_connected("db")
...     live = manager.get("db")
...     await manager.stop()
...     return live, manager.state("db")
>>> asyncio.run(demo())
('conn-1', <ConnectionState.DISCONNECTED: 'DISCONNECTED'>)
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from inspect import isawaitable
from typing import Any, ClassVar, final

from .._clock import Clock
from .._events import EventStream, Listener
from .._registry import registry
from .._validate import check_callable, check_clock, check_int, check_name, check_number
from ..errors import ConfigError, ConnectionUnavailableError
from ..policies._backoff import JITTER_KINDS, Backoff
from ._events import ConnectionStateChanged, ReconnectScheduled
from ._waits import Wakeup, within
from .phi import PhiAccrualFailureDetector

__all__ = ["ConnectionManager", "ConnectionState", "ConnectionUnavailableError"]

logger = logging.getLogger("rebellion.health")


class ConnectionState(enum.StrEnum):
    """Where a managed connection is in its life."""

    CONNECTED = "CONNECTED"
    DISCONNECTED = "DISCONNECTED"
    RECONNECTING = "RECONNECTING"
    FAILED = "FAILED"


@final
class _Managed:
    """One registered connection and its statistics (owned by its supervisor)."""

    def __init__(self, name: str, connect: Callable[[], Awaitable[Any]], ping: Any, close: Any):
        self.name = name
        self.connect = connect
        self.ping = ping
        self.close = close
        self.state = ConnectionState.DISCONNECTED
        self.connection: Any = None
        self.task: asyncio.Task[None] | None = None
        self.wakeup = Wakeup()
        self.failed_attempts = 0
        self.next_attempt_at: float | None = None
        self.connects = self.reconnects = self.pings = self.ping_failures = 0
        self.outcomes: deque[bool] = deque(maxlen=100)
        self.latency_ewma: float | None = None
        self.latency_last: float | None = None
        self.latency_max = 0.0
        self.last_error: str | None = None
        self.connected_at: float | None = None
        self.waiters: list[asyncio.Future[None]] = []


@final
class ConnectionManager:
    """Keep named connections alive: ping them, and reconnect them when they fail.

    Args:
        name: name for events, statistics and the registry.
        ping_interval: seconds between pings of a connected connection (> 0).
        ping_timeout: seconds a ping may take before it counts as lost (> 0).
        connect_timeout: seconds a connect attempt may take (> 0).
        failure_threshold: consecutive lost pings that trigger a reconnect (>= 1); a
            phi above ``phi_threshold`` at a lost ping triggers it sooner.
        base_delay: backoff base in seconds (>= 0).
        max_delay: backoff cap in seconds (>= ``base_delay``).
        jitter: ``"none" | "full" | "equal" | "decorrelated"`` (see ``Backoff``).
        max_attempts: consecutive failed connect attempts before FAILED (>= 1).
        phi_threshold: suspicion level that declares a connection dead (> 0).
        clock: time source (pings, timeouts, backoff sleeps).
        seed: seed of the jitter's random generator.
        listeners: event listeners (:class:`ConnectionStateChanged`,
            :class:`ReconnectScheduled`).

    Raises:
        ConfigError: a parameter is out of range; the message names it.

    Use one manager from one event loop.
    """

    kind: ClassVar[str] = "connection_manager"

    def __init__(
        self,
        name: str = "connections",
        *,
        ping_interval: float = 5.0,
        ping_timeout: float = 2.0,
        connect_timeout: float = 10.0,
        failure_threshold: int = 2,
        base_delay: float = 0.5,
        max_delay: float = 30.0,
        jitter: str = "full",
        max_attempts: int = 10,
        phi_threshold: float = 8.0,
        clock: Clock | None = None,
        seed: int | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.name = check_name("name", name)
        self.ping_interval = _positive("ping_interval", ping_interval)
        self.ping_timeout = _positive("ping_timeout", ping_timeout)
        self.connect_timeout = _positive("connect_timeout", connect_timeout)
        self.failure_threshold = check_int("failure_threshold", failure_threshold, minimum=1)
        if jitter not in JITTER_KINDS:
            raise ConfigError("jitter", "one of " + " | ".join(map(repr, JITTER_KINDS)), jitter)
        self.backoff = Backoff(base_delay, max_delay, 2.0, jitter)
        self.max_attempts = check_int("max_attempts", max_attempts, minimum=1)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ConfigError("seed", "an integer or None", seed)
        self._rng = random.Random(seed)
        self._clock = check_clock(clock)
        self.detector = PhiAccrualFailureDetector(
            f"{self.name}.phi",
            threshold=_positive("phi_threshold", phi_threshold),
            min_std_deviation=self.ping_interval / 10.0,
            acceptable_heartbeat_pause=self.ping_timeout,
            first_heartbeat_estimate=self.ping_interval,
            clock=self._clock,
        )
        self.events = EventStream(self.name, listeners)
        self._connections: dict[str, _Managed] = {}
        self._running = False
        registry.track(self)

    # -- registration ---------------------------------------------------------------------

    def register(
        self,
        name: str,
        connect: Callable[[], Awaitable[Any]],
        *,
        ping: Callable[[Any], Awaitable[object]] | None = None,
        close: Callable[[Any], object] | None = None,
    ) -> None:
        """Register connection ``name``; it connects now if the manager is running.

        Args:
            name: unique name of the connection.
            connect: coroutine function returning the live connection object.
            ping: coroutine function probing a connection (raise or time out = lost).
            close: function (sync or async) closing a connection object.

        Raises:
            ConfigError: ``name`` is taken or invalid, or a function is not callable.
        """
        check_name("name", name)
        if name in self._connections:
            raise ConfigError("name", "a connection name not registered yet", name)
        check_callable("connect", connect)
        if ping is not None:
            check_callable("ping", ping)
        if close is not None:
            check_callable("close", close)
        managed = _Managed(name, connect, ping, close)
        self._connections[name] = managed
        if self._running:
            self._spawn(managed)

    async def unregister(self, name: str) -> None:
        """Stop supervising ``name`` and close its connection (no error if unknown)."""
        managed = self._connections.pop(name, None)
        if managed is not None:
            await self._halt(managed)
        self.detector.remove(name)

    async def start(self) -> None:
        """Start supervising every registered connection (connects in the background)."""
        self._running = True
        for managed in self._connections.values():
            if managed.task is None or managed.task.done():
                self._spawn(managed)

    async def stop(self) -> None:
        """Stop every supervisor and close every connection."""
        self._running = False
        for managed in list(self._connections.values()):
            await self._halt(managed)

    async def __aenter__(self) -> ConnectionManager:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    def _spawn(self, managed: _Managed) -> None:
        managed.failed_attempts = 0
        managed.task = asyncio.get_running_loop().create_task(self._supervise(managed))

    async def _halt(self, managed: _Managed) -> None:
        task, managed.task = managed.task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        await self._close(managed)
        self._set(managed, ConnectionState.DISCONNECTED, "stopped")

    # -- use ----------------------------------------------------------------------------

    def _get(self, name: str) -> _Managed:
        try:
            return self._connections[name]
        except KeyError:
            raise KeyError(f"no connection {name!r} is registered with {self.name!r}") from None

    def get(self, name: str) -> Any:
        """Return the live connection object of ``name``.

        Raises:
            ConnectionUnavailableError: it is not CONNECTED now (``retry_after`` says
                when the next connect attempt starts, if known).
            KeyError: no connection is registered as ``name``.
        """
        managed = self._get(name)
        if managed.state is ConnectionState.CONNECTED:
            return managed.connection
        retry_after = None
        if managed.next_attempt_at is not None:
            retry_after = max(0.0, managed.next_attempt_at - self._clock.monotonic())
        message = f"connection {name!r} is {managed.state.value}"
        raise ConnectionUnavailableError(f"{self.name}.{name}", message, retry_after)

    def state(self, name: str) -> ConnectionState:
        """Return the state of connection ``name``."""
        return self._get(name).state

    def report_failure(self, name: str, error: BaseException | None = None) -> None:
        """Tell the manager a caller saw ``name`` fail: it reconnects without waiting."""
        managed = self._get(name)
        if error is not None:
            managed.last_error = f"{type(error).__name__}: {error}"
        if managed.state is ConnectionState.CONNECTED:
            managed.wakeup.kick()

    async def reconnect(self, name: str) -> None:
        """Reconnect ``name`` now (also revives a FAILED connection)."""
        managed = self._get(name)
        if managed.task is None or managed.task.done():
            self._spawn(managed)
        else:
            managed.wakeup.kick()

    async def wait_connected(
        self,
        name: str,
        timeout: float | None = None,  # noqa: ASYNC109 - on the injectable clock
    ) -> Any:
        """Wait until ``name`` is CONNECTED and return its live object.

        Raises:
            TimeoutExceededError: ``timeout`` clock seconds passed first.
            ConnectionUnavailableError: it went FAILED meanwhile.
        """
        managed = self._get(name)

        async def connected() -> Any:
            while managed.state is not ConnectionState.CONNECTED:
                if managed.state is ConnectionState.FAILED:
                    self.get(name)  # raises, naming the state
                changed = asyncio.get_running_loop().create_future()
                managed.waiters.append(changed)
                await changed
            return managed.connection

        if timeout is None:
            return await connected()
        return await within(self._clock, connected(), timeout, f"{self.name}.{name}")

    # -- the supervisor ---------------------------------------------------------------------

    async def _supervise(self, managed: _Managed) -> None:
        clock = self._clock
        while True:
            try:
                connection = await within(
                    clock, _call(managed.connect), self.connect_timeout, managed.name
                )
            except Exception as error:
                managed.failed_attempts += 1
                managed.last_error = f"{type(error).__name__}: {error}"
                if managed.failed_attempts >= self.max_attempts:
                    managed.next_attempt_at = None
                    reason = f"gave up after {managed.failed_attempts} attempts"
                    self._set(managed, ConnectionState.FAILED, reason)
                    return
                retry = min(managed.failed_attempts - 1, 10) + 1
                delay = self.backoff.delay(retry, None, self._rng)
                managed.next_attempt_at = clock.monotonic() + delay
                self._set(managed, ConnectionState.RECONNECTING, managed.last_error)
                if self.events:
                    self.events.emit(
                        ReconnectScheduled(
                            self.name,
                            clock.wall(),
                            managed.name,
                            managed.failed_attempts,
                            delay,
                            type(error).__name__,
                        )
                    )
                await managed.wakeup.sleep(clock, delay)
                continue
            managed.connection = connection
            managed.connects += 1
            if managed.connected_at is not None:
                managed.reconnects += 1
            managed.connected_at = clock.monotonic()
            managed.failed_attempts = 0
            managed.next_attempt_at = None
            self.detector.remove(managed.name)
            self.detector.heartbeat(managed.name)
            self._set(managed, ConnectionState.CONNECTED, "connected")
            reason = await self._monitor(managed)
            managed.next_attempt_at = clock.monotonic()
            self._set(managed, ConnectionState.RECONNECTING, reason)
            await self._close(managed)

    async def _monitor(self, managed: _Managed) -> str:
        clock = self._clock
        lost = 0
        while True:
            if await managed.wakeup.sleep(clock, self.ping_interval):
                return "failure reported: " + (managed.last_error or "by a caller")
            if managed.ping is None:
                continue
            started = clock.monotonic()
            managed.pings += 1
            try:
                await within(
                    clock, _call(managed.ping, managed.connection), self.ping_timeout, managed.name
                )
            except Exception as error:
                managed.ping_failures += 1
                managed.outcomes.append(False)
                managed.last_error = f"{type(error).__name__}: {error}"
                lost += 1
                if lost >= self.failure_threshold or not self.detector.is_available(managed.name):
                    return f"ping lost {lost}x: {managed.last_error}"
                continue
            latency = clock.monotonic() - started
            managed.outcomes.append(True)
            managed.latency_last = latency
            previous = managed.latency_ewma
            managed.latency_ewma = (
                latency if previous is None else previous + 0.2 * (latency - previous)
            )
            managed.latency_max = max(managed.latency_max, latency)
            self.detector.heartbeat(managed.name)
            lost = 0

    async def _close(self, managed: _Managed) -> None:
        connection, managed.connection = managed.connection, None
        if connection is None or managed.close is None:
            return
        try:
            await within(self._clock, _call(managed.close, connection), self.ping_timeout, "close")
        except Exception as error:  # the old connection is gone either way
            logger.debug("closing %r failed: %r", managed.name, error)

    def _set(self, managed: _Managed, state: ConnectionState, reason: str) -> None:
        old = managed.state
        if old is state:
            return
        managed.state = state
        waiters, managed.waiters = managed.waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        if self.events:
            self.events.emit(
                ConnectionStateChanged(
                    self.name, self._clock.wall(), managed.name, old.value, state.value, reason
                )
            )

    # -- observation ----------------------------------------------------------------------

    def connection_stats(self, name: str) -> dict[str, Any]:
        """Return the statistics of connection ``name``."""
        m = self._get(name)
        outcomes = list(m.outcomes)
        return {
            "state": m.state.value,
            "phi": self.detector.phi(name),
            "connects": m.connects,
            "reconnects": m.reconnects,
            "failed_attempts": m.failed_attempts,
            "pings": m.pings,
            "ping_failures": m.ping_failures,
            "loss_rate": outcomes.count(False) / len(outcomes) if outcomes else 0.0,
            "latency_ewma": m.latency_ewma,
            "latency_last": m.latency_last,
            "latency_max": m.latency_max,
            "last_error": m.last_error,
        }

    def get_stats(self) -> dict[str, Any]:
        """Return every connection's statistics and totals by state."""
        per = {name: self.connection_stats(name) for name in list(self._connections)}
        by_state = {state.value: 0 for state in ConnectionState}
        for stats in per.values():
            by_state[stats["state"]] += 1
        return {
            "kind": self.kind,
            "name": self.name,
            "total": len(per),
            "by_state": by_state,
            "reconnects": sum(s["reconnects"] for s in per.values()),
            "connections": per,
        }

    def stats(self) -> dict[str, Any]:
        """Same as :meth:`get_stats` (the registry's name for it)."""
        return self.get_stats()


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    outcome = fn(*args)
    if isawaitable(outcome):
        outcome = await outcome
    return outcome


def _positive(parameter: str, value: object) -> float:
    return check_number(parameter, value, minimum=0.0, exclusive_minimum=True)
