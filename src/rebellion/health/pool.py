"""A health-checked connection pool that prefers fast connections and sizes itself.

``get_connection()`` hands out an idle connection (the lowest EWMA latency first), or
opens one while the pool is below ``max_size``, or waits for a release up to
``acquire_timeout`` (then :class:`PoolExhaustedError`, a ``RejectedError``). Callers
report each use with ``release_connection(id, success, response_time)``: a failed use
marks the connection for a health check (ping) before its next use, and
``max_failures`` failures in a row replace it. Opening and health checks go through the
pool's :class:`~rebellion.CircuitBreaker`, so a dead backend fails fast. ``start()``
warms up ``min_size`` connections; maintenance re-checks long-idle connections,
replaces lost ones and moves the target size with utilisation.

>>> import asyncio, itertools
>>> from rebellion.testing import ManualClock
>>> ids = itertools.count(1)
>>> async def connect():
...     return f"conn-{next(ids)}"
>>> async def demo():
...     pool = ConnectionPool(connect=connect, min_size=2, clock=ManualClock())
...     await pool.start()
...     conn, conn_id = await pool.get_connection()
...     pool.release_connection(conn_id, success=True, response_time=0.01)
...     metrics = pool.get_pool_metrics()
...     await pool.close()
...     return conn, metrics["size"], metrics["idle"]
>>> asyncio.run(demo())
('conn-1', 2, 2)
"""

from __future__ import annotations

import asyncio
import functools
import heapq
import itertools
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, ClassVar, final

from .._awaitable import DONE, Done, ReadyDict
from .._clock import Clock
from .._events import EventStream, Listener
from .._registry import registry
from .._validate import check_callable, check_clock, check_fraction, check_int, check_name
from ..errors import ConfigError, PoolExhaustedError, RejectedError
from ..policies.circuit_breaker import CircuitBreaker
from ._events import PoolConnectionClosed, PoolConnectionOpened, PoolTargetResized
from ._pool_parts import PooledConnection, check_positive, pool_metrics
from ._waits import within

__all__ = ["ConnectionPool", "PoolExhaustedError"]


