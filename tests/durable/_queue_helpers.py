"""Helpers for the durable queue tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["until"]


async def until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    """Wait (real time, for real SQLite writes) until ``predicate()`` holds."""
    async with asyncio.timeout(within):
        while not predicate():
            await asyncio.sleep(0.0005)
