"""Silences: label matchers with a start and an end, kept by the alert manager.

>>> book = SilenceBook()
>>> book.add(book.build({"host": "db1"}, 60.0, None, 10.0, "maintenance", "ops"))
>>> book.silenced({"host": "db1"}, 30.0), book.silenced({"host": "db1"}, 70.0)
(True, False)
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import final

from ..._validate import check_number
from ...errors import ConfigError
from ._model import Matcher, Silence, check_labels

__all__ = ["SilenceBook"]


def _matchers(value: object) -> tuple[Matcher, ...]:
    rule = "a non-empty {label: value} mapping or a non-empty list of Matcher"
    if isinstance(value, Mapping):
        labels = check_labels("matchers", value)
        items: tuple[object, ...] = tuple(Matcher(k, "=", v) for k, v in labels.items())
    elif isinstance(value, Iterable) and not isinstance(value, str | bytes):
        items = tuple(value)
    else:
        raise ConfigError("matchers", rule, value)
    if not items or not all(isinstance(m, Matcher) for m in items):
        raise ConfigError("matchers", rule, value)
    return items  # type: ignore[return-value]


@final
class SilenceBook:
    """The silences of one manager; callers hold the manager's lock."""

    def __init__(self) -> None:
        self._items: dict[str, Silence] = {}
        self._checked = -math.inf

    @staticmethod
    def build(
        matchers: object,
        duration: float | None,
        ends_at: float | None,
        starts_at: float,
        comment: str,
        created_by: str,
    ) -> Silence:
        """Validate the parts of a silence and return it (not yet added)."""
        found = _matchers(matchers)
        start = check_number("starts_at", starts_at)
        if (duration is None) == (ends_at is None):
            raise ConfigError("duration/ends_at", "exactly one of duration= or ends_at=", None)
        if duration is not None:
            end = start + check_number("duration", duration, minimum=0.0, exclusive_minimum=True)
        else:
            end = check_number("ends_at", ends_at, minimum=start, exclusive_minimum=True)
        if not isinstance(comment, str):
            raise ConfigError("comment", "a string", comment)
        if not isinstance(created_by, str):
            raise ConfigError("created_by", "a string", created_by)
        return Silence(uuid.uuid4().hex, found, start, end, comment, created_by)

    def add(self, silence: Silence) -> None:
        """Keep ``silence``."""
        self._items[silence.id] = silence

    def expire(self, silence_id: str, now: float) -> bool:
        """End ``silence_id`` at ``now``; return whether it was known."""
        silence = self._items.pop(silence_id, None)
        if silence is None:
            return False
        if silence.ends_at > now:
            self._items[silence_id] = dataclasses.replace(
                silence, starts_at=min(silence.starts_at, now), ends_at=now
            )
        return True

    def silenced(self, labels: Mapping[str, str], now: float) -> bool:
        """Return whether a silence in force at ``now`` matches ``labels``."""
        return any(s.active(now) and s.matches(labels) for s in self._items.values())

    def matcher_at(self, now: float) -> Callable[[Mapping[str, str]], bool]:
        """Return a ``labels -> silenced`` test for the silences in force at ``now``."""
        live = [s for s in self._items.values() if s.active(now)]
        if not live:
            return lambda labels: False
        return lambda labels: any(s.matches(labels) for s in live)

    def boundary_passed(self, now: float) -> bool:
        """Return whether a silence started or ended since the last call; drop ended ones."""
        last, self._checked = self._checked, now
        passed = any(
            last < s.starts_at <= now or last < s.ends_at <= now for s in self._items.values()
        )
        for key in [k for k, s in self._items.items() if s.ends_at <= now]:
            del self._items[key]
        return passed

    def next_boundary(self, now: float) -> float:
        """Return the next start or end of a silence after ``now``."""
        times = [t for s in self._items.values() for t in (s.starts_at, s.ends_at) if t > now]
        return min(times, default=math.inf)

    def current(self, now: float) -> list[Silence]:
        """Return the silences in force or still to start, by start time."""
        return sorted(
            (s for s in self._items.values() if s.ends_at > now), key=lambda s: s.starts_at
        )
