"""The process scan and who accounts for a change: CPU, memory and I/O deltas per process.

:class:`ProcessScanner` reads every process once per scan with a short attribute list
(``psutil.process_iter(["name", "cpu_times", "memory_info", "io_counters"])``: a stat,
a statm and an io file each) and keeps the last few scans' cumulative counters as
:class:`ProcessTable` objects. :func:`attribute` compares the rate of every process
during a period with its rate in the period before (a process that did not exist yet
had a rate of 0) and ranks the processes by their share of the rise. Comparing rates
rather than levels is what makes the verdict independent of machine speed and load: a
hog that takes a core from processes already busy shows up as the one whose use rose.

>>> a = ProcessTable(0.0, 0.0, {1: ("idle", 1.0, 100, 0.0)})
>>> b = ProcessTable(10.0, 10.0, {1: ("idle", 1.1, 100, 0.0), 2: ("hog", 9.0, 200, 0.0)})
>>> [(p["name"], p["share"]) for p in attribute(None, a, b, "cpu")]
[('hog', 0.989), ('idle', 0.011)]
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Literal, final

import psutil

from .._clock import Clock
from .._validate import check_clock, check_int

__all__ = ["ProcessScanner", "ProcessTable", "Resource", "attribute", "resource_of"]

Resource = Literal["cpu", "memory", "io"]
Row = tuple[str, float, int, float]
"""name, CPU seconds (user + system), resident bytes, bytes written (write syscalls)."""


@dataclass(frozen=True, slots=True)
class ProcessTable:
    """Cumulative counters of every process at one scan (``at`` wall, ``mono`` monotonic)."""

    at: float
    mono: float
    rows: dict[int, Row]


def resource_of(metric: str) -> Resource | None:
    """Return the per-process resource that explains ``metric`` (None: none does).

    >>> resource_of("cpu.total"), resource_of("memory.used"), resource_of("disk.used")
    ('cpu', 'memory', 'io')
    """
    family = metric.split(".", 1)[0]
    if family in ("cpu", "load"):
        return "cpu"
    if family in ("memory", "swap"):
        return "memory"
    if family == "disk":
        return "io"
    return None


@final
class ProcessScanner:
    """Scan processes and keep the last ``keep`` scans for attribution.

    Args:
        clock: time source.
        keep: scans kept (>= 2).
    """

    def __init__(self, *, clock: Clock | None = None, keep: int = 12) -> None:
        self._clock = check_clock(clock)
        self._tables: deque[ProcessTable] = deque(maxlen=check_int("keep", keep, minimum=2))

    def scan(self) -> ProcessTable:
        """Read every process's counters now and remember them."""
        rows: dict[int, Row] = {}
        attrs = ["name", "cpu_times", "memory_info", "io_counters"]
        for proc in psutil.process_iter(attrs):
            info = proc.info
            cpu, memory = info.get("cpu_times"), info.get("memory_info")
            if cpu is None or memory is None:
                continue
            io = info.get("io_counters")
            written = float(getattr(io, "write_chars", getattr(io, "write_bytes", 0.0)))
            rows[proc.pid] = (info.get("name") or "?", cpu.user + cpu.system, memory.rss, written)
        table = ProcessTable(self._clock.wall(), self._clock.monotonic(), rows)
        self._tables.append(table)
        return table

    def tables(self) -> list[ProcessTable]:
        """Return the kept scans, oldest first."""
        return list(self._tables)

    def before(self, at: float) -> tuple[ProcessTable | None, ProcessTable | None]:
        """Return the last two scans taken at or before wall time ``at`` (None: missing)."""
        earlier = [t for t in self._tables if t.at <= at]
        if not earlier:
            return None, None
        return (earlier[-2] if len(earlier) > 1 else None), earlier[-1]


def _rates(start: ProcessTable, end: ProcessTable, resource: Resource) -> dict[int, float]:
    elapsed = end.mono - start.mono
    if elapsed <= 0:
        return {}
    field = {"cpu": 1, "memory": 2, "io": 3}[resource]
    out: dict[int, float] = {}
    for pid, row in end.rows.items():
        old = start.rows.get(pid)
        then = float(old[field]) if old is not None and old[0] == row[0] else 0.0
        delta = float(row[field]) - then
        if resource != "memory":
            delta = max(delta, 0.0)  # a reused pid or a counter reset is not negative use
        out[pid] = delta / elapsed
    return out


def attribute(
    baseline: tuple[ProcessTable, ProcessTable] | None,
    start: ProcessTable,
    end: ProcessTable,
    resource: Resource,
    *,
    top: int = 5,
) -> list[dict[str, Any]]:
    """Rank processes by their share of the rise in ``resource`` use from ``start`` to ``end``.

    Args:
        baseline: two earlier scans giving each process's usual rate (None: assume 0
            for CPU and I/O growth before the period, and no memory growth).
        start: the scan at the beginning of the period.
        end: the scan at its end.
        resource: ``"cpu"`` (CPU seconds), ``"memory"`` (resident bytes) or ``"io"``
            (bytes written).
        top: rows returned.

    Returns:
        Rows ``{"pid", "name", "share", "resource", "rate", "cpu_percent",
        "memory_rss"}``, largest share first; ``share`` is the process's part of the
        summed rises (0-1), ``rate`` its rise per second (CPU: cores).
    """
    during = _rates(start, end, resource)
    usual = _rates(*baseline, resource) if baseline is not None else {}
    cpu = _rates(start, end, "cpu") if resource != "cpu" else during
    rises = {pid: rate - usual.get(pid, 0.0) for pid, rate in during.items()}
    total = sum(r for r in rises.values() if r > 0)
    if total <= 0:
        return []
    ranked = sorted((p for p in rises if rises[p] > 0), key=rises.__getitem__, reverse=True)
    return [
        {
            "pid": pid,
            "name": end.rows[pid][0],
            "share": round(rises[pid] / total, 3),
            "resource": resource,
            "rate": round(rises[pid], 4),
            "cpu_percent": round(100.0 * cpu.get(pid, 0.0), 1),
            "memory_rss": end.rows[pid][2],
        }
        for pid in ranked[:top]
    ]
