"""One set of units: durations are seconds (a ``timedelta`` is accepted too).

>>> from datetime import timedelta
>>> as_seconds(timedelta(minutes=1, milliseconds=500)), as_seconds(2), as_seconds(None)
(60.5, 2, None)
"""

from __future__ import annotations

from datetime import timedelta
from typing import TypeVar

__all__ = ["as_seconds"]

T = TypeVar("T")


def as_seconds(value: T | timedelta) -> T | float:
    """Return a ``timedelta`` as float seconds; anything else unchanged (for validation)."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value
