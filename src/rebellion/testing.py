"""Public test helpers: virtual time, event recording and a scriptable flaky callee.

>>> clock = ManualClock()
>>> clock.sleep(2.5)           # auto-advance: returns at once, time moves on
>>> clock.monotonic(), clock.sleeps
(2.5, [2.5])
>>> fired = []
>>> _ = clock.call_later(1.0, lambda: fired.append(clock.monotonic()))
>>> clock.advance(3)
>>> fired
[3.5]
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import threading
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar, final

from ._events import Event
from .errors import ConfigError

__all__ = ["FlakyCallable", "ManualClock", "RecordingListener"]

E = TypeVar("E", bound=Event)


@final
class _Timer:
    __slots__ = ("callback", "cancelled", "due")

    def __init__(self, due: float, callback: Callable[[], object]) -> None:
        self.due = due
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


@final
class ManualClock:
    """Virtual time for tests: nothing moves until you (or a sleeper) advance it.

    Args:
        start: initial monotonic reading.
        wall_start: wall-clock reading that corresponds to ``start``.
        auto_advance: if true (the default), ``sleep``/``sleep_async`` move time forward
            by the requested delay themselves, so sequential code (retries, backoff)
            runs instantly. If false, sleepers wait until :meth:`advance` moves time
            past their deadline: use this to drive many concurrent tasks or threads.

    Every requested sleep is recorded in :attr:`sleeps`. Callbacks scheduled with
    :meth:`call_later` run in due order, with :meth:`monotonic` reading their due time.
    """

    def __init__(
        self, start: float = 0.0, *, wall_start: float = 1_700_000_000.0, auto_advance: bool = True
    ) -> None:
        self._now = float(start)
        self._wall_offset = float(wall_start) - float(start)
        self.auto_advance = auto_advance
        self.sleeps: list[float] = []
        self._timers: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition(threading.RLock())

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._now + self._wall_offset

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing due timers and waking due sleepers."""
        if seconds < 0:
            raise ConfigError("seconds", "a number >= 0 (time never runs backwards)", seconds)
        self._advance_to(self._now + seconds)

    async def advance_async(self, seconds: float, *, settle: int = 5) -> None:
        """Advance, then yield to the event loop ``settle`` times so woken tasks run."""
        self.advance(seconds)
        for _ in range(settle):
            await asyncio.sleep(0)

    def _advance_to(self, target: float) -> None:
        while True:
            with self._cond:
                if not self._timers or self._timers[0][0] > target:
                    self._now = max(self._now, target)
                    self._cond.notify_all()
                    return
                due, _, timer = heapq.heappop(self._timers)
                self._now = max(self._now, due)
                self._cond.notify_all()
            if not timer.cancelled:
                timer.callback()

    def call_later(self, delay: float, callback: Callable[[], object]) -> _Timer:
        timer = _Timer(self._now + max(0.0, delay), callback)
        with self._cond:
            heapq.heappush(self._timers, (timer.due, next(self._seq), timer))
        return timer

    def next_due(self) -> float | None:
        """Return when the earliest live scheduled callback is due, or ``None``."""
        with self._cond:
            while self._timers and self._timers[0][2].cancelled:
                heapq.heappop(self._timers)
            return self._timers[0][0] if self._timers else None

    @property
    def pending_timers(self) -> int:
        """How many scheduled callbacks (including sleepers) are still waiting."""
        with self._cond:
            return sum(1 for _, _, t in self._timers if not t.cancelled)

    def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            return
        self.sleeps.append(seconds)
        if self.auto_advance:
            self.advance(seconds)
            return
        deadline = self._now + seconds
        with self._cond:
            while self._now < deadline:
                self._cond.wait()

    async def sleep_async(self, seconds: float) -> None:
        if seconds <= 0:
            return
        self.sleeps.append(seconds)
        if self.auto_advance:
            self.advance(seconds)
            # Let callbacks fired by the jump (a timeout's cancel, say) take effect.
            await asyncio.sleep(0)
            return
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not future.done():
                loop.call_soon_threadsafe(_resolve, future)

        timer = self.call_later(seconds, wake)
        try:
            await future
        finally:
            timer.cancel()

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now!r}, auto_advance={self.auto_advance!r})"


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@final
class RecordingListener(Generic[E]):
    """A listener that keeps every event it receives, for assertions."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self._lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self._lock:
            self.events.append(event)

    def of_type(self, kind: type[E]) -> list[E]:
        """Return the recorded events that are instances of ``kind``."""
        with self._lock:
            return [e for e in self.events if isinstance(e, kind)]

    def names(self) -> list[str]:
        """Return the class names of the recorded events, in order."""
        with self._lock:
            return [type(e).__name__ for e in self.events]

    def clear(self) -> None:
        with self._lock:
            self.events.clear()


@final
class FlakyCallable:
    """A scripted callee: each call takes the next outcome from ``script``.

    An outcome that is an exception instance (or class) is raised; anything else is
    returned. When the script runs out, ``then`` is used for every further call.

    >>> flaky = FlakyCallable([ValueError("boom"), "ok"], then="steady")
    >>> try:
    ...     flaky()
    ... except ValueError:
    ...     pass
    >>> flaky(), flaky(), flaky.calls
    ('ok', 'steady', 3)
    """

    def __init__(self, script: Iterable[object], *, then: object = None) -> None:
        self._script = list(script)
        self._then = then
        self._lock = threading.Lock()
        self.calls = 0
        self.args: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def _next(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> object:
        with self._lock:
            self.args.append((args, kwargs))
            index = self.calls
            self.calls += 1
            outcome = self._script[index] if index < len(self._script) else self._then
        if isinstance(outcome, BaseException):
            raise outcome
        if isinstance(outcome, type) and issubclass(outcome, BaseException):
            raise outcome()
        return outcome

    def __call__(self, *args: Any, **kwargs: Any) -> object:
        return self._next(args, kwargs)

    async def async_call(self, *args: Any, **kwargs: Any) -> object:
        """The same script, as a coroutine function."""
        return self._next(args, kwargs)
