"""The in-process rate limiter: a GCRA token bucket as a policy and a permit source.

>>> from rebellion.testing import ManualClock
>>> clock = ManualClock()
>>> limiter = RateLimiter(rate=2, burst=2, clock=clock)
>>> limiter.try_acquire(), limiter.try_acquire(), limiter.try_acquire()
(True, True, False)
>>> limiter.acquire()          # waits (virtual time) for the next token
>>> clock.monotonic()
0.5
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Any, ClassVar, cast, final

from ..._clock import Clock
from ..._driver import Paced
from ..._events import EventStream, Listener
from ..._registry import registry
from ..._validate import check_clock, check_duration, check_name, check_number
from ...errors import ConfigError, RateLimitedError
from ..deadline import cut
from ..snapshots import RateLimiterSnapshot
from ._events import RateChanged, RateLimitExceeded
from ._gcra import GcraCore, check_cost, check_rate

__all__ = ["READY", "RateLimiter", "get_rate_limiter"]

INF = float("inf")


class _Ready(tuple[()]):
    """An awaitable that completes at once: ``await`` on it costs one C call."""

    __slots__ = ()
    __await__ = tuple.__iter__


READY = cast(Awaitable[None], _Ready())
"""Returned by ``acquire_async`` when admitted without waiting (no coroutine built)."""


@final
class RateLimiter(Paced):
    """Admit at most ``rate`` calls per ``per`` seconds, with bursts up to ``burst``.

    As a policy (``@limiter``, ``call``, ``execute``, inside a ``Pipeline``) a call over
    the limit waits up to ``max_wait`` seconds for its turn, or raises
    :class:`~rebellion.errors.RateLimitedError` with ``retry_after``. As a permit
    source: :meth:`try_acquire` refuses without waiting; :meth:`acquire` and
    :meth:`acquire_async` wait (FIFO, cancellable: a cancelled waiter gives its
    reservation back). Sync and async callers share the one bucket.

    Args:
        rate: tokens added per ``per`` seconds (> 0).
        per: the period of ``rate`` in seconds (default 1: ``rate`` is per second).
        burst: bucket size, the most tokens taken at once (default: ``rate``, at least 1).
        max_wait: seconds a guarded call may wait for its turn (0: refuse at once).
        name: shown in errors, events, statistics and the dashboard.
        clock: time source (``ManualClock`` in tests).
        listeners: callables receiving :class:`RateLimitExceeded` / :class:`RateChanged`.

    Raises:
        ConfigError: a parameter is out of range.
    """

    kind: ClassVar[str] = "rate_limiter"

    def __init__(
        self,
        rate: float,
        *,
        per: float = 1.0,
        burst: float | None = None,
        max_wait: float = 0.0,
        name: str = "rate_limiter",
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.name = check_name("name", name)
        r, p, b = check_rate(rate, per, burst)
        self.max_wait = check_duration("max_wait", max_wait, allow_inf=True)
        self._clock = check_clock(clock)
        self.events = EventStream(self.name, listeners)
        self._core = self._pace = GcraCore(r, p, b)
        registry.track(self)

    @property
    def rate(self) -> float:
        return self._core.rate

    @property
    def per(self) -> float:
        return self._core.per

    @property
    def burst(self) -> float:
        return self._core.burst

    def set_rate(self, rate: float, burst: float | None = None) -> None:
        """Change the rate (per ``per`` seconds) and optionally the burst, now.

        The bucket keeps its fill level in tokens; waiters already scheduled keep
        their turn.

        Raises:
            ConfigError: ``rate`` or ``burst`` is out of range.
        """
        core = self._core
        r, p, b = check_rate(rate, core.per, core.burst if burst is None else burst)
        old_rate, old_burst = core.rate, core.burst
        core.set_rate(r, p, b, self._clock.monotonic())
        if self.events.active:
            self.events.emit(RateChanged(self.name, self._clock.wall(), old_rate, r, old_burst, b))

    # -- permits -------------------------------------------------------------------------

    def try_acquire(self, n: int = 1) -> bool:
        """Take ``n`` tokens if they are available now; never wait.

        Raises:
            ConfigError: ``n`` is not an integer in ``[1, burst]``.
        """
        core = self._core
        if n != 1:
            check_cost(n, core.burst)
        now = self._clock.monotonic()
        if core.fast:
            # Call-free from the read of tat to its write (see _atomic).
            tat = core.tat
            if tat < now:
                tat = now
            new = tat + n * core.interval
            if new - now <= core.bound:
                core.tat = new
                core.admitted += 1
                return True
            core.rejected += 1
            wait = new - now - core.limit
        else:
            wait = core.take(n, now)
            if not wait:
                return True
        if self.events.active:
            self._emit_exceeded(n, wait)
        return False

    def acquire(self, n: int = 1, *, max_wait: float | None = None) -> None:
        """Wait (blocking the thread) until ``n`` tokens are granted.

        Args:
            n: tokens to take (1 to ``burst``).
            max_wait: the longest acceptable wait in seconds (``None``: no limit).

        Raises:
            RateLimitedError: the turn would come later than ``max_wait``.
        """
        limit = INF if max_wait is None else check_number("max_wait", max_wait, minimum=0.0)
        if n != 1:
            check_cost(n, self._core.burst)
        self._wait_sync(n, limit)

    def acquire_async(self, n: int = 1, *, max_wait: float | None = None) -> Awaitable[None]:
        """Wait (suspending the task) until ``n`` tokens are granted: ``await`` the result.

        Admitted at once, it returns an already-complete awaitable (no coroutine is
        built); otherwise a coroutine that sleeps until the reserved turn and gives the
        reservation back if cancelled.

        Raises:
            RateLimitedError: the turn would come later than ``max_wait``.
        """
        core = self._core
        limit = INF if max_wait is None else check_number("max_wait", max_wait, minimum=0.0)
        if n != 1:
            check_cost(n, core.burst)
        if core.fast:
            now = self._clock.monotonic()
            tat = core.tat
            if tat < now:
                tat = now
            new = tat + n * core.interval
            if new - now <= core.bound:
                core.tat = new
                core.admitted += 1
                return READY
        return self._wait_async(n, limit)

    def _wait_sync(self, n: int, limit: float) -> None:
        clock = self._clock
        limit = cut(limit)  # an enclosing timeout's deadline cuts the wait
        wait, at, token = self._core.reserve(n, clock.monotonic(), limit)
        if token != token:  # NaN: refused
            raise self._refuse(n, wait)
        if wait > 0:
            try:
                clock.sleep(wait)
            except BaseException:
                self._core.give_back(n, at, token, clock.monotonic())
                raise

    async def _wait_async(self, n: int, limit: float) -> None:
        clock = self._clock
        limit = cut(limit)  # an enclosing timeout's deadline cuts the wait
        wait, at, token = self._core.reserve(n, clock.monotonic(), limit)
        if token != token:
            raise self._refuse(n, wait)
        if wait > 0:
            try:
                await clock.sleep_async(wait)
            except BaseException:
                self._core.give_back(n, at, token, clock.monotonic())
                raise

    def _refuse(self, n: int, wait: float) -> RateLimitedError:
        if self.events.active:
            self._emit_exceeded(n, wait)
        core = self._core
        return RateLimitedError(
            self.name,
            f"rate limiter {self.name!r}: over {core.rate:g} per {core.per:g}s "
            f"(retry in {wait:.3g}s)",
            wait,
        )

    def _emit_exceeded(self, n: int, wait: float) -> None:
        self.events.emit(RateLimitExceeded(self.name, self._clock.wall(), n, wait))

    # -- the turn the driver template waits for ------------------------------------------

    def _turn_sync(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self._wait_sync(1, self.max_wait)

    def _turn_async(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Awaitable[None]:
        return self._wait_async(1, self.max_wait)

    # -- observation ---------------------------------------------------------------------

    def stats(self) -> RateLimiterSnapshot:
        """Return a snapshot: limits, available tokens and lifetime counters."""
        core = self._core
        return RateLimiterSnapshot(
            kind=self.kind,
            name=self.name,
            rate=core.rate,
            per=core.per,
            burst=core.burst,
            max_wait=self.max_wait,
            available=core.available(self._clock.monotonic()),
            admitted=core.admitted,
            rejections=core.rejected,
            waited=core.waited,
            cancelled=core.cancelled,
        )

    def __repr__(self) -> str:
        return f"RateLimiter(name={self.name!r}, rate={self.rate:g}/{self.per:g}s)"


def get_rate_limiter(name: str, **settings: Any) -> RateLimiter:
    """Return the rate limiter registered as ``name``, creating it with ``settings``.

    >>> from rebellion import registry
    >>> api = get_rate_limiter("api", rate=100, burst=20)
    >>> get_rate_limiter("api") is api
    True
    >>> registry.unregister("rate_limiter", "api")

    Raises:
        ConfigError: ``name`` is registered with different settings (or without ``rate``
            on first use).
    """
    comparable = {k: v for k, v in settings.items() if k not in ("clock", "listeners")}
    return registry.get_or_create(
        RateLimiter.kind, name, lambda: _create(name, settings), comparable
    )


def _create(name: str, settings: dict[str, Any]) -> RateLimiter:
    if "rate" not in settings:
        raise ConfigError("rate", "given when the limiter is first created", None)
    return RateLimiter(name=name, **settings)
