"""What happens after a first attempt failed, stated once as a generator of steps.

:func:`retry_steps` asks :class:`~rebellion.policies._retry_core.RetryCore` what to do
after each failed attempt (re-raise, give up, or retry after a delay) and yields the
steps that carry it out: hooks, a sleep, another attempt. The driver template
(:mod:`rebellion._driver.steps`) performs them on a thread or in a task. Entered only
after a failure, so the success path of ``Retry`` never pays for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from .._driver.steps import ATTEMPT, Call, Steps, drive_async, drive_sync
from ._retry_core import ACCEPTED, RetryCore

__all__ = ["retry_async", "retry_steps", "retry_sync"]

T = TypeVar("T")


def retry_steps(
    core: RetryCore,
    error: BaseException | None,
    result: Any,
    hint: float | None,
    started: float | None,
) -> Steps:
    """Yield the steps that retry a failed first attempt until success or a stop."""
    clock = core.clock
    now = clock.monotonic()
    if started is None:
        started = now
    attempt = 1
    previous: float | None = None
    try:
        while True:
            state, reason, previous = core.after_failure(
                attempt, error, result, hint, now - started, previous
            )
            if reason is not None:
                exhausted = core.give_up(state, reason)
                if core.on_give_up is not None:
                    yield Call(core.on_give_up, state, "on_give_up")
                raise exhausted from error
            if core.before_sleep is not None:
                yield Call(core.before_sleep, state, "before_sleep")
            if state.delay > 0.0:
                yield state.delay
            if core.on_retry is not None:
                yield Call(core.on_retry, state, "on_retry")
            attempt += 1
            error, result = yield ATTEMPT
            if error is None:
                retry, hint = core.judge_result(result) if core.checks_results else ACCEPTED
                if not retry:
                    core.succeeded(attempt, started)
                    break
            else:
                hint = None
            now = clock.monotonic()
    except BaseException:
        core.count(False)
        raise
    core.count(True)
    return result


def retry_sync(
    core: RetryCore,
    fn: Callable[..., T],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    error: BaseException | None,
    result: Any,
    hint: float | None,
    started: float | None,
) -> T:
    """Retry after a failed first attempt, sleeping on the thread."""
    steps = retry_steps(core, error, result, hint, started)
    outcome: T = drive_sync(steps, fn, args, kwargs, core.clock.sleep)
    return outcome


async def retry_async(
    core: RetryCore,
    fn: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    error: BaseException | None,
    result: Any,
    hint: float | None,
    started: float | None,
) -> Any:
    """Retry after a failed first attempt, in the current task."""
    steps = retry_steps(core, error, result, hint, started)
    return await drive_async(steps, fn, args, kwargs, core.clock.sleep_async)
