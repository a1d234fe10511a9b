"""The process scan and who accounts for a change: CPU, memory and I/O deltas per process.

:class:`ProcessScanner` reads every process once per scan with a short attribute list
(``psutil.process_iter(["name", "cpu_times", "memory_info", "io_counters"])``: a stat,
a statm and an io file each) and keeps the last few scans' cumulative counters as
:class:`ProcessTable` objects. :func:`attribute` compares the rate of every process
during a period with its rate in the period before (a process that did not exist yet
had a rate of 0) and ranks the processes by their share of the rise (or of the fall).
Comparing rates rather than levels is what makes the verdict independent of machine
speed and load. CPU is measured as *demand*: CPU time plus the time the process was
runnable but waiting for a core (Linux schedstat), so a busy loop demands one core
whether it gets the whole core on an idle machine or a tenth of it on a saturated one.
:meth:`ProcessScanner.hogs` counts the processes demanding most of a core: the host
reports it as ``cpu.hogs``, the one CPU metric a new hog moves when every core was
already busy.

>>> a = ProcessTable(0.0, 0.0, {1: ("idle", 1.0, 100, 0.0, 1.0)})
>>> b = ProcessTable(
...     10.0, 10.0, {1: ("idle", 1.1, 100, 0.0, 1.1), 2: ("hog", 9.0, 200, 0.0, 9.0)}
... )
>>> [(p["name"], p["share"]) for p in attribute(None, a, b, "cpu")]
[('hog', 0.989), ('idle', 0.011)]
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, final

import psutil

from .._clock import Clock
from .._validate import check_clock, check_int, check_number

__all__ = [
    "ATTRS",
    "HogWatch",
    "ProcessScanner",
    "ProcessTable",
    "Resource",
    "attribute",
    "resource_of",
]

Resource = Literal["cpu", "memory", "io"]
Row = tuple[str, float, int, float, float]
"""name, CPU seconds (user + system), resident bytes, bytes written (write syscalls),
CPU demand seconds (CPU seconds plus time spent runnable but waiting for a CPU)."""
_FIELDS = {"cpu": 4, "memory": 2, "io": 3}
ATTRS = ["name", "create_time", "cpu_times", "memory_info", "io_counters"]
"""The psutil fields a scan reads."""


@dataclass(frozen=True, slots=True)
class ProcessTable:
    """Cumulative counters of every process at one scan (``at`` wall, ``mono`` monotonic).

    ``born`` holds each process's start time where it was read: a pid seen in two scans
    is the same process only if it started at the same time (names are no proof: a
    kernel worker's name changes with the work it runs, ``kworker/0:1-events`` then
    ``kworker/0:1-mm_percpu_wq``).
    """

    at: float
    mono: float
    rows: dict[int, Row]
    born: dict[int, float] = field(default_factory=dict)


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
        min_span: shortest span in seconds that CPU rates (demand, use, hogs) are read
            over.
    """

    def __init__(
        self, *, clock: Clock | None = None, keep: int = 12, min_span: float = 1.0
    ) -> None:
        self._clock = check_clock(clock)
        self._tables: deque[ProcessTable] = deque(maxlen=check_int("keep", keep, minimum=2))
        self.min_span = check_number("min_span", min_span, minimum=0.0)
        # Without schedstats (not Linux, or a kernel built without them) demand is CPU
        # time. Decided once: one process ending mid-read says nothing about the kernel.
        self._schedstat = os.path.exists(f"/proc/{os.getpid()}/schedstat")
        # The monitor never explains an incident by itself: its start-up work (imports,
        # first scans) would otherwise read as a CPU hog. Its own cost is in its stats.
        self._own = os.getpid()

    def scan(self) -> ProcessTable:
        """Read every process's counters now and remember them (the monitor's own aside)."""
        return self.ingest((proc.pid, proc.info) for proc in psutil.process_iter(ATTRS))

    def ingest(self, infos: Iterable[tuple[int, Mapping[str, Any]]]) -> ProcessTable:
        """Remember one scan read by someone else: ``(pid, psutil info)`` pairs with at
        least the :data:`ATTRS` fields (the host reads every process once for both this
        and its process table)."""
        rows: dict[int, Row] = {}
        born: dict[int, float] = {}
        for pid, info in infos:
            if pid == self._own:
                continue
            cpu, memory = info.get("cpu_times"), info.get("memory_info")
            if cpu is None or memory is None:
                continue
            io = info.get("io_counters")
            written = float(getattr(io, "write_chars", getattr(io, "write_bytes", 0.0)))
            busy = cpu.user + cpu.system
            demand = busy + self._waited(pid)
            rows[pid] = (info.get("name") or "?", busy, memory.rss, written, demand)
            created = info.get("create_time")
            if created is not None:
                born[pid] = float(created)
        table = ProcessTable(self._clock.wall(), self._clock.monotonic(), rows, born)
        self._tables.append(table)
        return table

    def _waited(self, pid: int) -> float:
        """Return the seconds ``pid`` spent runnable but waiting (0 without schedstat)."""
        if not self._schedstat:
            return 0.0
        try:
            with open(f"/proc/{pid}/schedstat", encoding="ascii") as stat:
                return int(stat.read().split()[1]) / 1e9
        except (OSError, ValueError, IndexError):
            return 0.0  # the process ended (ENOENT, ESRCH) while we read it

    def span(self) -> tuple[ProcessTable, ProcessTable] | None:
        """Return the newest scan and the newest one at least ``min_span`` s before it.

        Rates over a shorter span are mostly rounding (CPU time is counted in 10 ms
        ticks): a scan taken on the spot right after a regular one would make a busy
        loop read as idle. Falls back to the oldest scan kept (None: fewer than two).
        """
        if len(self._tables) < 2:
            return None
        end = self._tables[-1]
        start = next(
            (t for t in reversed(self._tables) if end.mono - t.mono >= self.min_span),
            self._tables[0],
        )
        return (start, end) if start is not end else None

    def demand(self) -> dict[int, float]:
        """Return each process's CPU demand (cores) over the newest :meth:`span`."""
        pair = self.span()
        return _rates(*pair, "cpu") if pair is not None else {}

    def use(self) -> dict[int, float]:
        """Return each process's CPU use (cores) over the newest :meth:`span`."""
        pair = self.span()
        return _cpu_use(*pair) if pair is not None else {}

    def hogs(self, threshold: float = 0.8) -> int:
        """Return how many processes demanded at least ``threshold`` cores between the
        last two scans."""
        use = self.use()
        return sum(
            1 for pid, rate in self.demand().items() if rate >= threshold and use[pid] >= 0.1
        )

    def tables(self) -> list[ProcessTable]:
        """Return the kept scans, oldest first."""
        return list(self._tables)

    def before(self, at: float) -> tuple[ProcessTable | None, ProcessTable | None]:
        """Return the last two scans taken at or before wall time ``at`` (None: missing)."""
        earlier = [t for t in self._tables if t.at <= at]
        if not earlier:
            return None, None
        return (earlier[-2] if len(earlier) > 1 else None), earlier[-1]


