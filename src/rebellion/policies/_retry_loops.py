"""The two retry loops: what happens after a first attempt failed.

Both loops ask :class:`~rebellion.policies._retry_core.RetryCore` what to do after each
failed attempt (re-raise, give up, or retry after a delay) and only act on the answer:
run hooks, sleep on the clock, call the function again. They differ only in ``await``.
Entered only after a failure, so the success path of ``Retry`` never pays for them.
"""

from __future__ import annotations

from collections.abc import Callable
from inspect import isawaitable
from types import CoroutineType
from typing import Any, TypeVar

from ._retry_core import ACCEPTED, RetryCore, run_hook_async, run_hook_sync

__all__ = ["retry_async", "retry_sync"]

T = TypeVar("T")
_Coro = CoroutineType


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
    """Retry after a failed first attempt until success or a stop, sleeping on the thread."""
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
                    run_hook_sync(core.on_give_up, state, "on_give_up")
                raise exhausted from error
            if core.before_sleep is not None:
                run_hook_sync(core.before_sleep, state, "before_sleep")
            if state.delay > 0.0:
                clock.sleep(state.delay)
            if core.on_retry is not None:
                run_hook_sync(core.on_retry, state, "on_retry")
            attempt += 1
            try:
                result = fn(*args, **kwargs)
            except BaseException as exc:
                error, result, hint = exc, None, None
            else:
                error = None
                retry, hint = core.judge_result(result) if core.checks_results else ACCEPTED
                if not retry:
                    core.succeeded(attempt, started)
                    break
            now = clock.monotonic()
    except BaseException:
        core.count(False)
        raise
    core.count(True)
    return result  # type: ignore[no-any-return]


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
    """Retry after a failed first attempt until success or a stop, in the current task."""
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
                    await run_hook_async(core.on_give_up, state)
                raise exhausted from error
            if core.before_sleep is not None:
                await run_hook_async(core.before_sleep, state)
            if state.delay > 0.0:
                await clock.sleep_async(state.delay)
            if core.on_retry is not None:
                await run_hook_async(core.on_retry, state)
            attempt += 1
            try:
                result = fn(*args, **kwargs)
                if type(result) is _Coro or isawaitable(result):
                    result = await result
            except BaseException as exc:
                error, result, hint = exc, None, None
            else:
                error = None
                retry, hint = core.judge_result(result) if core.checks_results else ACCEPTED
                if not retry:
                    core.succeeded(attempt, started)
                    break
            now = clock.monotonic()
    except BaseException:
        core.count(False)
        raise
    core.count(True)
    return result
