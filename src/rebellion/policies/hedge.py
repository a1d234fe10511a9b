"""Hedging: after a delay, start another attempt; the first success wins.

The delay is fixed, or the ``percentile`` of recently observed latencies (a ring of
the last ``sample_size`` successful attempts) once ``min_samples`` are known; until
then ``delay`` (default 0.1 s) is used. A failed attempt starts the next hedge at once.
Up to ``max_hedged_attempts`` extra attempts run. The first success is returned and
the other attempts are cancelled: async attempts with ``task.cancel()`` (and awaited);
sync attempts run in a thread pool the hedge owns, and a losing sync attempt **cannot
be interrupted** -- it runs to its end and its result is discarded. If every attempt
fails, the error of the attempt that failed **last** is raised.

>>> import asyncio
>>> from rebellion.testing import ManualClock
>>> hedge = Hedge(delay=0.05, max_hedged_attempts=1, clock=ManualClock())
>>> async def fetch():
...     return "page"
>>> asyncio.run(hedge.execute(fetch)), hedge.stats()["wins_by_attempt"]
('page', [1, 0])
"""

from __future__ import annotations

import asyncio
import math
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from inspect import isawaitable
from types import CoroutineType
from typing import Any, ClassVar, TypeVar, final

from .._clock import Clock, SystemClock
from .._events import Event, EventStream, Listener
from .._policy import Policy
from .._registry import registry
from .._validate import check_clock, check_int, check_name, check_optional_number
from ..errors import ConfigError

__all__ = ["Hedge", "HedgeStarted", "HedgeWon"]

T = TypeVar("T")
_RECOMPUTE_EVERY = 16


@final
@dataclass(frozen=True, slots=True)
class HedgeStarted(Event):
    """Attempt ``attempt`` (1 = the first hedge) started ``after`` seconds into the call."""

    attempt: int
    after: float
    reason: str


