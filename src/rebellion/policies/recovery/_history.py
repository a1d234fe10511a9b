"""The bounded error history and the exact lifetime counters behind the statistics.

>>> from rebellion.policies.recovery._model import ErrorRecord, ErrorSeverity
>>> history = ErrorHistory(limit=2)
>>> history.add(ErrorRecord(0.0, "db", "query", ErrorSeverity.LOW, "KeyError", "'x'",
...                         "retry", True, 1, "transient"))
>>> stats = history.statistics(recent=5)
>>> stats["by_operation"], stats["recovery_rate"]
({'db.query': 1}, 1.0)
"""

from __future__ import annotations

import threading
from collections import Counter, deque
from typing import Any, final

from ._model import ErrorRecord, ErrorSeverity

__all__ = ["ErrorHistory"]


@final
class _ComponentTally:
    __slots__ = ("by_operation", "by_severity", "last", "recent", "recovered", "total")

    def __init__(self) -> None:
        self.total = 0
        self.recovered = 0
        self.by_operation: Counter[str] = Counter()
        self.by_severity: Counter[str] = Counter()
        self.last: ErrorRecord | None = None
        self.recent: deque[ErrorRecord] = deque(maxlen=20)


@final
class ErrorHistory:
    """A bounded deque of :class:`ErrorRecord` plus counters that never forget.

    Counts are lifetime totals (exact even after the deque dropped old records); the
    ``recent_errors`` listing comes from the deque.
    """

    def __init__(self, limit: int) -> None:
        self._lock = threading.Lock()
        self._records: deque[ErrorRecord] = deque(maxlen=limit)
        self._reset()

    def _reset(self) -> None:
        self._total = 0
        self._recovered = 0
        self._by_component: Counter[str] = Counter()
        self._by_operation: Counter[str] = Counter()
        self._by_severity: Counter[str] = Counter()
        self._by_error_type: Counter[str] = Counter()
        self._by_strategy: Counter[str] = Counter()
        self._components: dict[str, _ComponentTally] = {}

    def add(self, record: ErrorRecord) -> None:
        """Append ``record`` and count it."""
        operation = f"{record.component}.{record.operation}"
        with self._lock:
            self._records.append(record)
            self._total += 1
            self._by_component[record.component] += 1
            self._by_operation[operation] += 1
            self._by_severity[record.severity.value] += 1
            self._by_error_type[record.error_type] += 1
            self._by_strategy[record.strategy or "none"] += 1
            tally = self._components.get(record.component)
            if tally is None:
                tally = self._components[record.component] = _ComponentTally()
            tally.total += 1
            tally.by_operation[record.operation] += 1
            tally.by_severity[record.severity.value] += 1
            tally.last = record
            tally.recent.append(record)
            if record.recovered:
                self._recovered += 1
                tally.recovered += 1

    def records(self) -> list[ErrorRecord]:
        """Return the kept records, oldest first."""
        with self._lock:
            return list(self._records)

    def recent_for(self, component: str) -> tuple[ErrorRecord, ...]:
        """Return the component's last (up to 20) records, oldest first."""
        with self._lock:
            tally = self._components.get(component)
            return () if tally is None else tuple(tally.recent)

    def clear(self) -> None:
        """Forget every record and counter."""
        with self._lock:
            self._records.clear()
            self._reset()

    def statistics(self, recent: int) -> dict[str, Any]:
        """Return lifetime counts, the recovery rate and the ``recent`` newest records."""
        with self._lock:
            total, recovered = self._total, self._recovered
            newest = list(self._records)[-recent:] if recent > 0 else []
            return {
                "total_errors": total,
                "recovered": recovered,
                "unrecovered": total - recovered,
                "recovery_rate": recovered / total if total else 0.0,
                "by_component": dict(self._by_component),
                "by_operation": dict(self._by_operation),
                "by_severity": _severities(self._by_severity),
                "by_error_type": dict(self._by_error_type),
                "by_strategy": dict(self._by_strategy),
                "history_size": len(self._records),
                "history_limit": self._records.maxlen,
                "recent_errors": [r.as_dict() for r in newest],
            }

    def component(self, component: str) -> dict[str, Any]:
        """Return the counts of one component (zeros if it never failed)."""
        with self._lock:
            tally = self._components.get(component) or _ComponentTally()
            total, recovered = tally.total, tally.recovered
            return {
                "total_errors": total,
                "recovered": recovered,
                "unrecovered": total - recovered,
                "recovery_rate": recovered / total if total else 0.0,
                "by_operation": dict(tally.by_operation),
                "by_severity": _severities(tally.by_severity),
                "last_error": None if tally.last is None else tally.last.as_dict(),
                "last_recovered": None if tally.last is None else tally.last.recovered,
            }


def _severities(counts: Counter[str]) -> dict[str, int]:
    # Every severity is listed, so dashboards and tests see a stable shape.
    return {s.value: counts.get(s.value, 0) for s in ErrorSeverity}
