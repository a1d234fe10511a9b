"""Hedging: after a delay, start another attempt; the first success wins.

The delay is fixed, or the ``quantile`` of recently observed latencies (a ring of
the last ``sample_size`` successful attempts) once ``min_samples`` are known; until
then ``delay`` (default 0.1 s) is used. A failed attempt starts the next hedge at once.
Up to ``max_hedged_attempts`` extra attempts run. The first success is returned and
the other attempts are cancelled: async attempts with ``task.cancel()`` (and awaited);
the first async attempt runs inline in the caller's task (no task or timer of its own
until the delay passes, see ``_hedge_race``), so a winning hedge interrupts it by
cancelling the caller's task at its current ``await`` -- like a timeout, and invisible
to the caller; sync attempts run in a thread pool the hedge owns, and a losing sync attempt **cannot
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
import weakref
from collections.abc import Awaitable, Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from inspect import isawaitable
from types import CoroutineType
from typing import Any, ClassVar, TypeVar, final

from .._clock import Clock, SystemClock
from .._driver import Scoped
from .._events import Event, EventStream, Listener
from .._registry import registry
from .._validate import (
    check_clock,
    check_int,
    check_name,
    check_number,
    check_optional_duration,
    check_optional_number,
)
from ..errors import ConfigError
from ._atomic import GIL_ATOMIC
from ._hedge_race import CANCELLED, Race, RaceQueue
from .snapshots import HedgeSnapshot

__all__ = ["Hedge", "HedgeStarted", "HedgeWon"]

T = TypeVar("T")
_Coro = CoroutineType
_RECOMPUTE_EVERY = 16


@final
@dataclass(frozen=True, slots=True)
class HedgeStarted(Event):
    """Attempt ``attempt`` (1 = the first hedge) started ``after`` seconds into the call."""

    policy_kind: ClassVar[str] = "hedge"

    attempt: int
    after: float
    reason: str


@final
@dataclass(frozen=True, slots=True)
class HedgeWon(Event):
    """A hedged attempt (``attempt`` >= 1) succeeded first; ``latency`` of the whole call."""

    policy_kind: ClassVar[str] = "hedge"

    attempt: int
    latency: float


@final
class _Tally:
    """What happened to the calls so far (see ``_count``)."""

    __slots__ = ("attempts", "calls", "cancelled", "failures", "wins")

    def __init__(self, max_hedged_attempts: int) -> None:
        self.calls = self.attempts = self.failures = self.cancelled = 0
        self.wins = [0] * (max_hedged_attempts + 1)

    def add(self, attempts: int, winner: int) -> None:
        self.calls += 1
        self.attempts += attempts
        if winner == CANCELLED:
            self.cancelled += 1
        elif winner < 0:
            self.failures += 1
        else:
            self.wins[winner] += 1


@final
class Hedge(Scoped):
    """Start extra attempts of a slow call; return the first success.

    Args:
        name: shown in events, statistics and the dashboard.
        delay: fixed hedging delay in seconds, or the delay used until the quantile
            is trusted when ``quantile`` is set (default 0.1).
        quantile: derive the delay from this quantile (a fraction in [0, 1]: 0.95 is
            p95) of recent latencies.
        percentile: the same in percent (``quantile * 100``), for older code; give one.
        min_samples: latencies needed before the quantile is trusted.
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
        quantile: float | None = None,
        percentile: float | None = None,
        min_samples: int = 20,
        sample_size: int = 1000,
        max_hedged_attempts: int = 1,
        max_workers: int = 8,
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.name = check_name("name", name)
        fixed = check_optional_duration("delay", delay)
        if percentile is not None:
            if quantile is not None:
                raise ConfigError("percentile", "left out when quantile is given", percentile)
            quantile = check_number("percentile", percentile, minimum=0.0, maximum=100.0) / 100
        self.quantile = check_optional_number("quantile", quantile, minimum=0.0, maximum=1.0)
        self.delay = 0.1 if fixed is None else fixed
        self.sample_size = check_int("sample_size", sample_size, minimum=1)
        self.min_samples = check_int(
            "min_samples", min_samples, minimum=1, maximum=self.sample_size, bound="sample_size"
        )
        self.max_hedged_attempts = check_int(
            "max_hedged_attempts", max_hedged_attempts, minimum=1, maximum=1000
        )
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
        self._tally = _Tally(self.max_hedged_attempts)
        # One first-hedge queue per event loop; the last one used is cached for the hot path.
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RaceQueue] = (
            weakref.WeakKeyDictionary()
        )
        self._queue = RaceQueue(self._clock, None, self.delay, direct=True)
        registry.track(self)

    # -- latency ring and tallies --------------------------------------------------------

    @property
    def current_delay(self) -> float:
        """The delay the next call waits before its first hedge."""
        return self._current

    def _record(self, latency: float) -> None:
        with self._lock:
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
                # nearest rank: the smallest latency a `quantile` of them do not exceed
                rank = math.ceil(len(ordered) * self.quantile)  # type: ignore[operator]
                index = min(len(ordered) - 1, max(0, rank - 1))
                self._current = ordered[index]

    def _count(self, attempts: int, winner: int) -> None:
        """Count one finished call: ``winner`` is the winning attempt, -1 if all failed,
        or :data:`CANCELLED`."""
        if not GIL_ATOMIC:
            with self._lock:
                self._tally.add(attempts, winner)
        else:
            self._tally.add(attempts, winner)

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
        if self.quantile is not None:
            self._record(latency)
        if attempt and self.events.active:
            self.events.emit(
                HedgeWon(source=self.name, at=self._clock.wall(), attempt=attempt, latency=latency)
            )

    # -- async driver: attempt 1 inline, hedges as tasks (see _hedge_race) --------------

    def _wrap_async(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        hedge = self
        monotonic = self._clock.monotonic
        current_task = asyncio.current_task
        running_loop = asyncio.get_running_loop
        queue_for = self._queue_for
        tally = self._tally
        wins = tally.wins
        atomic = GIL_ATOMIC

        async def guarded(*args: Any, **kwargs: Any) -> T:
            task = current_task()
            if task is None:
                raise RuntimeError("Hedge needs to run inside an asyncio task")
            start = monotonic()
            try:
                result: Any = fn(*args, **kwargs)
            except Exception as error:
                race = Race(hedge, fn, args, kwargs, task, start)
                return await race.first_failed(error, task.cancelling(), running_loop())  # type: ignore[no-any-return]
            if type(result) is _Coro or isawaitable(result):
                loop = running_loop()
                queue = hedge._queue
                if queue.loop is not loop or queue.delay != hedge._current:
                    queue = queue_for(loop)
                race = Race(hedge, fn, args, kwargs, task, start)
                queue.open_race(race)
                cancelling = task.cancelling()
                try:
                    result = await result
                except BaseException as error:
                    queue.close(race)
                    return await race.first_failed(error, cancelling, loop)  # type: ignore[no-any-return]
                queue.close(race)
                if race.hedging is not None:
                    return await race.first_succeeded(result, cancelling)  # type: ignore[no-any-return]
            if hedge.quantile is not None:
                hedge._record(monotonic() - start)
            # Attempt 1 won without a hedge: call-free increments (see _atomic).
            if atomic:
                tally.calls += 1
                tally.attempts += 1
                wins[0] += 1
            else:
                hedge._count(1, 0)
            return result  # type: ignore[no-any-return]

        return guarded

    def _queue_for(self, loop: asyncio.AbstractEventLoop) -> RaceQueue:
        """Return this loop's queue for the current delay (a new one when it changed)."""
        delay = self._current
        with self._lock:
            queue = self._queues.get(loop)
            if queue is None or queue.delay != delay:
                queue = RaceQueue(self._clock, loop, delay, direct=self._real_clock)
                self._queues[loop] = queue
        self._queue = queue
        return queue

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
                        self._count(launched, index)
                        return future.result()
                    last_error, failed = error, True
                if hedge_left and (fired or failed):
                    reason = "delay" if fired else "failure"
                    self._started(launched, clock.monotonic() - start, reason)
                    pending.add(launch())
            self._count(launched, -1)
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

    def stats(self) -> HedgeSnapshot:
        """Return calls, attempts, hedges, wins by attempt index and the current delay."""
        with self._lock:
            tally = self._tally
            return HedgeSnapshot(
                kind=self.kind,
                name=self.name,
                calls=tally.calls,
                attempts=tally.attempts,
                hedges=tally.attempts - tally.calls,
                failures=tally.failures,
                cancelled=tally.cancelled,
                wins_by_attempt=list(tally.wins),
                hedge_wins=sum(tally.wins[1:]),
                current_delay=self._current,
                samples=len(self._ring),
            )

    def __repr__(self) -> str:
        return f"Hedge(name={self.name!r}, delay={self._current:g})"