@final
@dataclass(frozen=True, slots=True)
class HedgeWon(Event):
    """A hedged attempt (``attempt`` >= 1) succeeded first; ``latency`` of the whole call."""

    attempt: int
    latency: float


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@final
class Hedge(Policy):
    """Start extra attempts of a slow call; return the first success.

    Args:
        name: shown in events, statistics and the dashboard.
        delay: fixed hedging delay in seconds, or the delay used until the percentile
            is trusted when ``percentile`` is set (default 0.1).
        percentile: derive the delay from this percentile (0-100) of recent latencies.
        min_samples: latencies needed before the percentile is trusted.
        sample_size: how many recent latencies the ring keeps.
        max_hedged_attempts: extra attempts beyond the first (>= 1).
        max_workers: threads of the pool that runs sync attempts.
        clock: time source (tests pass a ``ManualClock``).
        listeners: callables receiving :class:`HedgeStarted` / :class:`HedgeWon`.
    """

    kind: ClassVar[str] = "hedge"

    def __init__(
        self,
        name: str = "hedge",
        *,
        delay: float | None = None,
        percentile: float | None = None,
        min_samples: int = 20,
        sample_size: int = 1000,
        max_hedged_attempts: int = 1,
        max_workers: int = 8,
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.name = check_name("name", name)
        fixed = check_optional_number("delay", delay, minimum=0.0)
        self.percentile = check_optional_number("percentile", percentile, minimum=0.0)
        if self.percentile is not None and self.percentile > 100:
            raise ConfigError("percentile", "a number in [0, 100] or None", percentile)
        self.delay = 0.1 if fixed is None else fixed
        self.sample_size = check_int("sample_size", sample_size, minimum=1)
        self.min_samples = check_int("min_samples", min_samples, minimum=1, maximum=sample_size)
        self.max_hedged_attempts = check_int("max_hedged_attempts", max_hedged_attempts, minimum=1)
        self.max_workers = check_int("max_workers", max_workers, minimum=1)
        self._clock = check_clock(clock)
        self._real_clock = isinstance(self._clock, SystemClock)
        self.events = EventStream(self.name, listeners)
        self._lock = threading.Lock()
        self._ring: list[float] = []
        self._next = 0
        self._fresh = 0
        self._current = self.delay
        self._pool: ThreadPoolExecutor | None = None
        self._calls = self._attempts = self._hedges = self._failures = 0
        self._wins = [0] * (self.max_hedged_attempts + 1)
        registry.track(self)

    # -- latency ring ------------------------------------------------------------------

    @property
    def current_delay(self) -> float:
        """The delay the next call waits before its first hedge."""
        return self._current

    def _record(self, latency: float, winner: int) -> None:
        with self._lock:
            self._wins[winner] += 1
            if self.percentile is None:
                return
            if len(self._ring) < self.sample_size:
                self._ring.append(latency)
            else:
                self._ring[self._next] = latency
                self._next = (self._next + 1) % self.sample_size
            self._fresh += 1
            if len(self._ring) >= self.min_samples and (
                self._fresh >= _RECOMPUTE_EVERY or len(self._ring) == self.min_samples
            ):
                self._fresh = 0
                ordered = sorted(self._ring)
                # nearest rank: the smallest latency at least `percentile` % do not exceed
                rank = math.ceil(len(ordered) * self.percentile / 100.0)
                index = min(len(ordered) - 1, max(0, rank - 1))
                self._current = ordered[index]

    def _count(self, attempts: int, failed: bool) -> None:
        with self._lock:
            self._calls += 1
            self._attempts += attempts
            self._hedges += attempts - 1
            if failed:
                self._failures += 1

    def _started(self, attempt: int, after: float, reason: str) -> None:
        if self.events.active:
            self.events.emit(
                HedgeStarted(
                    source=self.name,
                    at=self._clock.wall(),
                    attempt=attempt,
                    after=after,
                    reason=reason,
                )
            )

    def _won(self, attempt: int, latency: float) -> None:
        self._record(latency, attempt)
        if attempt and self.events.active:
            self.events.emit(
                HedgeWon(source=self.name, at=self._clock.wall(), attempt=attempt, latency=latency)
            )

    # -- async driver ------------------------------------------------------------------

    async def _async(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        async def attempt() -> Any:
            result = fn(*args, **kwargs)
            if type(result) is CoroutineType or isawaitable(result):
                result = await result
            return result

        loop = asyncio.get_running_loop()
        clock = self._clock
        start = clock.monotonic()
        delay = self._current
        tasks: dict[asyncio.Task[Any], tuple[int, float]] = {}
        pending: set[asyncio.Future[Any]] = set()
        launched = 0
        last_error: BaseException | None = None

        def launch() -> None:
            nonlocal launched
            task = loop.create_task(attempt())
            tasks[task] = (launched, clock.monotonic())
            pending.add(task)
            launched += 1

        launch()
        timer_future: asyncio.Future[None] | None = None
        timer = None
        try:
            while pending:
                if launched <= self.max_hedged_attempts and timer_future is None:
                    timer_future = loop.create_future()

                    def wake(waker: asyncio.Future[None] = timer_future) -> None:
                        loop.call_soon_threadsafe(_resolve, waker)

                    timer = clock.call_later(delay, wake)
                waiting = pending if timer_future is None else pending | {timer_future}
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                failed = False
                for finished in done:
                    if finished is timer_future:
                        continue
                    pending.discard(finished)
                    index, began = tasks[finished]  # type: ignore[index]
                    error = finished.exception()
                    if error is None:
                        self._won(index, clock.monotonic() - began)
                        self._count(launched, False)
                        return finished.result()
                    last_error, failed = error, True
                fired = timer_future is not None and timer_future.done()
                if (fired or failed) and launched <= self.max_hedged_attempts:
                    if timer is not None:
                        timer.cancel()
                    timer_future = None
                    self._started(
                        launched, clock.monotonic() - start, "delay" if fired else "failure"
                    )
                    launch()
                    delay = self._current
            self._count(launched, True)
            assert last_error is not None
            raise last_error
        finally:
            if timer is not None:
                timer.cancel()
            losers = [t for t in pending if not t.done()]
            for loser in losers:
                loser.cancel()
            if losers:
                await asyncio.gather(*losers, return_exceptions=True)

    # -- sync driver ---------------------------------------------------------------------

    def _executor(self) -> ThreadPoolExecutor:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(
                        self.max_workers, f"rebellion-hedge-{self.name}"
                    )
                pool = self._pool
        return pool

    def _sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        pool = self._executor()
        clock = self._clock
        start = clock.monotonic()
        wake = threading.Event()
        futures: dict[Future[T], tuple[int, float]] = {}
        launched = 0
        last_error: BaseException | None = None

        def launch() -> Future[T]:
            nonlocal launched
            future = pool.submit(fn, *args, **kwargs)
            futures[future] = (launched, clock.monotonic())
            launched += 1
            future.add_done_callback(lambda _: wake.set())
            return future

        pending = {launch()}
        try:
            while pending:
                hedge_left = launched <= self.max_hedged_attempts
                fired = False
                if not any(f.done() for f in pending):
                    if hedge_left:
                        fired = self._wait(wake, self._current)
                    else:
                        wake.wait()
                wake.clear()
                failed = False
                for future in [f for f in pending if f.done()]:
                    pending.discard(future)
                    index, began = futures[future]
                    error = future.exception()
                    if error is None:
                        self._won(index, clock.monotonic() - began)
                        self._count(launched, False)
                        return future.result()
                    last_error, failed = error, True
                if hedge_left and (fired or failed):
                    reason = "delay" if fired else "failure"
                    self._started(launched, clock.monotonic() - start, reason)
                    pending.add(launch())
            self._count(launched, True)
            assert last_error is not None
            raise last_error
        finally:
            for future in pending:
                future.cancel()  # only stops attempts not yet started; others run on

    def _wait(self, wake: threading.Event, delay: float) -> bool:
        """Wait for an attempt to finish or ``delay`` to pass; return True on the delay."""
        if self._real_clock:
            return not wake.wait(delay)
        fired = threading.Event()

        def expire() -> None:
            fired.set()
            wake.set()

        timer = self._clock.call_later(delay, expire)
        wake.wait()
        timer.cancel()
        return fired.is_set()

    def close(self) -> None:
        """Shut the thread pool down (attempts already running finish first)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)

    # -- observation ---------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Return calls, attempts, hedges, wins by attempt index and the current delay."""
        with self._lock:
            return {
                "kind": self.kind,
                "name": self.name,
                "calls": self._calls,
                "attempts": self._attempts,
                "hedges": self._hedges,
                "failures": self._failures,
                "wins_by_attempt": list(self._wins),
                "hedge_wins": sum(self._wins[1:]),
                "current_delay": self._current,
                "samples": len(self._ring),
            }

    def __repr__(self) -> str:
        return f"Hedge(name={self.name!r}, delay={self._current:g})"
