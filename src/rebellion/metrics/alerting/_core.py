"""The alert state machine shared by :class:`~.manager.AlertManager`'s entry points.

Each (rule, label set) is a :class:`~.rules.Series` moving ``INACTIVE`` -> ``PENDING``
(condition latched) -> ``FIRING`` (held ``for_duration``, cooldown over) -> back to
``INACTIVE`` (resolved). Firing and resolved alerts go to the :class:`~._grouping.Grouper`;
the notifications it makes wait in the dispatcher's outbox until the caller releases the
lock. ``_next_due`` is the earliest time anything timed can happen, so most samples skip
the housekeeping scan entirely. Every method here runs under ``self._lock``.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from typing import Any

from ..._clock import Clock
from ..._events import EventStream
from ...errors import ConfigError
from ._dispatch import Dispatcher
from ._events import AlertNotified, AlertStateChanged
from ._grouping import Grouper
from ._model import AlertSnapshot, AlertState, alert_fingerprint, check_labels
from ._silences import SilenceBook
from .rules import Rule, Series

__all__ = ["AlertCore", "Table"]

_INACTIVE, _PENDING, _FIRING = AlertState.INACTIVE, AlertState.PENDING, AlertState.FIRING
Table = dict[tuple[tuple[str, str], ...], Series | None]


class AlertCore:
    """Rules, their series, pending alerts, history and groups; no public API."""

    def __init__(
        self,
        name: str,
        clock: Clock,
        events: EventStream,
        groups: Grouper,
        history_size: int,
    ) -> None:
        self.name = name
        self._clock = clock
        self.events = events
        self._lock = threading.Lock()
        self._dispatcher = Dispatcher(self._lock)
        self._groups = groups
        self._groups.to_wall = self._to_wall
        self._silences = SilenceBook()
        self._rules: dict[str, tuple[Rule, Table]] = {}
        self._timed: tuple[tuple[Rule, Table], ...] = ()  # scanned by housekeeping
        self._by_metric: dict[str, tuple[tuple[Rule, Table], ...]] = {}
        self._pending: set[Series] = set()
        self._history: deque[AlertSnapshot] = deque(maxlen=history_size)
        self._next_due = math.inf
        self._samples = self._ignored = self._evaluations = self._transitions = 0

    def add_rule(self, rule: Rule) -> None:
        """Start evaluating ``rule``.

        Raises:
            ConfigError: not a :class:`Rule`, or a rule with that name exists.
        """
        if not isinstance(rule, Rule):
            raise ConfigError("rule", "a Rule (ThresholdRule, RateOfChangeRule, ...)", rule)
        with self._lock:
            if rule.name in self._rules:
                raise ConfigError("rule", f"a rule name not already used ({rule.name!r})", rule)
            table: Table = {}
            self._rules[rule.name] = (rule, table)
            if rule.timed:
                self._timed = (*self._timed, (rule, table))
            entries = self._by_metric.get(rule.metric, ())
            self._by_metric[rule.metric] = (*entries, (rule, table))
            if rule.aggregate:
                self._new_series(rule, table, (), None, self._clock.monotonic())

    def remove_rule(self, name: str) -> None:
        """Stop evaluating the rule ``name``; its alerts are dropped without notice."""
        with self._lock:
            entry = self._rules.pop(name, None)
            if entry is None:
                return
            rule, table = entry
            self._timed = tuple(e for e in self._timed if e[0] is not rule)
            remaining = tuple(e for e in self._by_metric[rule.metric] if e[0] is not rule)
            if remaining:
                self._by_metric[rule.metric] = remaining
            else:
                del self._by_metric[rule.metric]
            for series in table.values():
                if series is not None:
                    self._pending.discard(series)
                    if series.state is _FIRING:
                        series.notified = False
                        self._groups.resolved(series, self._snapshot(series), math.inf)

    def _new_series(
        self,
        rule: Rule,
        table: Table,
        key: tuple[tuple[str, str], ...],
        labels: Any,
        now: float,
    ) -> Series | None:
        own = check_labels("labels", labels)
        if not rule.aggregate and not rule.accepts(own):
            table[key] = None
            return None
        alert_labels = {
            **own, **rule.labels, "alertname": rule.name, "severity": rule.severity.value
        }  # fmt: skip
        series = Series(rule, alert_labels, alert_fingerprint(rule.name, alert_labels), now)
        rule.start(series)
        table[key] = series
        if rule.timed:
            self._next_due = min(self._next_due, rule.deadline(series))
        return series

    # -- the state machine ---------------------------------------------------------------

    def _advance(self, series: Series, latched: bool, now: float, since: float) -> None:
        series.latched = latched
        rule = series.rule
        if latched:
            if series.state is _INACTIVE:
                series.state = _PENDING
                series.active_since = since
                self._pending.add(series)
                self._changed(series, _INACTIVE, now)
            due = series.active_since + rule.for_duration  # type: ignore[operator]
            if series.resolved_at is not None:
                due = max(due, series.resolved_at + rule.cooldown)
            if now >= due:
                self._fire(series, now)
            else:
                series.due = due
                if due < self._next_due:
                    self._next_due = due
        elif series.state is _PENDING:
            series.state = _INACTIVE
            series.active_since = None
            self._pending.discard(series)
            self._changed(series, _PENDING, now)
        elif series.state is _FIRING:
            series.state = _INACTIVE
            series.active_since = None
            series.resolved_at = now
            series.ends_wall = self._to_wall(now)
            snapshot = self._snapshot(series, None, AlertState.RESOLVED)
            self._record(series, _FIRING, snapshot, now)
            due = self._groups.resolved(series, snapshot, now)
            if due < self._next_due:
                self._next_due = due

    def _fire(self, series: Series, now: float) -> None:
        self._pending.discard(series)
        series.state = _FIRING
        series.due = math.inf
        series.fired_at = now
        series.starts_wall = self._to_wall(now)
        series.ends_wall = None
        self._changed(series, _PENDING, now)
        due = self._groups.fired(series, now)
        if due < self._next_due:
            self._next_due = due

    def _changed(self, series: Series, old: AlertState, now: float) -> None:
        self._record(series, old, self._snapshot(series), now)

    def _record(self, series: Series, old: AlertState, snapshot: AlertSnapshot, now: float) -> None:
        self._transitions += 1
        self._history.append(snapshot)
        if self.events.active:
            self.events.emit(
                AlertStateChanged(
                    source=self.name,
                    at=self._to_wall(now),
                    rule=series.rule.name,
                    fingerprint=series.fingerprint,
                    old_state=old.value,
                    new_state=snapshot.state.value,
                    severity=series.rule.severity.value,
                    value=series.value,
                )
            )

    def _snapshot(
        self, series: Series, silenced: bool | None = None, state: AlertState | None = None
    ) -> AlertSnapshot:
        if silenced is None:
            silenced = self._silences.silenced(series.labels, self._clock.monotonic())
        return AlertSnapshot(
            rule=series.rule.name,
            fingerprint=series.fingerprint,
            state=state or AlertState(series.state),
            severity=series.rule.severity,
            labels=series.labels,
            annotations=series.rule.render(series),
            value=series.value,
            active_since=series.active_since,
            fired_at=series.fired_at,
            resolved_at=series.resolved_at,
            starts_at_wall=series.starts_wall,
            ends_at_wall=series.ends_wall,
            silenced=silenced,
        )

    def _to_wall(self, monotonic: float) -> float:
        return monotonic + (self._clock.wall() - self._clock.monotonic())

    def _housekeep(self, now: float) -> None:
        self._evaluations += 1
        if self._silences.boundary_passed(now):
            self._next_due = min(self._next_due, self._groups.touch_all(now))
        for due in [s for s in self._pending if s.due <= now]:
            self._advance(due, True, now, now)
        deadlines = [s.due for s in self._pending]
        for rule, table in self._timed:
            for series in [s for s in table.values() if s is not None]:
                latched = rule.timed_condition(series, now)
                if latched is not series.latched or series.state is _PENDING:
                    self._advance(series, latched, now, rule.deadline(series))
                if not series.latched:
                    deadlines.append(rule.deadline(series))
                elif series.state is _PENDING:
                    deadlines.append(series.due)
        silenced = self._silences.matcher_at(now)
        notes = self._groups.flush_due(now, silenced, self._snapshot)
        for note in notes:
            if self.events.active:
                self.events.emit(
                    AlertNotified(
                        source=self.name,
                        at=note.at,
                        group_key=note.group_key,
                        status=note.status,
                        sequence=note.sequence,
                        alerts=len(note.alerts),
                        idempotency_key=note.idempotency_key,
                    )
                )
        self._dispatcher.outbox.extend(notes)
        deadlines.append(self._groups.next_due())
        deadlines.append(self._silences.next_boundary(now))
        self._next_due = min(deadlines)
