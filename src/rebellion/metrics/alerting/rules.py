"""Alert rules: threshold, rate of change, anomaly score and absence of data.

A rule is an immutable description; the :class:`~.AlertManager` keeps the state of
every (rule, label set) pair. Each rule turns samples into a *latched condition* with
hysteresis (a Schmitt trigger): it becomes true when the value crosses the raise level
and stays true until the value crosses the separate ``clear`` level, so a signal that
wobbles around one threshold does not flap. The condition must then hold for
``for_duration`` seconds (``PENDING``) before the alert fires, as in Prometheus.

>>> rule = ThresholdRule("cpu_high", "cpu", above=90, clear=80, for_duration=60)
>>> rule.raise_level, rule.clear_level, rule.severity.value
(90.0, 80.0, 'warning')
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import ClassVar, final

from ..._validate import check_callable, check_number
from ...errors import ConfigError
from ..severity import AlertSeverity
from ._model import Matcher
from ._rule_base import Banded, Rule, Scorer, Series

__all__ = [
    "AbsenceRule",
    "AnomalyRule",
    "RateOfChangeRule",
    "Rule",
    "Scorer",
    "Series",
    "ThresholdRule",
]


@final
class ThresholdRule(Banded):
    """Fire while a value is above (or below) a level, with a separate clear level.

    Args:
        above: raise when the value is greater than this.
        below: raise when the value is less than this (give exactly one of the two).
        clear: a raised condition clears only when the value is back at or past this
            level (``<= clear`` for ``above``, ``>= clear`` for ``below``); default: the
            raise level itself (no hysteresis).
        **common: see :class:`Rule`.
    """

    kind: ClassVar[str] = "threshold"

    def __init__(
        self,
        name: str,
        metric: str,
        *,
        above: float | None = None,
        below: float | None = None,
        clear: float | None = None,
        severity: AlertSeverity | str = AlertSeverity.WARNING,
        for_duration: float = 0.0,
        cooldown: float = 0.0,
        repeat_interval: float | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        match: Mapping[str, str] | Iterable[Matcher] | None = None,
    ) -> None:
        super().__init__(
            name, metric, severity=severity, for_duration=for_duration, cooldown=cooldown,
            repeat_interval=repeat_interval, labels=labels, annotations=annotations, match=match,
        )  # fmt: skip
        self._band(above, below, clear)

    def update(self, series: Series, value: float, now: float) -> bool:
        series.value = value
        return self._latch(series.latched, value)


@final
class RateOfChangeRule(Banded):
    """Fire while a metric changes faster than a rate (units per second) over a window.

    The rate is ``(last - first) / (t_last - t_first)`` over the samples of the last
    ``window`` seconds; it needs two samples at different times. Samples older than the
    newest one seen are ignored.

    Args:
        above: raise when the rate is greater than this (e.g. ``5.0``: +5 per second).
        below: raise when the rate is less than this (e.g. ``-5.0``: falling fast).
        clear: the rate at which a raised condition clears (hysteresis).
        window: seconds of samples the rate is measured over (> 0).
        **common: see :class:`Rule`.
    """

    kind: ClassVar[str] = "rate_of_change"

    def __init__(
        self,
        name: str,
        metric: str,
        *,
        above: float | None = None,
        below: float | None = None,
        clear: float | None = None,
        window: float = 60.0,
        severity: AlertSeverity | str = AlertSeverity.WARNING,
        for_duration: float = 0.0,
        cooldown: float = 0.0,
        repeat_interval: float | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        match: Mapping[str, str] | Iterable[Matcher] | None = None,
    ) -> None:
        super().__init__(
            name, metric, severity=severity, for_duration=for_duration, cooldown=cooldown,
            repeat_interval=repeat_interval, labels=labels, annotations=annotations, match=match,
        )  # fmt: skip
        self._band(above, below, clear)
        self.window = check_number("window", window, minimum=0.0, exclusive_minimum=True)

    def start(self, series: Series) -> None:
        series.aux = deque()

    def update(self, series: Series, value: float, now: float) -> bool:
        window: deque[tuple[float, float]] = series.aux  # type: ignore[assignment]
        if window and now < window[-1][0]:
            return series.latched
        window.append((now, value))
        horizon = now - self.window
        while window[0][0] < horizon:
            window.popleft()
        first_t, first_v = window[0]
        if now <= first_t:
            return series.latched
        rate = (value - first_v) / (now - first_t)
        series.value = rate
        return self._latch(series.latched, rate)


@final
class AnomalyRule(Banded):
    """Fire while an anomaly score in [0, 1] is at or above ``level``.

    By default each label set gets its own :class:`~rebellion.metrics.AnomalyDetector`
    fed with the raw samples; with ``scored=True`` the samples already are scores
    (e.g. from the metric transformer) and are compared directly.

    Args:
        level: the score that raises the condition (0.5: p = 1e-5, the detector's
            own alert level).
        clear: the score below which a raised condition clears (default: ``level``).
        scored: the observed values are scores, not raw samples.
        detector_factory: builds one detector per label set (default:
            ``AnomalyDetector()``); it needs an ``update(value) -> float`` method.
        **common: see :class:`Rule`.
    """

    kind: ClassVar[str] = "anomaly"

    def __init__(
        self,
        name: str,
        metric: str,
        *,
        level: float = 0.5,
        clear: float | None = None,
        scored: bool = False,
        detector_factory: Callable[[], Scorer] | None = None,
        severity: AlertSeverity | str = AlertSeverity.WARNING,
        for_duration: float = 0.0,
        cooldown: float = 0.0,
        repeat_interval: float | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        match: Mapping[str, str] | Iterable[Matcher] | None = None,
    ) -> None:
        super().__init__(
            name, metric, severity=severity, for_duration=for_duration, cooldown=cooldown,
            repeat_interval=repeat_interval, labels=labels, annotations=annotations, match=match,
        )  # fmt: skip
        self.raise_level = check_number("level", level, minimum=0.0, maximum=1.0)
        self.clear_level = (
            self.raise_level
            if clear is None
            else check_number("clear", clear, minimum=0.0, maximum=self.raise_level)
        )
        if not isinstance(scored, bool):
            raise ConfigError("scored", "True or False", scored)
        self.scored = scored
        if detector_factory is not None:
            check_callable("detector_factory", detector_factory, "a callable returning a detector")
        self.detector_factory = detector_factory

    def start(self, series: Series) -> None:
        if self.scored:
            return
        if self.detector_factory is None:
            from ..anomaly import AnomalyDetector

            series.aux = AnomalyDetector()
        else:
            series.aux = self.detector_factory()

    def update(self, series: Series, value: float, now: float) -> bool:
        score = value if self.scored else series.aux.update(value)  # type: ignore[attr-defined]
        series.value = score
        if series.latched:
            return bool(score >= self.clear_level)  # type: ignore[operator]
        return bool(score >= self.raise_level)  # type: ignore[operator]


@final
class AbsenceRule(Rule):
    """Fire when a metric has had no sample for ``timeout`` seconds.

    With ``per_series=False`` (the default) any matching sample of the metric counts and
    the alert carries only the rule's labels; the clock starts when the rule is added,
    so a metric that never reports fires too. With ``per_series=True`` each label set is
    watched separately from its first sample on. A new sample clears the condition.

    Args:
        timeout: seconds without a sample before the condition is raised (> 0).
        per_series: watch each label set on its own.
        **common: see :class:`Rule`.
    """

    kind: ClassVar[str] = "absence"

    def __init__(
        self,
        name: str,
        metric: str,
        *,
        timeout: float,
        per_series: bool = False,
        severity: AlertSeverity | str = AlertSeverity.WARNING,
        for_duration: float = 0.0,
        cooldown: float = 0.0,
        repeat_interval: float | None = None,
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        match: Mapping[str, str] | Iterable[Matcher] | None = None,
    ) -> None:
        super().__init__(
            name, metric, severity=severity, for_duration=for_duration, cooldown=cooldown,
            repeat_interval=repeat_interval, labels=labels, annotations=annotations, match=match,
        )  # fmt: skip
        self.timeout = check_number("timeout", timeout, minimum=0.0, exclusive_minimum=True)
        if not isinstance(per_series, bool):
            raise ConfigError("per_series", "True or False", per_series)
        self.per_series = per_series
        self.raise_level = self.timeout
        self.timed = True
        self.aggregate = not per_series

    def update(self, series: Series, value: float, now: float) -> bool:
        if now > series.last_seen:
            series.last_seen = now
        series.value = 0.0
        return False

    def deadline(self, series: Series) -> float:
        return series.last_seen + self.timeout

    def timed_condition(self, series: Series, now: float) -> bool:
        series.value = now - series.last_seen
        return now >= series.last_seen + self.timeout