def _same(start: ProcessTable, end: ProcessTable, pid: int) -> bool:
    """Return True if ``pid`` is one process in both scans (not a pid reused in between)."""
    old, new = start.rows.get(pid), end.rows.get(pid)
    if old is None or new is None:
        return False
    first, second = start.born.get(pid), end.born.get(pid)
    if first is not None and second is not None:
        return abs(first - second) < 0.05  # start times are clock ticks (10 ms) since boot
    return old[0] == new[0]


def _rates(start: ProcessTable, end: ProcessTable, resource: Resource) -> dict[int, float]:
    elapsed = end.mono - start.mono
    if elapsed <= 0:
        return {}
    field = _FIELDS[resource]
    out: dict[int, float] = {}
    for pid, row in end.rows.items():
        old = start.rows.get(pid)
        then = float(old[field]) if old is not None and _same(start, end, pid) else 0.0
        delta = float(row[field]) - then
        if resource != "memory":
            delta = max(delta, 0.0)  # a reused pid or a counter reset is not negative use
        out[pid] = delta / elapsed
    if resource == "memory":
        for pid, row in start.rows.items():
            if pid not in end.rows:
                out[pid] = -float(row[2]) / elapsed  # it ended: its memory was freed
    return out


def _cpu_use(start: ProcessTable, end: ProcessTable) -> dict[int, float]:
    elapsed = end.mono - start.mono
    if elapsed <= 0:
        return {}
    out: dict[int, float] = {}
    for pid, row in end.rows.items():
        old = start.rows.get(pid)
        then = old[1] if old is not None and _same(start, end, pid) else 0.0
        out[pid] = max(row[1] - then, 0.0) / elapsed
    return out


