"""Calling-convention drivers for contract tests: one body, every driver."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = ["DRIVER_MODES", "Driver"]


class Driver:
    """Runs a callee through a policy in one of the public calling conventions.

    Contract tests take the ``driver`` fixture so one test body checks the sync and
    the async drivers alike.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode

    def __repr__(self) -> str:
        return self.mode

    @property
    def is_async(self) -> bool:
        return self.mode.startswith("async")

    def run(self, policy: Any, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.mode == "sync_call":
            return policy.call(fn, *args, **kwargs)
        if self.mode == "sync_decorator":
            return policy(fn)(*args, **kwargs)

        async def afn(*a: Any, **k: Any) -> Any:
            return fn(*a, **k)

        if self.mode == "async_execute":
            return asyncio.run(policy.execute(afn, *args, **kwargs))
        if self.mode == "async_execute_sync_callee":
            return asyncio.run(policy.execute(fn, *args, **kwargs))
        return asyncio.run(policy(afn)(*args, **kwargs))


DRIVER_MODES = [
    "sync_call",
    "sync_decorator",
    "async_execute",
    "async_execute_sync_callee",
    "async_decorator",
]
