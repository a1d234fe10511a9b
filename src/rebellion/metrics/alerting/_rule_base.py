"""What every alert rule shares: settings, per-series state, the hysteresis band.

>>> class Above(Rule):
...     def update(self, series, value, now):
...         return value > 1
>>> rule = Above("r", "m", severity="error")
>>> rule.accepts({"any": "labels"}), rule.severity.value
(True, 'error')
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import ClassVar, Protocol

from ..._validate import check_name, check_number
from ...errors import ConfigError
from ..severity import AlertSeverity
from ._model import AlertState, Matcher, check_labels

__all__ = ["Banded", "Rule", "Scorer", "Series"]


class Scorer(Protocol):
    """What :class:`AnomalyRule` needs from a detector (``AnomalyDetector`` fits)."""

    def update(self, value: float) -> float: ...


class Series:
    """The state of one rule applied to one label set (owned by the manager)."""

    __slots__ = (
        "active_since",
        "aux",
        "due",
        "ends_wall",
        "fingerprint",
        "fired_at",
        "group",
        "labels",
        "last_seen",
        "latched",
        "notified",
        "resolved_at",
        "rule",
        "starts_wall",
        "state",
        "value",
    )

    def __init__(self, rule: Rule, labels: dict[str, str], fingerprint: str, now: float) -> None:
        self.rule = rule
        self.labels = labels
        self.fingerprint = fingerprint
        self.latched = False
        self.state = AlertState.INACTIVE
        self.active_since: float | None = None
        self.fired_at: float | None = None
        self.resolved_at: float | None = None
        self.starts_wall: float | None = None
        self.ends_wall: float | None = None
        self.value: float | None = None
        self.last_seen = now
        self.notified = False
        self.due = math.inf
        self.group: object = None
        self.aux: object = None


class Rule(ABC):
    """Settings every rule shares.

    Args:
        name: the alert name (``alertname`` label of every alert of the rule).
        metric: the metric the rule watches (the ``metric`` of ``observe``).
        severity: ``AlertSeverity`` or its name (``"info"`` | ``"warning"`` | ``"error"`` |
            ``"critical"``).
        for_duration: seconds the condition must hold before the alert fires.
        cooldown: seconds after a resolution before the same alert may fire again.
        repeat_interval: seconds between reminders of a still-firing alert (None: the
            manager's ``repeat_interval``; ``math.inf``: never).
        labels: labels added to every alert (they override the sample's labels).
        annotations: ``summary``/``description``/... templates, ``str.format`` style with
            ``{value}``, ``{labels[host]}``, ``{metric}``, ``{rule}``, ``{raise_level}``,
            ``{clear_level}``.
        match: only samples whose labels satisfy these (a ``{name: value}`` mapping or
            :class:`Matcher` objects) are watched.

    Raises:
        ConfigError: a parameter is out of range; the message names it.
    """

    kind: ClassVar[str] = "rule"

    def __init__(
        self,
        name: str,
        metric: str,
        *,
        severity: AlertSeverity | str = AlertSeverity.WARNING,
        for_duration: float = 0.0,
        cooldown: float = 0.0,
        repeat_interval: float | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        match: Mapping[str, str] | Iterable[Matcher] | None = None,
    ) -> None:
        self.name = check_name("name", name)
        self.metric = check_name("metric", metric)
        self.severity = AlertSeverity.coerce(severity, "severity")
        self.for_duration = check_number("for_duration", for_duration, minimum=0.0)
        self.cooldown = check_number("cooldown", cooldown, minimum=0.0)
        self.repeat_interval: float | None = None
        if repeat_interval is not None:
            self.repeat_interval = check_number(
                "repeat_interval", repeat_interval, minimum=0.0, exclusive_minimum=True,
                allow_inf=True,
            )  # fmt: skip
        self.labels = check_labels("labels", labels)
        self.annotations = check_labels("annotations", annotations)
        self.match = _matchers(match)
        self.raise_level: float | None = None
        self.clear_level: float | None = None
        self.timed = False
        """Whether the condition changes with time alone (absence of data)."""
        self.aggregate = False
        """Whether all label sets of the metric share one series."""

    def accepts(self, labels: Mapping[str, str]) -> bool:
        """Return whether a sample with ``labels`` is watched by this rule."""
        return all(m.matches(labels) for m in self.match)

    def start(self, series: Series) -> None:  # noqa: B027 - optional hook, no-op by default
        """Prepare per-series state (a window, a detector)."""

    @abstractmethod
    def update(self, series: Series, value: float, now: float) -> bool:
        """Take one sample; return the new latched condition."""

    def timed_condition(self, series: Series, now: float) -> bool:
        """Return the condition at ``now`` without a sample (timed rules only)."""
        return series.latched

    def deadline(self, series: Series) -> float:
        """Return when the condition turns true without a sample (timed rules only)."""
        return math.inf

    def render(self, series: Series) -> dict[str, str]:
        """Return the annotations filled in with the series' value and labels."""
        if not self.annotations:
            return {}
        context = {
            "value": series.value,
            "labels": series.labels,
            "metric": self.metric,
            "rule": self.name,
            "raise_level": self.raise_level,
            "clear_level": self.clear_level,
        }
        out = {}
        for key, template in self.annotations.items():
            try:
                out[key] = template.format_map(context)
            except (KeyError, IndexError, ValueError, TypeError, AttributeError):
                out[key] = template  # a bad template must not lose the alert
        return out

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, metric={self.metric!r})"


def _matchers(value: object) -> tuple[Matcher, ...]:
    if value is None:
        return ()
    if isinstance(value, Mapping):
        labels = check_labels("match", value)
        return tuple(Matcher(k, "=", v) for k, v in labels.items())
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ConfigError("match", "a {label: value} mapping or a list of Matcher", value)
    items = tuple(value)
    if not all(isinstance(m, Matcher) for m in items):
        raise ConfigError("match", "a {label: value} mapping or a list of Matcher", value)
    return items


class Banded(Rule):
    """A rule comparing a number to a raise level and a clear level (hysteresis)."""

    def _band(
        self,
        above: float | None,
        below: float | None,
        clear: float | None,
        *,
        level_names: tuple[str, str] = ("above", "below"),
    ) -> None:
        up, down = level_names
        if (above is None) == (below is None):
            raise ConfigError(f"{up}/{down}", f"exactly one of {up}= or {down}=", (above, below))
        rising = above is not None
        level = check_number(up if rising else down, above if rising else below)
        if clear is None:
            clear_level = level
        elif rising:
            clear_level = check_number("clear", clear, maximum=level)
        else:
            clear_level = check_number("clear", clear, minimum=level)
        self.rising = rising
        self.raise_level = level
        self.clear_level = clear_level

    def _latch(self, latched: bool, x: float) -> bool:
        # Schmitt trigger: raise beyond raise_level, stay until back past clear_level.
        if self.rising:
            return x > (self.clear_level if latched else self.raise_level)  # type: ignore[operator]
        return x < (self.clear_level if latched else self.raise_level)  # type: ignore[operator]
