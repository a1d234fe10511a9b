"""Words and units for incidents: metric labels, readable values, the one-sentence summary.

>>> readable("memory.used", 2.5e9), readable("cpu.total", 97.94), readable("disk.write_bps", 3e7)
('2.5 GB', '98 %', '30 MB/s')
>>> duration(5400.0)
'1 h 30 min'
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "duration",
    "exhaustion",
    "label",
    "material_change",
    "readable",
    "severity",
    "summary",
]

_EXHAUSTION = (("memory.percent", "memory"), ("disk.percent", "disk"), ("swap.percent", "swap"))

_LABELS = {
    "cpu.total": "CPU",
    "cpu.pressure": "CPU pressure",
    "cpu.hogs": "Processes hogging a CPU",
    "memory.percent": "Memory",
    "memory.used": "Memory used",
    "memory.available": "Memory available",
    "swap.percent": "Swap",
    "disk.percent": "Disk",
    "disk.used": "Disk used",
    "disk.read_bps": "Disk reads",
    "disk.write_bps": "Disk writes",
    "net.recv_bps": "Network in",
    "net.sent_bps": "Network out",
    "load.1": "Load",
}

_RESOURCE_WORDS = {
    "cpu": "the rise in CPU demand",
    "memory": "the memory growth",
    "io": "the writes",
}


def label(metric: str) -> str:
    """Return a person's name for ``metric`` (the metric itself when unknown)."""
    if metric in _LABELS:
        return _LABELS[metric]
    if metric.startswith("disk.used:"):
        return f"Disk used on {metric.partition(':')[2]}"
    return metric


def _bytes(value: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(value) >= size:
            return f"{value / size:.3g} {unit}"
    return f"{value:.0f} B"


def readable(metric: str, value: float) -> str:
    """Return ``value`` of ``metric`` with its unit, rounded for a person."""
    if not math.isfinite(value):
        return "?"
    if metric == "cpu.hogs":
        return f"{value:.0f}"
    if metric.startswith("cpu.") or metric.endswith("percent"):
        return f"{value:.0f} %"
    if metric.endswith("_bps"):
        return _bytes(value) + "/s"
    if metric.startswith(("memory.", "disk.used")):
        return _bytes(value)
    return f"{value:.3g}"


def duration(seconds: float) -> str:
    """Return a rounded duration such as ``'45 s'``, ``'12 min'`` or ``'3 h 5 min'``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    if hours >= 48:
        return f"{hours / 24:.0f} days"
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def material_change(metric: str) -> float:
    """Return the smallest change of ``metric``'s median that an incident is made of.

    A shift smaller than this is real but not worth a person's attention (memory use
    moving by a few megabytes), however significant the statistics find it.
    """
    if metric == "cpu.hogs":
        return 1.0
    if metric.startswith("cpu."):
        return 10.0
    if metric.endswith("percent"):
        return 2.0
    if metric.endswith("_bps"):
        return 5e6
    if metric.startswith(("memory.", "disk.used")):
        return 100e6
    if metric.startswith("load."):
        return 1.0
    if metric.startswith("temp."):
        return 10.0
    return 0.0


def summary(
    started: float,
    trigger: str,
    latest: Mapping[str, float],
    before: float,
    processes: Sequence[Mapping[str, Any]],
    forecasts: Sequence[Mapping[str, Any]],
) -> str:
    """Return the incident's one-sentence summary.

    >>> summary(0.0, "cpu.total", {"cpu.total": 98.0}, 4.0,
    ...         [{"pid": 42, "name": "stress-ng-cpu", "share": 0.94, "resource": "cpu"}], [])
    'CPU at 98 % since 00:00:00 UTC (was 4 %); stress-ng-cpu (pid 42) accounts for 94 % of the rise in CPU demand.'
    """  # noqa: E501
    since = time.strftime("%H:%M:%S UTC", time.gmtime(started))
    value = latest.get(trigger, math.nan)
    text = (
        f"{label(trigger)} at {readable(trigger, value)} since {since} "
        f"(was {readable(trigger, before)})"
    )
    if processes:
        top = processes[0]
        words = _RESOURCE_WORDS.get(str(top.get("resource")), "the change")
        text += (
            f"; {top['name']} (pid {top['pid']}) accounts for "
            f"{100 * float(top['share']):.0f} % of {words}"
        )
    for forecast in forecasts[:1]:
        text += f"; {forecast['text']}"
    return text + "."


def exhaustion(analyser: Any) -> list[dict[str, Any]]:
    """Return "memory/disk/swap full in X" forecasts where a significant trend points there.

    Args:
        analyser: a :class:`~rebellion.monitor.analysis.HostAnalyser` (None: no forecasts).
    """
    if analyser is None:
        return []
    out: list[dict[str, Any]] = []
    for metric, what in _EXHAUSTION:
        f = analyser.forecast_with(metric, 100.0)
        if f is None or f.time_to_threshold is None or f.trend != "rising":
            continue
        high = duration(f.ttt_high) if f.ttt_high is not None else "much longer"
        out.append(
            {
                "metric": metric,
                "threshold": 100.0,
                "time_to_threshold": round(f.time_to_threshold, 1),
                "low": None if f.ttt_low is None else round(f.ttt_low, 1),
                "high": None if f.ttt_high is None else round(f.ttt_high, 1),
                "text": f"{what} full in ~{duration(f.time_to_threshold)} "
                f"({duration(f.ttt_low or 0.0)} to {high})",
            }
        )
    return out


def severity(latest: Mapping[str, float], forecasts: Sequence[Mapping[str, Any]]) -> str:
    """Return ``"critical"`` past an alert threshold or when full within the hour.

    >>> severity({"cpu.total": 97.0}, []), severity({"cpu.total": 50.0}, [])
    ('critical', 'warning')
    """
    from .analysis import DEFAULT_THRESHOLDS

    if any(latest.get(m, -math.inf) >= limit for m, limit in DEFAULT_THRESHOLDS.items()):
        return "critical"
    if any(float(f["time_to_threshold"]) < 3600 for f in forecasts):
        return "critical"
    return "warning"
