"""The template of policies that decide in steps: a generator decides, two drivers act.

Like tenacity's ``iter()``, a policy states its decisions once as a generator of
*steps*; :func:`drive_sync` and :func:`drive_async` perform them, the only difference
between the two being ``await``:

* :data:`ATTEMPT`: call the callee again; the driver sends back ``(error, result)``;
* a ``float``: sleep that many seconds on the policy's clock;
* a :class:`Call`: call a user hook with one argument (awaited when async).

The generator's return value is the call's result; whatever it raises is the call's
error. An error of a sleep or a hook is thrown into the generator at its step, so the
policy sees (and counts) it like any other ending.

>>> from rebellion.testing import ManualClock
>>> def twice():
...     error, result = yield ATTEMPT
...     yield 0.5
...     error, result = yield ATTEMPT
...     return result * 2
>>> clock = ManualClock()
>>> drive_sync(twice(), lambda: 21, (), {}, clock.sleep), clock.sleeps
(42, [0.5])
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from inspect import isawaitable
from types import CoroutineType
from typing import Any, Final, NamedTuple, final

__all__ = ["ATTEMPT", "Call", "Steps", "drive_async", "drive_sync"]

_Coro = CoroutineType


@final
class _Attempt:
    __slots__ = ()

    def __repr__(self) -> str:
        return "ATTEMPT"


ATTEMPT: Final = _Attempt()
"""The step that runs the callee once more."""


@final
class Call(NamedTuple):
    """The step that calls ``hook(argument)``; ``parameter`` names the hook in errors."""

    hook: Callable[[Any], object]
    argument: object
    parameter: str


Steps = Generator[object, Any, Any]
"""A policy's decisions: yields steps, receives ``(error, result)`` after an attempt."""


def _call_sync(step: Call) -> None:
    outcome = step.hook(step.argument)
    if isawaitable(outcome):
        close = getattr(outcome, "close", None)
        if close is not None:
            close()
        raise TypeError(
            f"{step.parameter} returned an awaitable, but the guarded function is sync; "
            "use a plain function as the hook, or guard an async function"
        )


def drive_sync(
    steps: Steps,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    sleep: Callable[[float], object],
) -> Any:
    """Perform ``steps`` on the calling thread; return what the generator returns."""
    reply: Any = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration as done:
            return done.value
        if step is ATTEMPT:
            try:
                reply = (None, fn(*args, **kwargs))
            except BaseException as error:
                reply = (error, None)
            continue
        reply = None
        try:
            if type(step) is float:
                sleep(step)
            else:
                _call_sync(step)  # type: ignore[arg-type]
        except BaseException as error:
            steps.throw(error)  # the policy ends the call (its generator re-raises)
            raise


async def drive_async(
    steps: Steps,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    sleep: Callable[[float], Awaitable[object]],
) -> Any:
    """Perform ``steps`` in the current task; return what the generator returns."""
    reply: Any = None
    while True:
        try:
            step = steps.send(reply)
        except StopIteration as done:
            return done.value
        if step is ATTEMPT:
            try:
                result = fn(*args, **kwargs)
                if type(result) is _Coro or isawaitable(result):
                    result = await result
                reply = (None, result)
            except BaseException as error:
                reply = (error, None)
            continue
        reply = None
        try:
            if type(step) is float:
                await sleep(step)
            else:
                outcome = step.hook(step.argument)  # type: ignore[attr-defined]
                if isawaitable(outcome):
                    await outcome
        except BaseException as error:
            steps.throw(error)
            raise
