"""The async side of :class:`~rebellion.policies.hedge.Hedge`: attempt 1 runs inline.

Racing every first attempt as a task against a timer of its own costs ~18 us a call (a
task, a timer handle and ``asyncio.wait``), and most calls never hedge. So attempt 1 is
awaited in the caller's own task, like a Timeout's cancel scope, and its hedge deadline
waits in a :class:`RaceQueue`: calls that share a delay reach their deadlines in the
order they started, so one armed timer per event loop and delay serves all of them.

Only when that deadline passes (or attempt 1 fails) does a call become a
:class:`Hedging`: hedges run as tasks in a copy of the caller's context. If a hedge
succeeds while attempt 1 still runs, the caller's task is cancelled to interrupt
attempt 1 at its current ``await``, and that cancellation becomes the hedge's result;
``uncancel()`` restores the caller's cancel count and a cancellation from outside still
propagates (the rule ``asyncio.timeout`` follows).

Everything here runs on the event loop's thread: the timers of a non-system clock,
which may fire on another thread, hop onto the loop first.

>>> import asyncio
>>> from rebellion.testing import ManualClock
>>> queue = RaceQueue(ManualClock(), None, 0.5, direct=True)
>>> (queue.delay, len(queue))
(0.5, 0)
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from inspect import isawaitable
from types import CoroutineType
from typing import TYPE_CHECKING, Any, final

from .._clock import Clock, TimerHandle
from ._deadlines import DeadlineQueue

CANCELLED = -2
"""The ``winner`` of a call cancelled from outside before any attempt won."""

if TYPE_CHECKING:  # pragma: no cover
    from .hedge import Hedge

__all__ = ["Hedging", "Race", "RaceQueue", "on_loop"]


def on_loop(
    loop: asyncio.AbstractEventLoop | None, callback: Callable[[], object], direct: bool
) -> Callable[[], object]:
    """Return ``callback`` itself (system clock) or a hop onto ``loop`` (any other clock)."""
    if direct or loop is None:
        return callback

    def hop() -> None:
        if not loop.is_closed():
            loop.call_soon_threadsafe(callback)

    return hop


async def _attempt(fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    result = fn(*args, **kwargs)
    if type(result) is CoroutineType or isawaitable(result):
        result = await result
    return result


@final
class Race:
    """One async call whose first attempt runs inline in the caller's ``task``."""

    __slots__ = (
        "args",
        "context",
        "deadline",
        "done",
        "fn",
        "hedge",
        "hedging",
        "kwargs",
        "loop",
        "start",
        "task",
    )

    def __init__(
        self,
        hedge: Hedge,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        task: asyncio.Task[Any] | None,
        start: float,
    ) -> None:
        self.hedge = hedge
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.context = contextvars.copy_context()
        self.task = task
        self.start = start
        self.deadline = start
        self.done = False
        self.hedging: Hedging | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    def expire(self) -> None:
        """The delay passed while attempt 1 still runs (the deadline queue's callback)."""
        assert self.loop is not None
        self.expired(self.loop)

    def expired(self, loop: asyncio.AbstractEventLoop) -> None:
        """The delay passed while attempt 1 still runs: start the first hedge."""
        if self.hedging is None:
            self.hedging = Hedging(self, loop, inline=True)
        self.hedging.launch("delay")

    async def first_succeeded(self, value: Any, cancelling: int) -> Any:
        """Attempt 1 returned ``value`` after hedges started: settle and return the winner's."""
        hedging = self.hedging
        assert hedging is not None
        assert self.task is not None
        hedging.inline = False
        if hedging.interrupted:
            # A hedge won and attempt 1 swallowed our cancel: withdraw the request.
            self.task.uncancel()
        elif not hedging.settled:
            hedging.win(0, self.start, value)
        await hedging.close()
        return hedging.value

    async def first_failed(
        self, error: BaseException, cancelling: int, loop: asyncio.AbstractEventLoop
    ) -> Any:
        """Attempt 1 raised ``error``: interrupted by a winner, cancelled, or failed."""
        hedging = self.hedging
        if hedging is not None:
            hedging.inline = False
            if hedging.interrupted:
                assert self.task is not None
                outside = self.task.uncancel() > cancelling
                if outside and isinstance(error, asyncio.CancelledError):
                    await hedging.close()
                    raise error  # cancelled from outside as well: that wins
                await hedging.close()
                return hedging.value
        if not isinstance(error, Exception):  # cancelled from outside, KeyboardInterrupt...
            if hedging is not None:
                hedging.abandon()
                await hedging.close()
            else:
                self.hedge._count(1, CANCELLED)
            raise error
        if hedging is None:
            hedging = self.hedging = Hedging(self, loop, inline=False)
        return await hedging.failed(error)


