"""Recovery by error type name: the strategy registered for ``"connection_failure"`` runs.

The smaller sibling of :class:`~rebellion.policies.recovery.ErrorRecovery`, shaped like
the seed's ``AutonomousErrorRecovery``: a map of error type names to strategies, and
``handle_error(error_type, error_details)`` runs the matching one with the details and
returns its result. Every call is remembered in ``error_history``; a type with no
strategy is logged and remembered as unhandled.

>>> from rebellion.testing import ManualClock
>>> recovery = ErrorTypeRecovery(clock=ManualClock())
>>> recovery.register_strategy("connection_failure", lambda d: f"reconnected to {d['host']}")
>>> recovery.handle_error("connection_failure", {"host": "db"})
'reconnected to db'
>>> recovery.handle_error("data_corruption", {"table": "orders"}) is None
True
>>> [(r.error_type, r.outcome) for r in recovery.error_history]
[('connection_failure', 'recovered'), ('data_corruption', 'unhandled')]
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, final

from ..._clock import Clock
from ..._registry import registry
from ..._validate import check_callable, check_clock, check_int, check_name
from ...errors import ConfigError

__all__ = ["AutonomousErrorRecovery", "ErrorTypeRecord", "ErrorTypeRecovery"]

logger = logging.getLogger("rebellion.recovery")

Strategy = Callable[[Any], object]
"""A recovery strategy: called with the error details, returns anything."""


@final
@dataclass(frozen=True, slots=True)
class ErrorTypeRecord:
    """One handled error: its type, details, wall time and ``recovered | unhandled | failed``."""

    error_type: str
    details: object
    at: float
    outcome: str


@final
class ErrorTypeRecovery:
    """Run the strategy registered for an error type name, and remember every error.

    Args:
        strategies: error type names mapped to strategies (more with
            :meth:`register_strategy`).
        name: name in statistics and the registry census.
        history_size: errors kept in ``error_history`` (counts stay exact).
        clock: time source of the records' timestamps.

    Raises:
        ConfigError: a parameter is invalid; the message names it.
    """

    kind: ClassVar[str] = "error_type_recovery"

    def __init__(
        self,
        strategies: Mapping[str, Strategy] | None = None,
        *,
        name: str = "error_type_recovery",
        history_size: int = 1000,
        clock: Clock | None = None,
    ) -> None:
        self.name = check_name("name", name)
        self._clock = check_clock(clock)
        self.error_history: deque[ErrorTypeRecord] = deque(
            maxlen=check_int("history_size", history_size, minimum=1)
        )
        self.recovery_strategies: dict[str, Strategy] = {}
        if strategies is not None and not isinstance(strategies, Mapping):
            raise ConfigError("strategies", "a mapping of error type names to callables", None)
        for error_type, strategy in (strategies or {}).items():
            self.register_strategy(error_type, strategy)
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()
        registry.track(self)

    def register_strategy(self, error_type: str, strategy: Strategy) -> None:
        """Run ``strategy(details)`` for errors of ``error_type`` (replacing any before).

        Raises:
            ConfigError: ``error_type`` is not a non-empty string or ``strategy`` is not
                callable.
        """
        check_callable("strategy", strategy)
        self.recovery_strategies[check_name("error_type", error_type)] = strategy

    def handle_error(self, error_type: str, error_details: object = None) -> Any:
        """Run the strategy for ``error_type`` with ``error_details``; return its result.

        A coroutine strategy's coroutine is returned for the caller to await.

        Returns:
            The strategy's result, or ``None`` when no strategy handles ``error_type``.

        Raises:
            ConfigError: ``error_type`` is not a non-empty string.
            Exception: whatever the strategy raised (recorded as ``failed``).
        """
        check_name("error_type", error_type)
        strategy = self.recovery_strategies.get(error_type)
        if strategy is None:
            logger.warning("no recovery strategy for %r: %r", error_type, error_details)
            self._record(error_type, error_details, "unhandled")
            return None
        try:
            result = strategy(error_details)
        except Exception:
            self._record(error_type, error_details, "failed")
            raise
        self._record(error_type, error_details, "recovered")
        return result

    def _record(self, error_type: str, details: object, outcome: str) -> None:
        record = ErrorTypeRecord(error_type, details, self._clock.wall(), outcome)
        with self._lock:
            self.error_history.append(record)
            self._counts[(error_type, outcome)] += 1

    def stats(self) -> dict[str, Any]:
        """Return lifetime counts by outcome and by error type."""
        with self._lock:
            counts = dict(self._counts)
        by_outcome: Counter[str] = Counter()
        by_type: Counter[str] = Counter()
        for (error_type, outcome), n in counts.items():
            by_outcome[outcome] += n
            by_type[error_type] += n
        return {
            "kind": self.kind,
            "name": self.name,
            "errors": sum(by_outcome.values()),
            "recovered": by_outcome["recovered"],
            "unhandled": by_outcome["unhandled"],
            "failed": by_outcome["failed"],
            "by_type": dict(sorted(by_type.items())),
        }

    def __repr__(self) -> str:
        return f"ErrorTypeRecovery(name={self.name!r}, strategies={len(self.recovery_strategies)})"


AutonomousErrorRecovery = ErrorTypeRecovery
"""Alias kept for code written against the seed documents."""
