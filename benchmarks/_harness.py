"""A small, honest measurement core for side-by-side micro-benchmarks.

Each contender describes one operation as an :class:`Op` (what to call, with what, and
what must come out). The harness derives both the timed loop and the one-off check
from that same description, so a benchmark that measures nothing (a breaker that
rejects when it should run, a retry that swallows the error) fails loudly instead of
reporting a flattering number.

Measurement: every contender runs ``N`` operations per round (``N`` calibrated so a
round takes ~25 ms); rounds interleave the contenders of a group in a freshly
shuffled order; the garbage collector is off inside a round and collected between
rounds; the median and inter-quartile range of ns/op across rounds are reported.
Async operations run as a loop inside *one* coroutine per round on *one* event loop
for the whole process, so no per-call loop or task overhead leaks into the figures.

>>> op = Op(fn=abs, args=(-2,), returns=2)
>>> verify(op, Runner())
>>> m = measure_group([Prepared("abs", "python", op)], Runner(), Settings(smoke=True))
>>> m[0].median_ns > 0
True
"""

from __future__ import annotations

import asyncio
import gc
import random
import statistics
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from itertools import repeat
from typing import Any

__all__ = [
    "Measurement",
    "Op",
    "Prepared",
    "Runner",
    "Settings",
    "Unavailable",
    "VerificationError",
    "measure_group",
    "verify",
]

_UNSET: Any = object()


class Unavailable(Exception):
    """A contender cannot run here (library missing, API absent, mode unsupported)."""


class VerificationError(AssertionError):
    """A contender's operation did not do what it claims to measure."""


@dataclass(frozen=True, slots=True)
class Op:
    """One operation, as called once per iteration of the timed loop.

    Attributes:
        fn: what the loop calls: ``fn(*args)`` (awaited when ``is_async``).
        args: one or two positional arguments (specialised loops, no ``*args`` cost).
        is_async: whether ``fn(*args)`` returns an awaitable to await.
        returns: the value one operation must return (unset: not checked).
        raises: the exception type one operation must raise (the loop catches it).
        probe: returns how many times the callee ran so far (for ``calls_per_op``).
        calls_per_op: how many callee runs one operation must cause.
        reset: brings stateful callees back to their initial state before a check.
        tidy: runs after every timed batch, outside the clock, to undo state a
            contender accumulates (e.g. a leak) so it cannot slow the rest of the run.
    """

    fn: Callable[..., Any]
    args: tuple[Any, ...]
    is_async: bool = False
    returns: Any = _UNSET
    raises: type[BaseException] | None = None
    probe: Callable[[], int] | None = None
    calls_per_op: int | None = None
    reset: Callable[[], None] | None = None
    tidy: Callable[[], None] | None = None


@dataclass(frozen=True, slots=True)
class Prepared:
    """A built contender: its display name, owning library and operation."""

    name: str
    library: str
    op: Op


@dataclass(frozen=True, slots=True)
class Settings:
    """How hard to measure.

    Attributes:
        smoke: run a handful of iterations per contender, just to prove each works.
        rounds: timed rounds per contender (interleaved with the group's others).
        round_ms: wall time one round of one contender should take after calibration.
        seed: seed of the per-round shuffle, for reproducible orders.
    """

    smoke: bool = False
    rounds: int = 15
    round_ms: float = 25.0
    seed: int = 2024


@dataclass(slots=True)
class Measurement:
    """The timings of one contender: ns/op of every round."""

    prepared: Prepared
    iterations: int
    per_op_ns: list[float] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The contender's display name."""
        return self.prepared.name

    @property
    def mode(self) -> str:
        """``"async"`` or ``"sync"``."""
        return "async" if self.prepared.op.is_async else "sync"

    @property
    def median_ns(self) -> float:
        """Median ns per operation across rounds."""
        return statistics.median(self.per_op_ns)

    @property
    def iqr_ns(self) -> float:
        """Inter-quartile range of ns per operation across rounds (0 with < 2 rounds)."""
        if len(self.per_op_ns) < 2:
            return 0.0
        q1, _, q3 = statistics.quantiles(self.per_op_ns, n=4, method="inclusive")
        return q3 - q1


class Runner:
    """Runs sync and async work; owns the one event loop of the process."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run ``coro`` to completion on the shared event loop and return its result."""
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        return self._loop.run_until_complete(coro)

    def close(self) -> None:
        """Close the shared event loop (if one was opened)."""
        if self._loop is not None:
            self._loop.close()
            self._loop = None


# -- timed loops: one specialised closure per shape, so every contender pays the same ----


def _sync_loop(op: Op) -> Callable[[int], None]:
    fn, exc = op.fn, op.raises
    if len(op.args) == 1:
        (a,) = op.args
        if exc is None:

            def loop1(n: int) -> None:
                for _ in repeat(None, n):
                    fn(a)

            return loop1

        def loop1_raising(n: int) -> None:
            for _ in repeat(None, n):
                try:
                    fn(a)
                except exc:
                    pass

        return loop1_raising
    a, b = op.args
    if exc is None:

        def loop2(n: int) -> None:
            for _ in repeat(None, n):
                fn(a, b)

        return loop2

    def loop2_raising(n: int) -> None:
        for _ in repeat(None, n):
            try:
                fn(a, b)
            except exc:
                pass

    return loop2_raising


def _async_loop(op: Op) -> Callable[[int], Awaitable[None]]:
    fn, exc = op.fn, op.raises
    if len(op.args) == 1:
        (a,) = op.args
        if exc is None:

            async def loop1(n: int) -> None:
                for _ in repeat(None, n):
                    await fn(a)

            return loop1

        async def loop1_raising(n: int) -> None:
            for _ in repeat(None, n):
                try:
                    await fn(a)
                except exc:
                    pass

        return loop1_raising
    a, b = op.args
    if exc is None:

        async def loop2(n: int) -> None:
            for _ in repeat(None, n):
                await fn(a, b)

        return loop2

    async def loop2_raising(n: int) -> None:
        for _ in repeat(None, n):
            try:
                await fn(a, b)
            except exc:
                pass

    return loop2_raising


