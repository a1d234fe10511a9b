"""The collector's simple alert list: raise, resolve, list active, notify callbacks.

This is the small hook the alerting engine (``rebellion.metrics.alerting``) builds on:
rules decide *when*; this book keeps *what is active* and tells the callbacks. An
:class:`Alert` is an :class:`~rebellion.Event`, so process-wide subscribers (the
dashboard) see alerts too. A callback that raises is logged once and skipped; one that
returns an awaitable is scheduled on the running loop.

>>> from rebellion.testing import ManualClock
>>> book = AlertBook("demo", ManualClock())
>>> seen = []
>>> _ = book.add_callback(seen.append)
>>> alert = book.create("disk_full", "critical", "disk / is 99% full")
>>> [a.name for a in book.active("error")], len(seen)
(['disk_full'], 1)
>>> book.resolve("disk_full").active, len(seen)
(False, 2)
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import final

from .._clock import Clock
from .._events import Event, EventStream
from .._validate import check_callable, check_name
from ..errors import ConfigError
from ._names import LabelValue
from .severity import AlertSeverity

__all__ = ["Alert", "AlertBook", "AlertCallback"]

_EMPTY: Mapping[str, str] = MappingProxyType({})


@final
@dataclass(frozen=True, slots=True)
class Alert(Event):
    """One alert: raised (``resolved_at`` is None) or resolved.

    Attributes:
        id: unique within the process, increasing.
        name: what is wrong (``"high_error_rate"``).
        severity: an :class:`AlertSeverity`.
        message: human-readable detail.
        labels: extra dimensions (``{"endpoint": "/api"}``); with ``name`` they identify
            the alert, so raising it again while active returns the same alert.
        resolved_at: wall time of resolution, or None while active.
    """

    id: int = 0
    name: str = ""
    severity: AlertSeverity = AlertSeverity.INFO
    message: str = ""
    labels: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    resolved_at: float | None = None

    @property
    def active(self) -> bool:
        """Whether the alert is still raised."""
        return self.resolved_at is None

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-ready dict (severity as its string value)."""
        return {
            "id": self.id,
            "source": self.source,
            "name": self.name,
            "severity": self.severity.value,
            "message": self.message,
            "labels": dict(self.labels),
            "at": self.at,
            "resolved_at": self.resolved_at,
            "active": self.active,
        }


AlertCallback = Callable[[Alert], object]
"""Receives every raised and resolved alert; may return an awaitable."""

_ids = itertools.count(1)


@final
class AlertBook:
    """Active alerts and a bounded history; thread-safe.

    Args:
        source: the owner's name, stamped on every alert.
        clock: gives the wall time of raising and resolving.
        history_size: how many resolved alerts to remember (>= 0).
    """

    __slots__ = ("_active", "_clock", "_history", "_lock", "_stream", "source")

    def __init__(self, source: str, clock: Clock, history_size: int = 1000) -> None:
        self.source = source
        self._clock = clock
        self._lock = threading.Lock()
        self._active: dict[tuple[str, tuple[tuple[str, str], ...]], Alert] = {}
        self._history: deque[Alert] = deque(maxlen=history_size)
        self._stream = EventStream(source)

    def add_callback(self, callback: AlertCallback) -> Callable[[], None]:
        """Call ``callback(alert)`` for every alert raised or resolved from now on.

        Returns:
            A function that removes the callback again.

        Raises:
            ConfigError: ``callback`` is not callable.
        """
        check_callable("callback", callback)
        return self._stream.subscribe(callback)  # type: ignore[arg-type]

    def create(
        self,
        name: str,
        severity: AlertSeverity | str,
        message: str = "",
        labels: Mapping[str, LabelValue] | None = None,
    ) -> Alert:
        """Raise an alert, or return the active one with the same name and labels.

        Raises:
            ConfigError: a parameter is invalid; the message names it.
        """
        check_name("name", name)
        level = AlertSeverity.coerce(severity, "severity")
        if not isinstance(message, str):
            raise ConfigError("message", "a string", message)
        key = (name, _label_key(labels))
        with self._lock:
            existing = self._active.get(key)
            if existing is not None:
                return existing
            alert = Alert(
                source=self.source,
                at=self._clock.wall(),
                id=next(_ids),
                name=name,
                severity=level,
                message=message,
                labels=MappingProxyType(dict(key[1])),
            )
            self._active[key] = alert
        self._stream.emit(alert)  # outside the lock: callbacks may call back into us
        return alert

    def resolve(self, name: str, labels: Mapping[str, LabelValue] | None = None) -> Alert | None:
        """Resolve the active alert ``name`` with ``labels``; None if there was none."""
        check_name("name", name)
        key = (name, _label_key(labels))
        with self._lock:
            alert = self._active.pop(key, None)
            if alert is None:
                return None
            resolved = replace(alert, resolved_at=self._clock.wall())
            self._history.append(resolved)
        self._stream.emit(resolved)
        return resolved

    def active(self, min_severity: AlertSeverity | str | None = None) -> list[Alert]:
        """Return active alerts at ``min_severity`` or above, oldest first."""
        floor = None if min_severity is None else AlertSeverity.coerce(min_severity, "min_severity")
        with self._lock:
            alerts = list(self._active.values())
        return [a for a in alerts if floor is None or a.severity >= floor]

    def history(self) -> list[Alert]:
        """Return resolved alerts, oldest first (bounded by ``history_size``)."""
        with self._lock:
            return list(self._history)


def _label_key(labels: Mapping[str, LabelValue] | None) -> tuple[tuple[str, str], ...]:
    if labels is None:
        return ()
    if not isinstance(labels, Mapping):
        raise ConfigError("labels", "a mapping of label names to values, or None", labels)
    for key, value in labels.items():
        if (
            not isinstance(key, str)
            or isinstance(value, bool)
            or not isinstance(value, str | int | float)
        ):
            raise ConfigError("labels", "a mapping of str names to str/int/float values", labels)
    return tuple(sorted((k, str(v)) for k, v in labels.items()))