@final
class ConnectionPool:
    """Pooled connections with health checks, fast-first selection and adaptive size.

    Args:
        name: name for events, statistics, the registry and the default breaker.
        connect: coroutine function opening a connection (returns the object).
        close: function (sync or async) closing one.
        ping: coroutine function checking one (raise or time out = unhealthy).
        min_size: connections kept open (>= 0).
        max_size: connections never exceeded (>= max(1, ``min_size``)).
        acquire_timeout: seconds ``get_connection`` waits for a free one (> 0).
        connect_timeout: seconds an open may take (> 0).
        ping_timeout: seconds a health check may take (> 0).
        validate_idle_after: ping a connection idle longer than this before handing it
            out (seconds > 0; ``None``: never for idleness).
        max_failures: failed uses in a row that replace a connection (>= 1).
        prefer_fast: hand out the lowest-latency idle connection first.
        latency_alpha: EWMA weight of a new response time, in (0, 1].
        adaptive: move the target size with utilisation at each maintenance.
        scale_up_threshold: utilisation above which the target grows, in (0, 1].
        scale_down_threshold: utilisation below which it shrinks, in [0, up).
        maintenance_interval: seconds between maintenance rounds (> 0).
        breaker: guards opening connections (default: a new one, 5 failures, 30 s);
            pings of pooled connections bypass it, so a backend restart that makes
            every pooled connection stale does not open it.
        clock: time source.
        listeners: event listeners (:class:`PoolConnectionOpened`,
            :class:`PoolConnectionClosed`, :class:`PoolTargetResized`).

    Raises:
        ConfigError: a parameter is out of range; the message names it.

    Use one pool from one event loop.
    """

    kind: ClassVar[str] = "connection_pool"

    def __init__(
        self,
        name: str = "pool",
        *,
        connect: Callable[[], Awaitable[Any]],
        close: Callable[[Any], object] | None = None,
        ping: Callable[[Any], Awaitable[object]] | None = None,
        min_size: int = 1,
        max_size: int = 10,
        acquire_timeout: float = 5.0,
        connect_timeout: float = 10.0,
        ping_timeout: float = 2.0,
        validate_idle_after: float | None = 30.0,
        max_failures: int = 3,
        prefer_fast: bool = True,
        latency_alpha: float = 0.2,
        adaptive: bool = True,
        scale_up_threshold: float = 0.8,
        scale_down_threshold: float = 0.3,
        maintenance_interval: float = 10.0,
        breaker: CircuitBreaker | None = None,
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.name = check_name("name", name)
        check_callable("connect", connect)
        for parameter, fn in (("close", close), ("ping", ping)):
            if fn is not None:
                check_callable(parameter, fn)
        self._connect, self._close, self._ping = connect, close, ping
        self.min_size = check_int("min_size", min_size, minimum=0)
        self.max_size = check_int("max_size", max_size, minimum=max(1, self.min_size))
        self.acquire_timeout = check_positive("acquire_timeout", acquire_timeout)
        self.connect_timeout = check_positive("connect_timeout", connect_timeout)
        self.ping_timeout = check_positive("ping_timeout", ping_timeout)
        self.validate_idle_after = (
            None
            if validate_idle_after is None
            else check_positive("validate_idle_after", validate_idle_after)
        )
        self.max_failures = check_int("max_failures", max_failures, minimum=1)
        for parameter, flag in (("prefer_fast", prefer_fast), ("adaptive", adaptive)):
            if not isinstance(flag, bool):
                raise ConfigError(parameter, "True or False", flag)
        self.prefer_fast, self.adaptive = prefer_fast, adaptive
        self.latency_alpha = check_fraction("latency_alpha", latency_alpha, allow_zero=False)
        self.scale_up_threshold = check_fraction(
            "scale_up_threshold", scale_up_threshold, allow_zero=False
        )
        self.scale_down_threshold = check_fraction("scale_down_threshold", scale_down_threshold)
        if self.scale_down_threshold >= self.scale_up_threshold:
            rule = f"a fraction below scale_up_threshold ({self.scale_up_threshold:g})"
            raise ConfigError("scale_down_threshold", rule, scale_down_threshold)
        self.maintenance_interval = check_positive("maintenance_interval", maintenance_interval)
        self._clock = check_clock(clock)
        if breaker is None:
            breaker = CircuitBreaker(
                f"{self.name}.breaker", failure_threshold=5, reset_timeout=30.0, clock=self._clock
            )
        elif not isinstance(breaker, CircuitBreaker):
            raise ConfigError("breaker", "a CircuitBreaker or None", breaker)
        self.breaker = breaker
        self.events = EventStream(self.name, listeners)
        self._idle: list[tuple[float, int, PooledConnection]] = []
        self._all: dict[int, PooledConnection] = {}
        self._waiters: deque[asyncio.Future[PooledConnection | None]] = deque()
        self._seq = itertools.count()
        self._ids = itertools.count(1)
        self._size = 0  # open plus opening
        self._in_use = 0
        self.target = self.min_size
        self._closed = False
        self._task: asyncio.Task[None] | None = None
        self.counts = dict.fromkeys(("acquires", "in_use_sum", "timeouts", "opened"), 0)
        self.closed_by_reason: dict[str, int] = {}
        self._closing: set[asyncio.Task[None]] = set()
        self._last_utilisation = 0.0
        registry.track(self)

    # -- acquire and release ---------------------------------------------------------------

    async def get_connection(self, prefer_fast: bool | None = None) -> tuple[Any, int]:
        """Return ``(connection, connection_id)``; release it with the id.

        Args:
            prefer_fast: override the pool's ``prefer_fast`` for this call.

        Raises:
            PoolExhaustedError: nothing freed up within ``acquire_timeout``.
            CircuitOpenError: the pool's breaker is open (the backend is failing).
            Exception: whatever ``connect`` or ``ping`` raised opening a new one.
        """
        idle = self._idle
        while idle:
            conn = idle.pop()[2] if prefer_fast is False else heapq.heappop(idle)[2]
            if (
                conn.needs_check
                or (
                    self.validate_idle_after is not None
                    and self._clock.monotonic() - conn.idle_since > self.validate_idle_after
                )
            ) and not await self._validate(conn):
                continue
            return self._lend(conn)
        return await self._acquire_slow()

    def _lend(self, conn: PooledConnection) -> tuple[Any, int]:
        conn.in_use = True
        conn.uses += 1
        self._in_use = in_use = self._in_use + 1
        counts = self.counts
        counts["acquires"] += 1
        counts["in_use_sum"] += in_use
        return conn.obj, conn.id

    async def _acquire_slow(self) -> tuple[Any, int]:
        if self._closed:
            raise RejectedError(self.name, f"pool {self.name!r} is closed")
        loop = asyncio.get_running_loop()
        deadline = self._clock.monotonic() + self.acquire_timeout
        while True:
            if self._size < self.max_size:
                conn = await self._open("demand")
                return self._lend(conn)
            remaining = deadline - self._clock.monotonic()
            waiter: asyncio.Future[PooledConnection | None] = loop.create_future()
            self._waiters.append(waiter)
            timer = self._clock.call_later(remaining, functools.partial(self._expire, waiter))
            try:
                got = await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    handed = waiter.result()
                    if handed is not None:
                        handed.in_use = False
                        self._give_back(handed)
                raise
            finally:
                timer.cancel()
            if got is None:  # a slot freed up: try to open one
                continue
            if got.needs_check:
                got.in_use = False
                if not await self._validate(got):
                    continue
            got.in_use = False
            return self._lend(got)

    def _expire(self, waiter: asyncio.Future[PooledConnection | None]) -> None:
        if not waiter.done():
            self.counts["timeouts"] += 1
            message = (
                f"pool {self.name!r}: no connection free within {self.acquire_timeout:g}s "
                f"(all {self.max_size} in use)"
            )
            waiter.set_exception(PoolExhaustedError(self.name, message, None))

    async def add_connection(self, connection: Any) -> int:
        """Adopt a connection opened elsewhere; it joins the idle set, ready to lend.

        A configured ``ping`` checks it first.

        Returns:
            Its connection id.

        Raises:
            PoolExhaustedError: the pool already holds ``max_size`` connections.
            RejectedError: the pool is closed.
            Exception: whatever ``ping`` raised (the connection is not adopted).
        """
        if self._closed:
            raise RejectedError(self.name, f"pool {self.name!r} is closed")
        if self._size >= self.max_size:
            message = f"pool {self.name!r} is full ({self.max_size} connections)"
            raise PoolExhaustedError(self.name, message, None)
        self._size += 1
        try:
            if self._ping is not None:
                await within(
                    self._clock, _call(self._ping, connection), self.ping_timeout, self.name
                )
        except BaseException:
            self._size -= 1
            raise
        self.target = max(self.target, self._size)  # not surplus as soon as it is released
        conn = PooledConnection(next(self._ids), connection, self._clock.monotonic())
        self._all[conn.id] = conn
        self.counts["opened"] += 1
        if self.events:
            self.events.emit(PoolConnectionOpened(self.name, self._clock.wall(), conn.id, "added"))
        self._give_back(conn)
        return conn.id

    def release_connection(
        self, conn_id: int, success: bool = True, response_time: float | None = None
    ) -> Done:
        """Give a connection back, telling how its use went (``await`` it, or not).

        Args:
            conn_id: the id :meth:`get_connection` returned.
            success: whether the use succeeded; a failure schedules a health check,
                ``max_failures`` in a row replace the connection.
            response_time: seconds the use took (feeds the latency EWMA).

        Raises:
            ConfigError: ``conn_id`` is not a connection currently lent out.
        """
        conn = self._all.get(conn_id)
        if conn is None or not conn.in_use:
            raise ConfigError("conn_id", "the id of a connection currently lent out", conn_id)
        conn.in_use = False
        self._in_use -= 1
        if response_time is not None:
            latency = conn.latency
            conn.latency = (
                response_time
                if latency is None
                else latency + self.latency_alpha * (response_time - latency)
            )
        if success:
            conn.consecutive_failures = 0
        else:
            conn.failures += 1
            conn.consecutive_failures += 1
            conn.needs_check = True
            if conn.consecutive_failures >= self.max_failures:
                self._discard(conn, "failing")
                return DONE
        if self._closed or (self._size > self.target and not self._waiters):
            self._discard(conn, "closed" if self._closed else "surplus")
            return DONE
        self._give_back(conn)
        return DONE

    def _give_back(self, conn: PooledConnection) -> None:
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                conn.in_use = True  # in transit to the waiter
                waiter.set_result(conn)
                return
        if self.validate_idle_after is not None:
            conn.idle_since = self._clock.monotonic()
        key = (conn.latency or 0.0) if self.prefer_fast else 0.0
        heapq.heappush(self._idle, (key, next(self._seq), conn))

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """Borrow a connection for an ``async with`` block; outcome and time are recorded."""
        conn, conn_id = await self.get_connection()
        started = self._clock.monotonic()
        try:
            yield conn
        except BaseException:
            self.release_connection(conn_id, False, self._clock.monotonic() - started)
            raise
        self.release_connection(conn_id, True, self._clock.monotonic() - started)

    # -- opening, checking, closing -----------------------------------------------------------

    async def _open(self, reason: str) -> PooledConnection:
        self._size += 1
        try:
            obj = await self.breaker.execute(self._connect_checked)
        except BaseException:
            self._size -= 1
            self._wake_one()
            raise
        conn = PooledConnection(next(self._ids), obj, self._clock.monotonic())
        self._all[conn.id] = conn
        self.counts["opened"] += 1
        if self.events:
            self.events.emit(PoolConnectionOpened(self.name, self._clock.wall(), conn.id, reason))
        return conn

    async def _connect_checked(self) -> Any:
        obj = await within(self._clock, _call(self._connect), self.connect_timeout, self.name)
        if self._ping is not None:  # a new connection is checked before anyone uses it
            try:
                await within(self._clock, _call(self._ping, obj), self.ping_timeout, self.name)
            except BaseException:
                await self._close_quietly(obj)
                raise
        return obj

    async def _validate(self, conn: PooledConnection) -> bool:
        if self._ping is None:
            conn.needs_check = False
            return True
        conn.in_use = True
        try:
            # Not through the breaker: after a backend restart every pooled connection
            # is stale and fails its ping at once, which says nothing about whether the
            # backend is reachable now. Opening replacements does go through it.
            await self._ping_checked(conn.obj)
        except Exception:
            conn.in_use = False
            self._discard(conn, "failed health check")
            return False
        conn.in_use = False
        conn.needs_check = False
        return True

    async def _ping_checked(self, obj: Any) -> None:
        assert self._ping is not None
        await within(self._clock, _call(self._ping, obj), self.ping_timeout, self.name)

    def _discard(self, conn: PooledConnection, reason: str) -> None:
        if self._all.pop(conn.id, None) is None:
            return
        self._size -= 1
        conn.in_use = False
        self.closed_by_reason[reason] = self.closed_by_reason.get(reason, 0) + 1
        if self.events:
            self.events.emit(PoolConnectionClosed(self.name, self._clock.wall(), conn.id, reason))
        task = asyncio.get_running_loop().create_task(self._close_quietly(conn.obj))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # a slot, not a connection, freed up
                return

    async def _close_quietly(self, obj: Any) -> None:
        if self._close is None:
            return
        try:
            await within(self._clock, _call(self._close, obj), self.ping_timeout, self.name)
        except Exception:  # the connection is being thrown away either way
            pass

    # -- lifecycle and maintenance ------------------------------------------------------------

    async def start(self) -> None:
        """Warm up ``min_size`` connections and start maintenance."""
        await self._fill(self.min_size, "warm-up")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._maintain())

    async def _fill(self, size: int, reason: str) -> None:
        wanted = min(size, self.max_size) - self._size
        if wanted <= 0:
            return
        opened = await asyncio.gather(
            *(self._open(reason) for _ in range(wanted)), return_exceptions=True
        )
        for conn in opened:
            if isinstance(conn, PooledConnection):
                self._give_back(conn)

    async def _maintain(self) -> None:
        while True:
            await self._clock.sleep_async(self.maintenance_interval)
            try:
                await self.maintain()
            except Exception:  # the breaker is open, or the backend is down: next round
                pass

    async def maintain(self) -> None:
        """Run one maintenance round now: resize, check idle connections, replenish."""
        counts = self.counts
        acquires = counts["acquires"]
        # The busier of "now" and "on average at each acquire since the last round".
        utilisation = self._in_use / max(1, self._size)
        if acquires:
            utilisation = max(utilisation, counts["in_use_sum"] / acquires / max(1, self._size))
        counts["acquires"] = counts["in_use_sum"] = 0
        old = self.target
        if self.adaptive:
            if utilisation > self.scale_up_threshold:
                self.target = min(self.max_size, max(self.target, self._size) + max(1, old // 2))
            elif utilisation < self.scale_down_threshold:
                self.target = max(self.min_size, self.target - 1)
        if self.target != old and self.events:
            self.events.emit(
                PoolTargetResized(self.name, self._clock.wall(), old, self.target, utilisation)
            )
        self._last_utilisation = utilisation
        while self._size > self.target and self._idle:  # the slowest idle ones go first
            slowest = max(self._idle, key=lambda item: (item[0], item[1]))
            self._idle.remove(slowest)
            heapq.heapify(self._idle)
            self._discard(slowest[2], "surplus")
        if self.validate_idle_after is not None:
            now = self._clock.monotonic()
            stale = [c for _, _, c in self._idle if now - c.idle_since > self.validate_idle_after]
            for conn in stale:
                self._idle = [item for item in self._idle if item[2] is not conn]
                heapq.heapify(self._idle)
                if await self._validate(conn):
                    self._give_back(conn)
        await self._fill(self.target, "replenish" if self.target == old else "scale up")

    async def close(self) -> None:
        """Stop maintenance, fail waiters, close idle connections (lent ones on release)."""
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                pass
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(RejectedError(self.name, f"pool {self.name!r} closed"))
        idle, self._idle = self._idle, []
        for _, _, conn in idle:
            self._discard(conn, "closed")
        await asyncio.gather(*list(self._closing), return_exceptions=True)

    async def __aenter__(self) -> ConnectionPool:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- observation --------------------------------------------------------------------

    def get_pool_metrics(self) -> ReadyDict:
        """Return size, idle/in use, target, utilisation, waits, latencies and breaker.

        The dict may also be awaited (``await pool.get_pool_metrics()``).
        """
        return ReadyDict(
            pool_metrics(self, self._all.values(), len(self._idle), len(self._waiters))
        )

    def stats(self) -> dict[str, Any]:
        """Same as :meth:`get_pool_metrics` (the registry's name for it)."""
        return self.get_pool_metrics()

    @property
    def size(self) -> int:
        """Connections open or opening."""
        return self._size

    @property
    def in_use(self) -> int:
        """Connections lent out."""
        return self._in_use


async def _call(fn: Callable[..., Any], *args: Any) -> Any:
    outcome = fn(*args)
    if isinstance(outcome, Awaitable):
        outcome = await outcome
    return outcome