def attribute(
    baseline: tuple[ProcessTable, ProcessTable] | None,
    start: ProcessTable,
    end: ProcessTable,
    resource: Resource,
    *,
    top: int = 5,
    falling: bool = False,
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
        falling: rank by the share of a fall instead (memory freed, writes stopped).

    Returns:
        Rows ``{"pid", "name", "share", "resource", "rate", "cpu_percent",
        "memory_rss"}``, largest share first; ``share`` is the process's part of the
        summed rises (0-1), ``rate`` its rise per second (CPU: cores of demand).
    """
    during = _rates(start, end, resource)
    usual = _rates(*baseline, resource) if baseline is not None else {}
    cpu = _cpu_use(start, end)
    sign = -1.0 if falling else 1.0
    rises = {pid: sign * (rate - usual.get(pid, 0.0)) for pid, rate in during.items()}
    if falling:
        # A process that ended during the period took its whole usual rate with it.
        rises.update({pid: rate for pid, rate in usual.items() if pid not in during})
    total = sum(r for r in rises.values() if r > 0)
    if total <= 0:
        return []
    ranked = sorted((p for p in rises if rises[p] > 0), key=rises.__getitem__, reverse=True)
    return [
        {
            "pid": pid,
            "name": _name(pid, end, start, *(baseline or ())),
            "share": round(rises[pid] / total, 3),
            "resource": resource,
            "rate": round(rises[pid], 4),
            "cpu_percent": round(100.0 * cpu.get(pid, 0.0), 1),
            "memory_rss": end.rows[pid][2] if pid in end.rows else 0,
        }
        for pid in ranked[:top]
    ]


def _name(pid: int, *tables: ProcessTable) -> str:
    return next((t.rows[pid][0] for t in tables if pid in t.rows), "?")


@final
class HogWatch:
    """Notice processes that begin to demand a whole core for a full scan interval.

    A hog known since it was first seen stays known until its demand falls below
    ``calm``; only a process that *starts* hogging is news. On a saturated machine this
    is the one CPU signal a new hog gives (every core was already busy).

    Args:
        threshold: cores of demand that make a hog.
        calm: cores of demand below which a hog is one no longer.
        min_use: cores a hog must also *use*: a process that mostly waits in a crowded
            run queue (the monitor itself, a kernel worker) demands much but is no hog.
    """

    def __init__(self, threshold: float = 0.8, calm: float = 0.5, min_use: float = 0.1) -> None:
        self.threshold, self.calm, self.min_use = threshold, calm, min_use
        self._known: set[int] = set()
        self._seen: ProcessTable | None = None
        self._demand: dict[int, float] = {}

    def update(self, scanner: ProcessScanner) -> tuple[set[int], float | None]:
        """Read the newest scan once; return new hogs and when their hogging began."""
        tables = scanner.tables()
        if len(tables) < 2 or tables[-1] is self._seen:
            return set(), None
        self._seen = tables[-1]
        self._demand = scanner.demand()
        use = scanner.use()
        span = getattr(scanner, "span", None)
        pair = span() if span is not None else (tables[-2], tables[-1])
        began = pair[0].at if pair is not None else tables[-2].at
        hogging = {
            pid
            for pid, rate in self._demand.items()
            if rate >= self.threshold and use.get(pid, 0.0) >= self.min_use
        }
        self._known = {p for p in self._known if self._demand.get(p, 0.0) >= self.calm}
        new = hogging - self._known
        self._known |= hogging
        return new, began

    def still_hogging(self, pids: set[int]) -> bool:
        """Return True while one of ``pids`` demands at least ``calm`` cores."""
        return any(self._demand.get(pid, 0.0) >= self.calm for pid in pids)
