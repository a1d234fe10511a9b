"""Incidents that explain themselves: what changed, which process did it, what comes next.

:class:`IncidentTracker` watches every tick's values and anomaly flags. An anomaly
becomes an incident when the metric's last ``window`` seconds differ from the baseline
just before them (``baseline_factor`` times as long) by a two-sample Kolmogorov-Smirnov
test (D >= ``min_score``, p <= ``max_p``) *and* by a material amount
(:func:`~rebellion.monitor.incident_text.material_change`): a lone spike or a tiny but
significant drift opens nothing. A process that begins to demand a whole core for a
full process-scan interval (:class:`~rebellion.monitor.processes.HogWatch`) is a
trigger too (``cpu.hogs``): on a machine whose cores were already busy it is the only
sign a new CPU hog gives (hogs that began in the same scan make one incident). Other
anomalies that overlap an open incident's start (within one baseline,
``window * baseline_factor`` seconds) join it; later ones open their own, so a busy
machine's churn does not chain into one endless incident. When an incident
opens, it is explained at once: every metric ranked by its KS score against
the baseline, the processes ranked by their share of the rise in CPU, memory or writes
(a process scan is taken on the spot and refined by later scans), and exhaustion
forecasts (memory or disk full in X) where a significant trend points there. It
resolves once no new anomaly came for ``quiet`` seconds, no process whose hogging
triggered it still hogs, and every metric that made it is back within its baseline's
band or, for quantities that accumulate (memory, disk), has stopped moving. A level that
stays changed without a new anomaly for ``settle`` seconds is the new normal: resolved.

>>> from rebellion.testing import ManualClock
>>> tracker = IncidentTracker(interval=1.0, config=IncidentConfig(window=5, warmup=20))
>>> for t in range(40):
...     cpu = 5.0 if t < 30 else 95.0
...     changed = tracker.observe(float(t), {"cpu.total": cpu}, {"cpu.total": {"anomaly": t == 30}})
>>> incident = tracker.list()[0]
>>> incident["status"], incident["metrics"][0]["name"], incident["summary"][:26]
('open', 'cpu.total', 'CPU at 95 % since 00:00:30')
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, final

import numpy as np

from .._validate import check_int, check_number
from ..metrics.correlation import ks_two_sample, nan_quantiles, rank_changes
from .incident_store import IncidentStore
from .incident_text import exhaustion, material_change, severity, summary
from .processes import HogWatch, ProcessTable, Resource, attribute, resource_of

__all__ = ["IncidentConfig", "IncidentTracker"]

HOGS = "cpu.hogs"
"""The trigger of a process that began to demand a whole core (see HogWatch)."""
_IGNORED = ("cpu.hogs", "cpu.core", "load.5", "load.15", "memory.available")
"""Metrics that never open an incident: per-core noise, slow echoes and mirrors."""
_STOCKS = ("memory.used", "memory.percent", "swap.percent", "disk.used", "disk.percent")
"""Quantities that accumulate: once they stop moving, the incident is over."""
_REFRESH = 5.0  # seconds between re-explanations of an open incident without a new scan


@dataclass(frozen=True, slots=True)
class IncidentConfig:
    """How incidents are found and closed (seconds, except the ratios).

    Args:
        window: recent seconds compared with the baseline.
        baseline_factor: the baseline is this many windows long, just before the window.
        warmup: seconds of history before any incident can open.
        quiet: seconds without a new anomaly before an incident may resolve.
        min_score: smallest KS statistic D that confirms a change, in (0, 1].
        max_p: largest KS p-value that confirms a change, in (0, 1).
        keep: incidents kept in memory when there is no store.
        settle: seconds without a new anomaly after which a metric still away from its
            baseline is taken as its new normal (the incident resolves).
    """

    window: float = 10.0
    baseline_factor: int = 4
    warmup: float = 60.0
    quiet: float = 10.0
    min_score: float = 0.7
    max_p: float = 1e-3
    keep: int = 200
    settle: float = 60.0

    def __post_init__(self) -> None:
        check_number("window", self.window, minimum=0.0, exclusive_minimum=True)
        check_int("baseline_factor", self.baseline_factor, minimum=1, maximum=100)
        check_number("warmup", self.warmup, minimum=0.0)
        check_number("quiet", self.quiet, minimum=0.0)
        check_number("min_score", self.min_score, minimum=0.0, maximum=1.0, exclusive_minimum=True)
        check_number("max_p", self.max_p, minimum=0.0, maximum=1.0, exclusive_minimum=True)
        check_int("keep", self.keep, minimum=1)
        check_number("settle", self.settle, minimum=0.0)


@dataclass(slots=True)
class _Open:
    incident: dict[str, Any]
    triggers: dict[str, tuple[float, float, float]]  # metric -> baseline (q05, median, q95)
    last_anomaly: float
    scans: tuple[ProcessTable | None, ProcessTable | None]
    resources: list[Resource]
    hogs: set[int]
    started_mono: float  # the tick time it opened at: anomalies join within a horizon
    explained: ProcessTable | None = None  # the newest scan its processes come from
    refreshed: float = -math.inf
    # A resource whose anomaly joined later is explained from its own start: on a busy
    # machine the processes that moved it are not those that moved the first trigger.
    joined: dict[Resource, tuple[ProcessTable | None, ProcessTable | None]] = field(
        default_factory=dict
    )


@final
class IncidentTracker:
    """Group anomalies into incidents, explain them, and keep them.

    Args:
        interval: seconds between ticks.
        host: the host collector (its process scanner explains incidents; None: no
            processes in incidents).
        analyser: the host analyser (its forecasts give exhaustion times; optional).
        store: where incidents are kept (None: the last ``config.keep`` in memory).
        config: detection settings.
    """

    def __init__(
        self,
        *,
        interval: float = 1.0,
        host: Any = None,
        analyser: Any = None,
        store: IncidentStore | None = None,
        config: IncidentConfig | None = None,
    ) -> None:
        self.interval = check_number("interval", interval, minimum=0.0, exclusive_minimum=True)
        self.config = config or IncidentConfig()
        self.host, self.analyser, self.store = host, analyser, store
        self._n_window = max(3, math.ceil(self.config.window / self.interval))
        self._n_base = self._n_window * self.config.baseline_factor
        self._ring: deque[tuple[float, Mapping[str, float]]] = deque(
            maxlen=self._n_window + self._n_base
        )
        self._flags: dict[str, float] = {}
        self._first: float | None = None
        self._open: list[_Open] = []
        self._join = self.config.window * self.config.baseline_factor
        self._recent: deque[dict[str, Any]] = deque(maxlen=self.config.keep)
        self._ids = itertools.count(1)
        self._hogs = HogWatch()
        self._swept = -math.inf

    # -- the tick ---------------------------------------------------------------------

    def observe(
        self, at: float, values: Mapping[str, float], analysis: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """Take one tick; return the incidents that opened, changed or resolved."""
        self._ring.append((at, values))
        if self._first is None:
            self._first = at
        for name, result in analysis.items():
            if isinstance(result, Mapping) and result.get("anomaly") and _eligible(name):
                self._flags[name] = at
        hogs = self._watch_hogs()
        if at - self._first < self.config.warmup or len(self._ring) < self._n_window + self._n_base:
            return []
        fresh = [m for m, t in self._flags.items() if at - t <= self.config.window and m != HOGS]
        confirmed = self._confirm(fresh) if fresh else []
        if at - self._swept >= self.config.window / 2:
            # The safety net under the detector: a sustained rise the KS test confirms
            # is an incident even if the detector flagged it once, early (while the
            # window held little of it), and then rested.
            self._swept = at
            candidates = [n for n in values if _eligible(n) and n not in confirmed]
            confirmed += self._confirm(candidates, rising=True) if candidates else []
        confirmed = self._continuing(at, confirmed)
        if hogs:
            confirmed.insert(0, HOGS)
        changed: dict[str, _Open] = {}
        if confirmed:
            self._assign(at, confirmed, hogs, changed)
        out: list[dict[str, Any]] = []
        newest = self._newest_scan()
        for current in list(self._open):
            stale = at - current.refreshed >= _REFRESH or newest is not current.explained
            if stale or current.incident["id"] in changed:
                current.explained, current.refreshed = newest, at
                if self._refresh(current) or current.incident["id"] in changed:
                    changed[current.incident["id"]] = current
            if at - current.last_anomaly >= self.config.quiet and self._settled(current, at):
                out.append(self._resolve(current, at))
                changed.pop(current.incident["id"], None)
        return out + [self._publish(c, at) for c in changed.values()]

    def _assign(
        self, at: float, confirmed: list[str], hogs: set[int], changed: dict[str, _Open]
    ) -> None:
        """Join each confirmed anomaly to an open incident it overlaps, or open one."""
        fresh: list[str] = []
        for name in confirmed:
            # Hogs that began in one scan are one incident of their own; other anomalies
            # join an incident that opened less than a baseline ago, preferring one of
            # their resource. (A level that stays changed is not confirmed again: its
            # baseline has caught up.)
            near = [c for c in self._open if at - c.started_mono <= self._join]
            if name == HOGS:
                near = []
            near.sort(key=lambda c: resource_of(name) not in c.resources)
            target = near[0] if near else None
            if target is None:
                fresh.append(name)
                continue
            target.last_anomaly = at
            if name == HOGS:
                target.hogs |= hogs
            if name not in target.triggers:
                target.triggers[name] = self._band(name)
                resource = resource_of(name)
                if resource is not None and resource not in target.resources:
                    target.resources.append(resource)
                    scanner = getattr(self.host, "scanner", None)
                    if scanner is not None:
                        target.joined[resource] = scanner.before(self._flags.get(name, at))
                changed[target.incident["id"]] = target
        if fresh:
            current = self._start(at, fresh, hogs if HOGS in fresh else set())
            changed[current.incident["id"]] = current

    def _continuing(self, at: float, confirmed: list[str]) -> list[str]:
        """Keep open the incidents whose triggers are still changing; return the rest.

        A metric that still differs from its baseline while it already triggers an open
        incident (a leak that keeps growing) extends that incident instead of opening
        another one for the same cause.
        """
        rest: list[str] = []
        for name in confirmed:
            owner = next((c for c in self._open if name != HOGS and name in c.triggers), None)
            if owner is None:
                rest.append(name)
                continue
            owner.last_anomaly = at
        for name in rest:
            if at - self._flags.get(name, -math.inf) > self.config.window:
                self._flags[name] = at  # found by the sweep, not by the detector
        return rest

    def _newest_scan(self) -> ProcessTable | None:
        scanner = getattr(self.host, "scanner", None)
        tables = scanner.tables() if scanner is not None else []
        return tables[-1] if tables else None

    def _watch_hogs(self) -> set[int]:
        scanner = getattr(self.host, "scanner", None)
        if scanner is None:
            return set()
        new, began = self._hogs.update(scanner)
        if new and began is not None:
            self._flags[HOGS] = began
        return new

    def _matrix(self, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
        if not names:  # an incident of hogs alone has no metric to read
            empty = np.empty((0, len(self._ring)), dtype=np.float64)
            return empty[:, -self._n_window :], empty[:, : -self._n_window]
        rows = np.array(
            [[values.get(n, math.nan) for n in names] for _, values in self._ring],
            dtype=np.float64,
        ).T.reshape(len(names), -1)
        return rows[:, -self._n_window :], rows[:, : -self._n_window]

    def _confirm(self, names: list[str], *, rising: bool = False) -> list[str]:
        window, base = self._matrix(names)
        d, p = ks_two_sample(window, base)
        change = nan_quantiles(window, [0.5])[:, 0] - nan_quantiles(base, [0.5])[:, 0]
        shift = change if rising else np.abs(change)
        floors = np.array([material_change(n) for n in names])
        ok = (d >= self.config.min_score) & (p <= self.config.max_p) & (shift >= floors)
        order = np.lexsort((-shift / np.maximum(floors, 1e-12), -d))
        return [names[i] for i in order if ok[i]]

    def _onset(self, name: str) -> float:
        """Return when ``name`` left its baseline for good: the tick after the last one
        inside the baseline's band (on a busy machine a change may be confirmed well
        after it began, and the processes that made it are found from its onset)."""
        window, base = self._matrix([name])
        series = np.concatenate([base[0], window[0]])
        known = base[0][np.isfinite(base[0])]
        if not known.size or not np.isfinite(window[0]).any():
            return math.inf
        q05, q50, q95 = nan_quantiles(known, [0.05, 0.5, 0.95])[0]
        slack = material_change(name) / 2
        rising = float(nan_quantiles(window, [0.5])[0, 0]) > q50
        with np.errstate(invalid="ignore"):
            inside = series <= q95 + slack if rising else series >= q05 - slack
        last = np.flatnonzero(inside)
        k = int(last[-1]) + 1 if last.size else 0
        return float(self._ring[min(k, len(self._ring) - 1)][0])

    def _band(self, name: str) -> tuple[float, float, float]:
        _, base = self._matrix([name])
        if not np.isfinite(base[0]).any():
            return math.nan, math.nan, math.nan
        q05, q50, q95 = nan_quantiles(base, [0.05, 0.5, 0.95])[0]
        return float(q05), float(q50), float(q95)

    # -- opening, refreshing, resolving -----------------------------------------------

    def _start(self, at: float, confirmed: list[str], hogs: set[int]) -> _Open:
        names = sorted({n for _, values in self._ring for n in values})
        window, base = self._matrix(names)
        ranked = rank_changes(names, window, base, top=10, max_p=self.config.max_p)
        trigger_set = set(confirmed)
        for row in ranked:
            row["trigger"] = row["name"] in trigger_set
        started = min(
            [self._flags[n] for n in confirmed] + [self._onset(n) for n in confirmed if n != HOGS]
        )
        triggers = {n: self._band(n) for n in confirmed}
        scans: tuple[ProcessTable | None, ProcessTable | None] = (None, None)
        scanner = getattr(self.host, "scanner", None)
        if scanner is not None:
            scans = scanner.before(started)
            self.host.scan_processes()
        resources = list(dict.fromkeys(r for n in confirmed if (r := resource_of(n))))
        incident: dict[str, Any] = {
            "id": f"{int(started)}-{next(self._ids)}",
            "status": "open",
            "started": started,
            "ended": None,
            "updated": at,
            "severity": "warning",
            "summary": "",
            "triggers": confirmed,
            "metrics": ranked,
            "processes": [],
            "forecasts": [],
        }
        current = _Open(incident, triggers, at, scans, resources, set(hogs), at)
        self._open.append(current)
        current.explained = self._newest_scan()
        self._refresh(current)
        return current

    def _refresh(self, current: _Open) -> bool:
        """Re-explain the incident with the latest scan and forecasts; True if it changed."""
        incident = current.incident
        before = (incident["processes"], incident["forecasts"], incident["summary"])
        incident["processes"] = self._processes(current)
        incident["forecasts"] = exhaustion(self.analyser)
        trigger = next(iter(current.triggers))
        latest = self._ring[-1][1]
        incident["summary"] = summary(
            incident["started"],
            trigger,
            latest,
            current.triggers[trigger][1],
            incident["processes"],
            incident["forecasts"],
        )
        incident["triggers"] = list(current.triggers)
        incident["severity"] = severity(latest, incident["forecasts"])
        return (incident["processes"], incident["forecasts"], incident["summary"]) != before

    def _processes(self, current: _Open) -> list[dict[str, Any]]:
        scanner = getattr(self.host, "scanner", None)
        base, start = current.scans
        if scanner is None or start is None:
            return []
        tables = scanner.tables()
        if not tables or tables[-1] is start:
            return []
        rows: list[dict[str, Any]] = []
        resources: list[Resource] = current.resources or ["cpu"]
        window, _ = self._matrix(list(current.triggers))
        falling: dict[str, bool] = {}
        for i, (name, (_, median, _)) in enumerate(current.triggers.items()):
            resource = resource_of(name)
            if resource is not None and resource not in falling and np.isfinite(window[i]).any():
                falling[resource] = float(nan_quantiles(window[i], [0.5])[0, 0]) < median
        for resource in dict.fromkeys(resources):
            first, begin = current.joined.get(resource, (base, start))
            if begin is None or begin is tables[-1]:
                continue
            pair = (first, begin) if first is not None else None
            down = falling.get(resource, False)
            ranked = attribute(pair, begin, tables[-1], resource, falling=down)
            if resource == "cpu" and current.hogs:  # the hogs seen starting come first
                ranked.sort(key=lambda row: row["pid"] not in current.hogs)
            rows += ranked
        return rows

    def _settled(self, current: _Open, at: float) -> bool:
        if current.hogs and self._hogs.still_hogging(current.hogs):
            return False
        if at - current.last_anomaly >= self.config.settle:
            return True  # changed, but no anomaly for so long: this level is the new normal
        names = [n for n in current.triggers if n != HOGS]
        window, _ = self._matrix(names)
        for i, name in enumerate(names):
            recent = window[i][~np.isnan(window[i])]
            if not recent.size:
                continue
            q05, _, q95 = current.triggers[name]
            slack = material_change(name) / 2
            back = q05 - slack <= float(nan_quantiles(recent, [0.5])[0, 0]) <= q95 + slack
            still = name.startswith(_STOCKS) and float(np.ptp(recent)) < slack
            if not (back or still):
                return False
        return True

    def _resolve(self, current: _Open, at: float) -> dict[str, Any]:
        current.incident["status"] = "resolved"
        current.incident["ended"] = at
        self._open.remove(current)
        for name in current.triggers:
            self._flags.pop(name, None)
        return self._publish(current, at)

    def _publish(self, current: _Open, at: float) -> dict[str, Any]:
        current.incident["updated"] = at
        copy = dict(current.incident)
        if self.store is not None:
            self.store.save(copy)
        else:
            self._recent = deque(
                (i for i in self._recent if i["id"] != copy["id"]), maxlen=self.config.keep
            )
            self._recent.appendleft(copy)
        return copy

    # -- reading ----------------------------------------------------------------------

    def list(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Return incidents, newest first (see :meth:`IncidentStore.list`)."""
        if self.store is not None:
            return self.store.list(status, limit)
        rows = [i for i in self._recent if status is None or i["status"] == status]
        rows.sort(key=lambda i: i["started"], reverse=True)
        return rows[:limit]

    def get(self, ident: str) -> dict[str, Any] | None:
        """Return the incident ``ident`` (None if unknown)."""
        if self.store is not None:
            return self.store.get(ident)
        return next((i for i in self._recent if i["id"] == ident), None)

    def open_count(self) -> int:
        """Return how many incidents are open."""
        return len(self._open)


def _eligible(name: str) -> bool:
    # Per-instance series (``disk[sda].write_bps``, ``fs[/].used``, ``net[eth0]...``)
    # mirror the host totals that open incidents; they are shown, ranked and kept, but
    # opening on them too would split one cause into several unexplained incidents.
    return "[" not in name and not name.startswith(_IGNORED) and material_change(name) > 0