def _timer(op: Op, runner: Runner) -> Callable[[int], int]:
    """Return ``time(n) -> elapsed ns`` for ``n`` operations, gc off while timing."""
    clock = time.perf_counter_ns
    tidy = op.tidy if op.tidy is not None else _nothing
    if not op.is_async:
        loop = _sync_loop(op)

        def time_sync(n: int) -> int:
            gc.collect()
            gc.disable()
            try:
                started = clock()
                loop(n)
                return clock() - started
            finally:
                gc.enable()
                tidy()

        return time_sync
    aloop = _async_loop(op)

    async def timed(n: int) -> int:
        started = clock()
        await aloop(n)
        return clock() - started

    def time_async(n: int) -> int:
        gc.collect()
        gc.disable()
        try:
            elapsed: int = runner.run(timed(n))
            return elapsed
        finally:
            gc.enable()
            tidy()

    return time_async


def _nothing() -> None:
    pass


# -- verification -----------------------------------------------------------------


def _describe(value: object) -> str:
    if isinstance(value, BaseException):
        return f"{type(value).__module__}.{type(value).__qualname__}: {value}"
    return repr(value)


def verify(op: Op, runner: Runner) -> None:
    """Run ``op`` once and check its outcome and callee calls.

    Raises:
        VerificationError: the result, the exception or the number of callee calls
            differs from what ``op`` declares.
    """
    if op.reset is not None:
        op.reset()
    before = op.probe() if op.probe is not None else 0
    outcome: object
    try:
        result = op.fn(*op.args)
        outcome = runner.run(_await(result)) if op.is_async else result
    except BaseException as error:  # any outcome is data here
        if isinstance(error, KeyboardInterrupt):
            raise
        outcome = error
    if op.raises is not None:
        if not isinstance(outcome, op.raises):
            raise VerificationError(
                f"expected {op.raises.__qualname__} to be raised, got {_describe(outcome)}"
            )
    elif isinstance(outcome, BaseException):
        raise VerificationError(f"expected a result, got {_describe(outcome)}") from outcome
    elif op.returns is not _UNSET and outcome != op.returns:
        raise VerificationError(f"expected {op.returns!r}, got {outcome!r}")
    if op.probe is not None and op.calls_per_op is not None:
        calls = op.probe() - before
        if calls != op.calls_per_op:
            raise VerificationError(
                f"expected the callee to run {op.calls_per_op} time(s) per operation, "
                f"it ran {calls} time(s)"
            )
    if op.reset is not None:
        op.reset()


async def _await(value: Awaitable[Any]) -> Any:
    return await value


# -- measurement --------------------------------------------------------------------

_SMOKE_ITERATIONS = 50
_MAX_ITERATIONS = 20_000_000


def _calibrate(time_n: Callable[[int], int], round_ns: float) -> int:
    """Find ``N`` so that ``time_n(N)`` takes about ``round_ns`` (also warms up)."""
    n = 1
    while True:
        elapsed = time_n(n)
        if elapsed >= round_ns / 10 or n >= _MAX_ITERATIONS:
            break
        # Grow fast but not past ~2x what the estimate asks for.
        n = min(_MAX_ITERATIONS, max(n * 2, int(n * (round_ns / 5) / max(elapsed, 1))))
    return max(1, min(_MAX_ITERATIONS, int(n * round_ns / max(elapsed, 1))))


def measure_group(
    contenders: list[Prepared], runner: Runner, settings: Settings
) -> list[Measurement]:
    """Measure ``contenders`` against each other in interleaved rounds.

    Every contender is verified before and after timing (a breaker that opened
    mid-benchmark, for example, fails the second check).

    Args:
        contenders: built contenders of one group.
        runner: owner of the shared event loop.
        settings: rounds, round length, smoke mode, shuffle seed.

    Returns:
        One :class:`Measurement` per contender, in the given order.

    Raises:
        VerificationError: a contender's operation misbehaved.
    """
    for prepared in contenders:
        _checked(prepared, runner)
    timers = [_timer(p.op, runner) for p in contenders]
    if settings.smoke:
        sizes = [_SMOKE_ITERATIONS] * len(contenders)
        rounds = 2
    else:
        round_ns = settings.round_ms * 1e6
        try:
            sizes = [_calibrate(t, round_ns) for t in timers]
            for t, n in zip(timers, sizes, strict=True):
                t(n)  # warm-up round at full size, discarded
        except Exception as error:
            raise VerificationError(f"raised {_describe(error)} while calibrating") from error
        rounds = settings.rounds
    results = [Measurement(p, n) for p, n in zip(contenders, sizes, strict=True)]
    order = list(range(len(contenders)))
    shuffle = random.Random(settings.seed).shuffle
    for _ in range(rounds):
        shuffle(order)
        for i in order:
            try:
                elapsed = timers[i](sizes[i])
            except Exception as error:  # the op changed behaviour mid-run
                p = contenders[i]
                raise VerificationError(
                    f"{p.name} ({p.library}): raised {_describe(error)} while being timed"
                ) from error
            results[i].per_op_ns.append(elapsed / sizes[i])
    for prepared in contenders:
        _checked(prepared, runner)
    return results


def _checked(prepared: Prepared, runner: Runner) -> None:
    try:
        verify(prepared.op, runner)
    except VerificationError as error:
        raise VerificationError(f"{prepared.name} ({prepared.library}): {error}") from error
