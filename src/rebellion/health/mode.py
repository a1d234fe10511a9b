"""The system operation mode: NORMAL, DEGRADED or EMERGENCY, from component states.

Components are marked degraded (with a reason and a severity) and recovered; declared
:class:`ModeRule` objects turn the set of degraded components into a mode (the worst
matching rule wins). By default any ``critical``-severity component means EMERGENCY
and any degraded component means DEGRADED. Listeners hear every change; adjustments
(``adjust.py``) change policies on entry to a mode and revert on exit.

>>> import asyncio
>>> mode = SystemOperationMode(rules=[ModeRule.degraded(EMERGENCY, count=2)])
>>> async def incident():
...     await mode.mark_component_degraded("openai", "rate limited", severity="medium")
...     first = mode.current_mode
...     await mode.mark_component_degraded("redis", "timeouts", severity="low")
...     return first, mode.current_mode
>>> asyncio.run(incident())
('DEGRADED', 'EMERGENCY')
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from inspect import isawaitable
from typing import Any, ClassVar, final

from .._clock import Clock
from .._events import EventStream, Listener
from .._registry import registry
from .._validate import check_callable, check_clock, check_int, check_name
from ..errors import ConfigError
from ..policies.recovery import ErrorSeverity
from ._events import ComponentDegraded, ComponentRecovered, OperationModeChanged
from ._rules import (
    DEFAULT_RULES,
    DEGRADED,
    EMERGENCY,
    MODE_RANK,
    MODES,
    NORMAL,
    ComponentState,
    ModeListener,
    ModeRule,
    check_choice_mode,
)
from .adjust import Adjustment

__all__ = [
    "DEGRADED",
    "EMERGENCY",
    "MODES",
    "NORMAL",
    "ComponentState",
    "ModeListener",
    "ModeRule",
    "SystemOperationMode",
]

logger = logging.getLogger("rebellion.health")


@final
class SystemOperationMode:
    """Track degraded components and derive the system's operation mode from them.

    Args:
        name: name for events, statistics and the registry.
        rules: extra :class:`ModeRule` objects (e.g. ``ModeRule.degraded(EMERGENCY,
            count=2)``: two degraded components mean EMERGENCY).
        default_rules: keep the defaults (any critical component: EMERGENCY; any
            degraded component: DEGRADED) next to ``rules``.
        history_size: how many reasons and transitions to keep (>= 1).
        clock: time source for time-in-mode statistics.
        listeners: event listeners (:class:`ComponentDegraded`,
            :class:`ComponentRecovered`, :class:`OperationModeChanged`).

    Raises:
        ConfigError: a parameter is out of range; the message names it.

    ``current_mode`` changes atomically with the mark that causes it. Adjustments and
    mode-change listeners then run outside the lock, one transition at a time in
    order; a listener or adjustment that raises is logged and skipped.
    """

    NORMAL: ClassVar[str] = NORMAL
    DEGRADED: ClassVar[str] = DEGRADED
    EMERGENCY: ClassVar[str] = EMERGENCY
    kind: ClassVar[str] = "operation_mode"

    def __init__(
        self,
        name: str = "operation_mode",
        *,
        rules: Iterable[ModeRule] = (),
        default_rules: bool = True,
        history_size: int = 100,
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.name = check_name("name", name)
        extra = tuple(rules)
        for rule in extra:
            if not isinstance(rule, ModeRule):
                raise ConfigError("rules", "a list of ModeRule", rule)
        if not isinstance(default_rules, bool):
            raise ConfigError("default_rules", "True or False", default_rules)
        self.rules: tuple[ModeRule, ...] = extra + (DEFAULT_RULES if default_rules else ())
        self.history_size = check_int("history_size", history_size, minimum=1)
        self._clock = check_clock(clock)
        self.events = EventStream(self.name, listeners)
        self._lock = threading.Lock()
        self.current_mode: str = NORMAL
        self._components: dict[str, ComponentState] = {}
        self._reasons: deque[dict[str, Any]] = deque(maxlen=self.history_size)
        self._transitions: deque[dict[str, Any]] = deque(maxlen=self.history_size)
        self._listeners: tuple[ModeListener, ...] = ()
        self._adjustments: list[tuple[Adjustment, frozenset[str]]] = []
        self._pending: deque[tuple[str, str, list[dict[str, Any]]]] = deque()
        self._dispatching = False
        self._entered = self._clock.monotonic()
        self._time_in = dict.fromkeys(MODES, 0.0)
        self._entries = {NORMAL: 1, DEGRADED: 0, EMERGENCY: 0}
        self._errors = 0
        registry.track(self)

    # -- marking ------------------------------------------------------------------------

    async def mark_component_degraded(
        self,
        component: str,
        reason: str,
        severity: str | ErrorSeverity = ErrorSeverity.MEDIUM,
        *,
        details: Mapping[str, Any] | None = None,
    ) -> str:
        """Mark ``component`` degraded (again: the newer reason and severity replace).

        Args:
            component: the component's name.
            reason: why, for people (``reasons[-1]["reason"]`` in listeners).
            severity: ``"low" | "medium" | "high" | "critical"`` or an ErrorSeverity.
            details: extra facts stored with the reason.

        Returns:
            The operation mode after the change.

        Raises:
            ConfigError: ``component``, ``reason`` or ``severity`` is invalid.
        """
        check_name("component", component)
        if not isinstance(reason, str):
            raise ConfigError("reason", "a string", reason)
        level = ErrorSeverity.coerce(severity)
        now, wall = self._clock.monotonic(), self._clock.wall()
        with self._lock:
            previous = self._components.get(component)
            since = now if previous is None else previous.since
            self._components[component] = ComponentState(component, reason, level, since, wall)
            entry = self._reason(component, reason, level.value, "degraded", wall, details)
            change = self._reevaluate(now, entry)
        if self.events:
            self.events.emit(ComponentDegraded(self.name, wall, component, reason, level.value))
        return await self._settle(change)

    async def mark_component_recovered(self, component: str, reason: str = "recovered") -> str:
        """Mark ``component`` healthy again (no effect if it was not degraded).

        Returns:
            The operation mode after the change.

        Raises:
            ConfigError: ``component`` is not a valid name.
        """
        check_name("component", component)
        now, wall = self._clock.monotonic(), self._clock.wall()
        with self._lock:
            previous = self._components.pop(component, None)
            if previous is None:
                return self.current_mode
            entry = self._reason(component, reason, None, "recovered", wall, None)
            change = self._reevaluate(now, entry)
        if self.events:
            self.events.emit(ComponentRecovered(self.name, wall, component, now - previous.since))
        return await self._settle(change)

    def _reason(
        self,
        component: str,
        reason: str,
        severity: str | None,
        action: str,
        wall: float,
        details: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "component": component,
            "reason": reason,
            "severity": severity,
            "action": action,
            "at": wall,
        }
        if details:
            entry["details"] = dict(details)
        self._reasons.append(entry)
        return entry

    def _reevaluate(
        self, now: float, entry: dict[str, Any]
    ) -> tuple[str, str, list[dict[str, Any]]] | None:
        # Under the lock, so current_mode changes atomically with the component set.
        states = dict(self._components)
        rank = 0
        for rule in self.rules:
            if MODE_RANK[rule.mode] > rank and rule.when(states):
                rank = MODE_RANK[rule.mode]
        new = MODES[rank]
        old = self.current_mode
        entry["mode"] = new
        if new == old:
            return None
        self._time_in[old] += now - self._entered
        self._entered = now
        self._entries[new] += 1
        self.current_mode = new
        self._transitions.append(
            {"from": old, "to": new, "at": entry["at"], "component": entry["component"]}
        )
        if self.events:
            self.events.emit(
                OperationModeChanged(
                    self.name, entry["at"], old, new, entry["reason"], entry["component"]
                )
            )
        return old, new, list(self._reasons)

    # -- adjustments and listeners, one transition at a time -------------------------------

    async def _settle(self, change: tuple[str, str, list[dict[str, Any]]] | None) -> str:
        with self._lock:
            if change is not None:
                self._pending.append(change)
            if self._dispatching or not self._pending:
                return self.current_mode
            self._dispatching = True
        try:
            while True:
                with self._lock:
                    if not self._pending:
                        break
                    old, new, reasons = self._pending.popleft()
                    adjustments = list(self._adjustments)
                    listeners = self._listeners
                self._adjust(adjustments, old, new)
                for listener in listeners:
                    await self._call(listener, old, new, reasons)
        finally:
            with self._lock:
                self._dispatching = False
        return self.current_mode

    def _adjust(
        self, adjustments: list[tuple[Adjustment, frozenset[str]]], old: str, new: str
    ) -> None:
        for adjustment, modes in reversed(adjustments):
            if old in modes and new not in modes:
                self._guard(adjustment.revert)
        for adjustment, modes in adjustments:
            if new in modes and old not in modes:
                self._guard(adjustment.apply, new)

    def _guard(self, fn: Callable[..., object], *args: object) -> None:
        try:
            fn(*args)
        except Exception:
            self._errors += 1
            logger.exception("operation mode %r: adjustment %r raised; skipped", self.name, fn)

    async def _call(
        self, listener: ModeListener, old: str, new: str, reasons: list[dict[str, Any]]
    ) -> None:
        try:
            outcome = listener(old, new, reasons)
            if isawaitable(outcome):
                await outcome
        except Exception:
            self._errors += 1
            logger.exception("operation mode %r: listener %r raised; skipped", self.name, listener)

    def add_mode_change_listener(self, listener: ModeListener) -> Callable[[], None]:
        """Call ``listener(old_mode, new_mode, reasons)`` on every mode change.

        ``reasons`` is the list of recent reasons (dicts with ``component``,
        ``reason``, ``severity``, ``action``, ``at``, ``mode``); the last one caused
        the change. ``async def`` listeners are awaited.

        Returns:
            A function that removes the listener.

        Raises:
            ConfigError: ``listener`` is not callable.
        """
        check_callable("listener", listener)
        with self._lock:
            self._listeners = (*self._listeners, listener)

        def remove() -> None:
            with self._lock:
                self._listeners = tuple(x for x in self._listeners if x is not listener)

        return remove

    def add_adjustment(
        self, adjustment: Adjustment, modes: str | Iterable[str] = EMERGENCY
    ) -> Callable[[], None]:
        """Apply ``adjustment`` while the mode is one of ``modes``; revert on leaving.

        Adjustments apply in the order added and revert in reverse order. One that is
        active in both the old and the new mode stays applied. Added while its mode
        holds, it applies at once.

        Returns:
            A function that removes the adjustment (reverting it if active).

        Raises:
            ConfigError: ``adjustment`` lacks apply/revert, or a mode is not
                ``"DEGRADED"``/``"EMERGENCY"``.
        """
        if not isinstance(adjustment, Adjustment):
            raise ConfigError("adjustment", "an object with apply(mode) and revert()", adjustment)
        names = (modes,) if isinstance(modes, str) else tuple(modes)
        if not names:
            raise ConfigError("modes", "at least one of 'DEGRADED' | 'EMERGENCY'", modes)
        active = frozenset(check_choice_mode(m, "modes") for m in names)
        item = (adjustment, active)
        with self._lock:
            self._adjustments.append(item)
            current = self.current_mode
        if current in active:
            self._guard(adjustment.apply, current)

        def remove() -> None:
            with self._lock:
                if item not in self._adjustments:
                    return
                self._adjustments.remove(item)
                applied = self.current_mode in active
            if applied:
                self._guard(adjustment.revert)

        return remove

    # -- observation --------------------------------------------------------------------

    @property
    def degradation_reasons(self) -> list[dict[str, Any]]:
        """Recent reasons, oldest first (a copy)."""
        with self._lock:
            return list(self._reasons)

    @property
    def degraded_components(self) -> dict[str, dict[str, Any]]:
        """The degraded components: ``{name: {reason, severity, since, at}}`` (a copy)."""
        with self._lock:
            states = list(self._components.values())
        return {
            s.component: {
                "reason": s.reason,
                "severity": s.severity.value,
                "since": s.since,
                "at": s.at,
            }
            for s in states
        }

    @property
    def mode_change_listeners(self) -> tuple[ModeListener, ...]:
        """The registered mode-change listeners."""
        return self._listeners

    def is_degraded(self, component: str) -> bool:
        """Whether ``component`` is currently marked degraded."""
        return component in self._components

    def time_in_mode(self) -> dict[str, float]:
        """Return seconds spent in each mode so far, including the current stretch."""
        now = self._clock.monotonic()
        with self._lock:
            spent = dict(self._time_in)
            spent[self.current_mode] += now - self._entered
        return spent

    def stats(self) -> dict[str, Any]:
        """Return a snapshot: mode, components, time and average stay in each mode."""
        spent = self.time_in_mode()
        with self._lock:
            entries = dict(self._entries)
            transitions = list(self._transitions)
            mode = self.current_mode
            since = self._entered
        return {
            "kind": self.kind,
            "name": self.name,
            "mode": mode,
            "mode_for": self._clock.monotonic() - since,
            "degraded_components": self.degraded_components,
            "time_in_mode": spent,
            "average_time_in_mode": {
                m: (spent[m] / entries[m] if entries[m] else 0.0) for m in MODES
            },
            "mode_changes": sum(entries.values()) - 1,
            "entries": entries,
            "transitions": transitions,
            "rules": [rule.description for rule in self.rules],
            "adjustments": len(self._adjustments),
            "errors": self._errors,
        }

    def __repr__(self) -> str:
        return f"SystemOperationMode(name={self.name!r}, current_mode={self.current_mode!r})"
