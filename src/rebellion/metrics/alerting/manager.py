"""The alert manager: evaluates rules on samples, groups, silences and notifies.

It does what Prometheus's rule evaluation and Alertmanager do together, in process:
samples go in with :meth:`AlertManager.observe`; each rule turns them into a latched
condition (with hysteresis); a condition that holds ``for_duration`` fires the alert;
firing and resolved alerts are grouped and handed to callbacks as
:class:`~._model.Notification` objects. Time only moves through the injected clock:
call :meth:`AlertManager.evaluate` (or ``await manager.run()``) so timed things
(``for`` durations without new samples, absence of data, group waits, repeats, silence
ends) happen even when no sample arrives.

>>> from rebellion.testing import ManualClock
>>> from rebellion.metrics.alerting import ThresholdRule
>>> clock = ManualClock()
>>> seen = []
>>> manager = AlertManager(
...     rules=[ThresholdRule("cpu_high", "cpu", above=90, clear=80, for_duration=30)],
...     callbacks=[lambda note: seen.append((note.status, note.alerts[0].value))],
...     clock=clock,
... )
>>> manager.observe("cpu", 95.0)
>>> clock.advance(30)
>>> manager.observe("cpu", 85.0)   # above the clear level: still raised, fires now
>>> manager.observe("cpu", 79.0)   # at or below the clear level: resolves
>>> seen
[('firing', 85.0), ('resolved', 79.0)]
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Iterable, Mapping
from typing import Any, ClassVar, final

from ..._clock import Clock
from ..._events import EventStream, Listener
from ..._registry import registry
from ..._validate import check_callable, check_clock, check_int, check_name, check_number
from ...errors import ConfigError
from ..severity import AlertSeverity
from ._core import AlertCore
from ._dispatch import Callback
from ._grouping import Grouper
from ._model import (
    _LABEL_NAME,
    AlertSnapshot,
    AlertState,
    Notification,
    Silence,
)
from .rules import Rule

__all__ = ["AlertManager", "get_alert_manager"]

_PENDING, _FIRING = AlertState.PENDING, AlertState.FIRING
_MISSING: Any = object()


def _sample_value(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ConfigError("value", "a number (not NaN)", value)
    return float(value)


@final
class AlertManager(AlertCore):
    """Evaluate alert rules on samples and notify callbacks about alert groups.

    Args:
        name: shown in events, statistics and the registry.
        rules: the initial rules (more with :meth:`add_rule`); names must be unique.
        group_by: label names whose values define a group (``"alertname"`` and
            ``"severity"`` are labels too); None: every alert is its own group.
        group_wait: seconds a new group waits before its first notification.
        group_interval: least seconds between two notifications of a changed group.
        repeat_interval: seconds after which a still-firing group is notified again
            (Alertmanager's default, 4 h; ``math.inf``: never; a rule may lower it).
        history_size: alert transitions kept for :meth:`history`.
        callbacks: callables receiving each :class:`Notification` (sync or async).
        receiver: the ``receiver`` field of notifications.
        clock: time source (tests pass a ``ManualClock``).
        listeners: callables receiving :class:`AlertStateChanged` / :class:`AlertNotified`.

    Raises:
        ConfigError: a parameter is out of range; the message names it.
    """

    kind: ClassVar[str] = "alert_manager"

    def __init__(
        self,
        name: str = "alerts",
        rules: Iterable[Rule] = (),
        *,
        group_by: Iterable[str] | None = None,
        group_wait: float = 0.0,
        group_interval: float = 0.0,
        repeat_interval: float = 4 * 3600.0,
        history_size: int = 1000,
        callbacks: Iterable[Callback] = (),
        receiver: str = "rebellion",
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        name = check_name("name", name)
        by = _group_by(group_by)
        wait = check_number("group_wait", group_wait, minimum=0.0)
        interval = check_number("group_interval", group_interval, minimum=0.0)
        repeat = check_number(
            "repeat_interval", repeat_interval, minimum=0.0, exclusive_minimum=True, allow_inf=True
        )
        self.history_size = check_int("history_size", history_size, minimum=0)
        clock_ = check_clock(clock)
        epoch = format(int(clock_.wall() * 1000), "x")
        groups = Grouper(by, wait, interval, repeat, check_name("receiver", receiver), epoch)
        super().__init__(name, clock_, EventStream(name, listeners), groups, self.history_size)
        self._stopping = False
        given: object = callbacks
        if not isinstance(given, Iterable) or isinstance(given, str):
            raise ConfigError("callbacks", "a list of callables", callbacks)
        for callback in given:
            self.add_callback(callback)
        if isinstance(rules, str | Rule) or not isinstance(rules, Iterable):
            raise ConfigError("rules", "a list of Rule objects", rules)
        for rule in rules:
            self.add_rule(rule)
        registry.track(self)

    # -- configuration -----------------------------------------------------------------

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Return the rules in the order they were added."""
        with self._lock:
            return tuple(rule for rule, _ in self._rules.values())

    def add_callback(self, callback: Callback) -> None:
        """Hand every future notification to ``callback`` (a function or ``async def``)."""
        check_callable("callback", callback)
        with self._lock:
            self._dispatcher.callbacks = (*self._dispatcher.callbacks, callback)

    def remove_callback(self, callback: Callback) -> None:
        """Stop handing notifications to ``callback`` (no error if absent)."""
        with self._lock:
            kept = tuple(c for c in self._dispatcher.callbacks if c != callback)
            self._dispatcher.callbacks = kept

    # -- samples -------------------------------------------------------------------------

    def observe(
        self,
        metric: str,
        value: float,
        labels: Mapping[str, str] | None = None,
        at: float | None = None,
    ) -> None:
        """Feed one sample to the rules watching ``metric``.

        Args:
            metric: the metric name; samples of metrics no rule watches are counted
                and ignored.
            value: the sample (a number, not NaN).
            labels: the sample's labels; each label set is a separate alert.
            at: the sample's time on the manager's clock (default: now).

        Raises:
            ConfigError: ``value`` is not a number, or ``labels`` are malformed.
        """
        if value.__class__ is not float or value != value:
            value = _sample_value(value)
        entries = self._by_metric.get(metric)
        if entries is None:
            with self._lock:
                self._ignored += 1
            return
        now = self._clock.monotonic() if at is None else check_number("at", at)
        key = () if not labels else tuple(sorted(labels.items()))
        with self._lock:
            for rule, table in entries:
                if rule.aggregate:
                    if rule.match and not rule.accepts(labels or {}):
                        continue
                    series = table[()]
                else:
                    series = table.get(key, _MISSING)
                    if series is _MISSING:
                        series = self._new_series(rule, table, key, labels, now)
                if series is None:
                    continue
                latched = rule.update(series, value, now)
                if latched is not series.latched or series.state is _PENDING:
                    self._advance(series, latched, now, now)
            self._samples += 1
            if now >= self._next_due:
                self._housekeep(now)
            deliver = bool(self._dispatcher.outbox)
        if deliver:
            self._dispatcher.drain()

    def observe_many(
        self,
        samples: Mapping[str, float] | Iterable[tuple[str, float] | tuple[str, float, Any]],
        labels: Mapping[str, str] | None = None,
        at: float | None = None,
    ) -> None:
        """Feed many samples taken at one time: ``{metric: value}`` or ``(metric, value[,
        labels])`` tuples (for example the latest values of a transformer's output).

        Args:
            samples: the samples.
            labels: labels of every sample that has none of its own.
            at: the samples' time on the manager's clock (default: now).
        """
        now = self._clock.monotonic() if at is None else check_number("at", at)
        items = samples.items() if isinstance(samples, Mapping) else samples
        for item in items:
            if len(item) == 3:
                metric, value, own = item
                self.observe(metric, value, own, now)
            else:
                self.observe(item[0], item[1], labels, now)

    # -- time ----------------------------------------------------------------------------

    def evaluate(self, at: float | None = None) -> list[Notification]:
        """Apply the passage of time up to ``at`` (default: now) and notify what is due.

        Promotes pending alerts whose ``for_duration`` has passed, raises absence
        alerts, flushes groups whose wait, interval or repeat time has come and applies
        silences that started or ended.

        Returns:
            The notifications made by this evaluation (already handed to callbacks).
        """
        now = self._clock.monotonic() if at is None else check_number("at", at)
        with self._lock:
            before = len(self._dispatcher.outbox)
            self._housekeep(now)
            made = self._dispatcher.outbox[before:]
        self._dispatcher.drain()
        return made

    async def run(self, interval: float = 1.0) -> None:
        """Call :meth:`evaluate` every ``interval`` seconds until :meth:`stop`.

        Async callbacks from observers in other threads run on this loop.
        """
        step = check_number("interval", interval, minimum=0.0, exclusive_minimum=True)
        self._dispatcher.bind_loop(asyncio.get_running_loop())
        self._stopping = False
        while not self._stopping:
            self.evaluate()
            await self._clock.sleep_async(step)

    def stop(self) -> None:
        """Make :meth:`run` return after its current sleep."""
        self._stopping = True

    def bind_loop(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Run async callbacks of observers in loop-less threads on ``loop`` (default: running)."""
        self._dispatcher.bind_loop(loop or asyncio.get_running_loop())

    async def wait_for_callbacks(self) -> None:
        """Wait until every async callback started so far has finished."""
        await self._dispatcher.wait()

    # -- silences ------------------------------------------------------------------------

    def silence(
        self,
        matchers: Mapping[str, str] | Iterable[Any],
        *,
        duration: float | None = None,
        ends_at: float | None = None,
        starts_at: float | None = None,
        comment: str = "",
        created_by: str = "",
    ) -> Silence:
        """Mute notifications of alerts matching ``matchers`` for a while.

        Args:
            matchers: ``{label: value}`` or :class:`Matcher` objects (all must match).
            duration: seconds from ``starts_at`` (give this or ``ends_at``).
            ends_at: end on the manager's clock.
            starts_at: start on the manager's clock (default: now).
            comment: why, for operators.
            created_by: who, for operators.

        Returns:
            The silence (its ``id`` expires it early with :meth:`expire_silence`).

        Raises:
            ConfigError: bad matchers or times; the message names the parameter.
        """
        now = self._clock.monotonic()
        silence = self._silences.build(
            matchers, duration, ends_at, now if starts_at is None else starts_at, comment,
            created_by,
        )  # fmt: skip
        with self._lock:
            self._silences.add(silence)
            self._next_due = min(self._next_due, self._groups.touch_all(now))
        return silence

    def expire_silence(self, silence_id: str) -> bool:
        """End the silence ``silence_id`` now; return whether it existed."""
        now = self._clock.monotonic()
        with self._lock:
            found = self._silences.expire(silence_id, now)
            if found:
                self._next_due = min(self._next_due, self._groups.touch_all(now))
        return found

    def silences(self) -> list[Silence]:
        """Return the silences in force or still to start."""
        with self._lock:
            return self._silences.current(self._clock.monotonic())

    # -- reading -------------------------------------------------------------------------

    def active_alerts(
        self, min_severity: AlertSeverity | str | None = None, *, include_pending: bool = True
    ) -> list[AlertSnapshot]:
        """Return firing (and pending) alerts, most severe first.

        Args:
            min_severity: leave out alerts below this severity.
            include_pending: include alerts whose ``for_duration`` has not passed yet.
        """
        floor = None if min_severity is None else AlertSeverity.coerce(min_severity, "min_severity")
        now = self._clock.monotonic()
        with self._lock:
            found = [
                self._snapshot(s, self._silences.silenced(s.labels, now))
                for _, table in self._rules.values()
                for s in table.values()
                if s is not None
                and (s.state is _FIRING or (include_pending and s.state is _PENDING))
                and (floor is None or s.rule.severity >= floor)
            ]
        found.sort(key=lambda a: (-a.severity.rank, a.rule, a.fingerprint))
        return found

    def history(self, limit: int | None = None) -> list[AlertSnapshot]:
        """Return the latest alert transitions, oldest first (at most ``limit``)."""
        with self._lock:
            items = list(self._history)
        return items if limit is None else items[-limit:] if limit > 0 else []

    def stats(self) -> dict[str, Any]:
        """Return a fresh snapshot of the manager's counters."""
        with self._lock:
            series = [s for _, t in self._rules.values() for s in t.values() if s is not None]
            return {
                "name": self.name,
                "rules": len(self._rules),
                "series": len(series),
                "pending": sum(1 for s in series if s.state is _PENDING),
                "firing": sum(1 for s in series if s.state is _FIRING),
                "groups": len(self._groups.groups),
                "silences": len(self._silences.current(self._clock.monotonic())),
                "samples": self._samples,
                "ignored_samples": self._ignored,
                "evaluations": self._evaluations,
                "transitions": self._transitions,
                "notifications": self._groups.notifications,
                "callbacks": len(self._dispatcher.callbacks),
                "callback_errors": self._dispatcher.errors,
            }

    def __repr__(self) -> str:
        return f"AlertManager(name={self.name!r}, rules={len(self._rules)})"


def _group_by(value: object) -> tuple[str, ...] | None:
    if value is None:
        return None
    rule = "None or a list of label names"
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ConfigError("group_by", rule, value)
    names = tuple(value)
    for item in names:
        if not isinstance(item, str) or not _LABEL_NAME.match(item):
            raise ConfigError("group_by", rule, value)
    return names


def get_alert_manager(name: str, **settings: Any) -> AlertManager:
    """Return the alert manager registered as ``name``, creating it on first use.

    Raises:
        ConfigError: ``name`` exists with different settings.
    """
    return registry.get_or_create(
        AlertManager.kind, name, lambda: AlertManager(name, **settings), settings
    )
