"""Module-level handlers the durable-queue tests enqueue by import path."""

from __future__ import annotations

import json
import os
from pathlib import Path

__all__ = ["append_line", "async_echo", "boom", "echo"]


def echo(*args: object, **kwargs: object) -> object:
    """Return what it was given."""
    return [args, kwargs]


async def async_echo(*args: object, **kwargs: object) -> object:
    """Return what it was given, asynchronously."""
    return [args, kwargs]


def boom(message: str = "boom") -> None:
    """Always fail."""
    raise ValueError(message)


def append_line(path: str, value: object) -> None:
    """Append ``value`` as a JSON line to ``path`` and fsync (crash tests read it back)."""
    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps(value) + "\n")
        out.flush()
        os.fsync(out.fileno())
    Path(path).touch()
