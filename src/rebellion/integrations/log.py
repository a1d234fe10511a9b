"""Structured logs of what operators care about: transitions, give-ups, aggregated refusals.

A listener (``subscribe_all(LoggingListener())``) that logs:

* **transitions** once each (a breaker opening, an operation mode changing, a health
  check turning critical, a limit moving): ``WARNING`` when the new state looks bad
  (open, isolated, degraded, critical, failed, emergency, ...), else ``INFO``;
* **give-ups** once each (``RetryGaveUp``, dead letters, failed recoveries): ``WARNING``;
* **refusals and drops** (``CallRejected``, ``BulkheadRejected``, ``CallShed``,
  ``RateLimitExceeded``, ``ItemsDropped``, ``TimeoutOccurred``) *aggregated*: per source
  and event, at most one ``WARNING`` per ``interval`` seconds, counting the ones folded
  into it (call :meth:`LoggingListener.flush` at shutdown for the remainder).

Nothing else is logged: primitives emit no event on their success path, so neither does
this. Fields go to stdlib ``logging`` as ``extra=`` (``event_name``, ``policy_name``,
``event_fields``), or as keyword arguments to a structlog logger.

>>> import logging
>>> from rebellion.policies.circuit_breaker import CircuitStateChanged
>>> records = []
>>> handler = logging.Handler(); handler.emit = records.append
>>> logger = logging.getLogger("doctest.rebellion"); logger.addHandler(handler)
>>> listener = LoggingListener(logger)
>>> listener(CircuitStateChanged("payments", 0.0, "CLOSED", "OPEN", "5 failures"))
>>> records[0].levelname, records[0].policy_name, records[0].getMessage()
('WARNING', 'payments', "CircuitStateChanged from 'payments': CLOSED -> OPEN (5 failures)")
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any, Literal, final

from .._clock import Clock
from .._events import Event
from .._validate import check_choice, check_clock, check_number
from ..errors import ConfigError

__all__ = ["LoggingListener"]

_TRANSITION, _GIVE_UP, _REFUSAL, _QUIET = "transition", "give_up", "refusal", "quiet"
_REFUSALS = frozenset(
    {
        "CallRejected",
        "BulkheadRejected",
        "CallShed",
        "RateLimitExceeded",
        "ItemsDropped",
        "TimeoutOccurred",
        "ClientDropped",
    }
)
_GIVE_UPS = frozenset(
    {"RetryGaveUp", "RequestDeadLettered", "ItemsDeadLettered", "RecoveryFailed", "BatchFailed"}
)
_TRANSITION_SUFFIXES = ("Changed", "Degraded", "Recovered", "Unavailable", "Restored", "Failed")
_BAD = ("OPEN", "ISOLATED", "DEGRADED", "CRITICAL", "FAILED", "EMERGENCY", "DISCONNECTED")


def _category(name: str) -> str:
    if name in _REFUSALS:
        return _REFUSAL
    if name in _GIVE_UPS:
        return _GIVE_UP
    if name.endswith(_TRANSITION_SUFFIXES):
        return _TRANSITION
    return _QUIET


@final
class LoggingListener:
    """Log transitions and give-ups once, and refusals aggregated, as structured records.

    Args:
        logger: a ``logging.Logger``, a logger name, or a structlog logger (anything
            with ``info``/``warning`` methods taking keyword fields); default
            ``logging.getLogger("rebellion")``.
        backend: ``"auto"`` (structlog style for a non-stdlib logger), ``"logging"``
            or ``"structlog"``.
        interval: seconds between two log lines for the same kind of refusal.
        clock: time source of the aggregation.

    Raises:
        ConfigError: a parameter is out of range or of the wrong kind; it is named.
    """

    def __init__(
        self,
        logger: logging.Logger | str | Any | None = None,
        *,
        backend: Literal["auto", "logging", "structlog"] = "auto",
        interval: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        backend = check_choice("backend", backend, ("auto", "logging", "structlog"))
        if logger is None or isinstance(logger, str):
            logger = logging.getLogger(logger or "rebellion")
        if not (
            callable(getattr(logger, "info", None)) and callable(getattr(logger, "warning", None))
        ):
            raise ConfigError(
                "logger", "a logging.Logger, a logger name or a structlog logger", logger
            )
        if backend == "auto":
            backend = (
                "logging"
                if isinstance(logger, logging.Logger | logging.LoggerAdapter)
                else "structlog"
            )
        self._logger: Any = logger
        self._structured = backend == "structlog"
        self.interval = check_number("interval", interval, minimum=0.0)
        self._clock = check_clock(clock)
        self._lock = threading.Lock()
        # (source, event name) -> [last logged at, folded count, last event]
        self._pending: dict[tuple[str, str], list[Any]] = {}

    def __call__(self, event: Event) -> None:
        """Log ``event`` if it is a transition, a give-up or (aggregated) a refusal."""
        name = type(event).__name__
        category = _category(name)
        if category is _QUIET:
            return
        if category is _REFUSAL:
            self._refused(name, event)
            return
        level = logging.WARNING
        if category is _TRANSITION and not _looks_bad(event, name):
            level = logging.INFO
        self._log(level, event, name, _describe(event), {})

    def _refused(self, name: str, event: Event) -> None:
        key = (event.source, name)
        now = self._clock.monotonic()
        with self._lock:
            entry = self._pending.get(key)
            if entry is not None and now - entry[0] < self.interval:
                entry[1] += 1
                entry[2] = event
                return
            folded = 0 if entry is None else entry[1]
            self._pending[key] = [now, 0, event]
        self._log(logging.WARNING, event, name, _describe(event), {"suppressed": folded})

    def flush(self) -> None:
        """Log the refusals folded since their last line (e.g. at shutdown)."""
        with self._lock:
            pending = [(key, e[1], e[2]) for key, e in self._pending.items() if e[1]]
            for key, _, _ in pending:
                self._pending[key][1] = 0
        for (_, name), count, event in pending:
            message = f"{count} more since the last report"
            self._log(logging.WARNING, event, name, message, {"suppressed": count})

    def _log(self, level: int, event: Event, name: str, detail: str, more: dict[str, Any]) -> None:
        message = f"{name} from {event.source!r}: {detail}"
        fields = {**_fields(event), **more}
        if self._structured:
            method = self._logger.warning if level >= logging.WARNING else self._logger.info
            method(message, event_name=name, policy_name=event.source, **fields)
        else:
            extra = {"event_name": name, "policy_name": event.source, "event_fields": fields}
            self._logger.log(level, message, extra=extra)


def _fields(event: Event) -> dict[str, Any]:
    return {f.name: getattr(event, f.name) for f in dataclasses.fields(event) if f.name != "source"}


def _describe(event: Event) -> str:
    old = getattr(event, "old_state", None) or getattr(event, "old_mode", None)
    new = getattr(event, "new_state", None) or getattr(event, "new_mode", None)
    reason = getattr(event, "reason", None)
    text = f"{old} -> {new}" if old is not None and new is not None else ""
    if reason:
        text = f"{text} ({reason})" if text else str(reason)
    if text:
        return text
    shown = [f"{k}={v}" for k, v in _fields(event).items() if k != "at" and v is not None]
    return ", ".join(shown[:4])


def _looks_bad(event: Event, name: str) -> bool:
    if name.endswith(("Degraded", "Unavailable", "Failed")):
        return True
    state = getattr(event, "new_state", None) or getattr(event, "new_mode", None)
    if state is None:
        state = getattr(event, "status", None) or getattr(event, "state", None)
    text = str(getattr(state, "name", state)).upper()
    return any(bad in text for bad in _BAD)