@final
class Hedging:
    """The hedges of one :class:`Race`, once its delay passed or attempt 1 failed."""

    __slots__ = (
        "error",
        "inline",
        "interrupted",
        "launched",
        "loop",
        "race",
        "running",
        "settled",
        "timer",
        "value",
        "waker",
        "winner",
    )

    def __init__(self, race: Race, loop: asyncio.AbstractEventLoop, *, inline: bool) -> None:
        self.race = race
        self.loop = loop
        self.launched = 1  # attempt 1, inline
        self.running: dict[asyncio.Task[Any], tuple[int, float]] = {}
        self.inline = inline
        self.settled = False
        self.interrupted = False
        self.winner = -1
        self.value: Any = None
        self.error: BaseException | None = None
        self.waker: asyncio.Future[None] | None = None
        self.timer: TimerHandle | None = None

    def launch(self, reason: str) -> None:
        """Start the next attempt as a task; arm the delay for the one after it."""
        race = self.race
        hedge = race.hedge
        clock: Clock = hedge._clock
        index = self.launched
        self.launched += 1
        now = clock.monotonic()
        hedge._started(index, now - race.start, reason)
        task = self.loop.create_task(
            _attempt(race.fn, race.args, race.kwargs), context=race.context.copy()
        )
        self.running[task] = (index, now)
        task.add_done_callback(self._finished)
        if self.launched <= hedge.max_hedged_attempts:
            fire = functools.partial(self._delay_passed, self.launched)
            self.timer = clock.call_later(
                hedge._current, on_loop(self.loop, fire, hedge._real_clock)
            )

    def _delay_passed(self, launched: int) -> None:
        # A failure may have launched the next attempt first (and re-armed): then stale.
        if not self.settled and launched == self.launched:
            self.timer = None
            self.launch("delay")

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _finished(self, task: asyncio.Task[Any]) -> None:
        index, began = self.running.pop(task)
        if self.settled:
            return
        error = asyncio.CancelledError() if task.cancelled() else task.exception()
        if error is None:
            self.win(index, began, task.result())
            return
        self.error = error
        if self.launched <= self.race.hedge.max_hedged_attempts:
            self._disarm()
            self.launch("failure")
        elif not self.running and not self.inline:
            self._give_up()

    def win(self, index: int, began: float, value: Any) -> None:
        """Attempt ``index`` succeeded first: record it and stop attempt 1 or wake the caller."""
        self.settled = True
        self.winner, self.value = index, value
        self._disarm()
        hedge = self.race.hedge
        hedge._won(index, hedge._clock.monotonic() - began)
        hedge._count(self.launched, index)
        if self.inline:
            assert self.race.task is not None
            self.interrupted = True
            self.race.task.cancel()
        else:
            self._wake()

    def abandon(self) -> None:
        """The caller was cancelled from outside before any attempt won: count it so."""
        if not self.settled:
            self.settled = True
            self._disarm()
            self.race.hedge._count(self.launched, CANCELLED)

    def _give_up(self) -> None:
        self.settled = True
        self._disarm()
        self.race.hedge._count(self.launched, -1)
        self._wake()

    def _wake(self) -> None:
        waker = self.waker
        if waker is not None and not waker.done():
            waker.set_result(None)

    async def failed(self, error: BaseException) -> Any:
        """Attempt 1 failed with ``error``: hedge at once, then wait for the outcome."""
        self.error = error
        if self.launched <= self.race.hedge.max_hedged_attempts:
            self._disarm()
            self.launch("failure")
        if not self.running and not self.settled:
            self._give_up()
        if not self.settled:
            self.waker = self.loop.create_future()
            try:
                await self.waker
            except BaseException:
                self.abandon()
                await self.close()
                raise
        await self.close()
        if self.winner >= 0:
            return self.value
        assert self.error is not None
        raise self.error

    async def close(self) -> None:
        """Stop the delay, cancel the attempts still running and wait for them to end."""
        self.settled = True
        self._disarm()
        losers = [task for task in self.running if not task.done()]
        for loser in losers:
            loser.cancel()
        if losers:
            await asyncio.gather(*losers, return_exceptions=True)


@final
class RaceQueue(DeadlineQueue):
    """First-hedge deadlines of one event loop and one delay, in the order they fall due."""

    __slots__ = ("delay", "loop")

    def __init__(
        self, clock: Clock, loop: asyncio.AbstractEventLoop | None, delay: float, *, direct: bool
    ) -> None:
        super().__init__(clock, lambda fire: on_loop(loop, fire, direct))
        self.loop = loop
        self.delay = delay

    def open_race(self, race: Race) -> None:
        """Hedge ``race`` after this queue's delay unless it is closed first."""
        race.deadline = race.start + self.delay
        race.loop = self.loop
        self.add(race, self.delay)
