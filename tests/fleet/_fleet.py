"""Helpers for fleet tests: poll a condition with a generous deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

__all__ = ["eventually", "eventually_async"]


def eventually(
    check: Callable[[], T], timeout: float = 30.0, what: str | Callable[[], str] = "condition"
) -> T:
    """Return ``check()`` once it is truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            told = what() if callable(what) else what
            raise AssertionError(f"{told} never held (last: {value!r})")
        time.sleep(0.05)


async def eventually_async(
    check: Callable[[], Awaitable[T] | T], within: float = 30.0, what: str = "condition"
) -> T:
    """Like :func:`eventually`, for the event loop; ``check`` may be a coroutine function."""
    deadline = time.monotonic() + within
    while True:
        value = check()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never held (last: {value!r})")
        await asyncio.sleep(0.05)
