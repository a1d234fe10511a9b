"""The process table: CPU, memory and I/O rates per process from one ``/proc`` scan.

Rates come from deltas of cumulative counters between two scans (CPU seconds, bytes
read and written), so psutil keeps no per-process state. The table holds the union of
the top processes by CPU, by memory and by I/O, so a client can sort it by any of the
three without missing the leader.

>>> from rebellion.testing import ManualClock
>>> scanner = TopProcesses(top=3, clock=ManualClock())
>>> rows = scanner.scan()
>>> 1 <= len(rows) <= 9 and all(r.threads >= 1 for r in rows)
True
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, final

import psutil

from .._clock import Clock
from .._validate import check_clock, check_int

__all__ = ["ATTRS", "ProcessInfo", "TopProcesses"]

ATTRS = ["name", "cpu_times", "memory_info", "username", "num_threads", "cmdline", "io_counters"]


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """One row of the process table (CPU % is of one core, as ``top`` shows it)."""

    pid: int
    name: str
    cpu_percent: float
    memory_rss: int
    memory_percent: float
    user: str = ""
    threads: int = 1
    io_bps: float = 0.0
    cmdline: str = ""

    def to_dict(self) -> dict[str, object]:
        """Return the row as a JSON-ready dict."""
        return {
            "pid": self.pid,
            "name": self.name,
            "cpu_percent": round(self.cpu_percent, 2),
            "memory_rss": self.memory_rss,
            "memory_percent": round(self.memory_percent, 2),
            "user": self.user,
            "threads": self.threads,
            "io_bps": round(self.io_bps, 1),
            "cmdline": self.cmdline,
        }


@final
class TopProcesses:
    """Scan every process and keep the top ones by CPU, memory and I/O.

    Args:
        top: rows kept per sort key (the table is their union, at most ``3 * top``).
        clock: time source for the rates.

    Raises:
        ConfigError: on a bad ``top``.
    """

    def __init__(self, *, top: int = 12, clock: Clock | None = None) -> None:
        self._top = check_int("top", top, minimum=1, maximum=1000)
        self._clock = check_clock(clock)
        self._total_memory = psutil.virtual_memory().total or 1
        self._last: dict[int, tuple[float, int]] = {}
        self._at = -float("inf")
        self.tracked = 0

    def scan(self) -> list[ProcessInfo]:
        """Read every process now and return the table (rates are 0 on the first scan)."""
        return self.ingest((proc.pid, proc.info) for proc in psutil.process_iter(ATTRS))

    def ingest(self, infos: Iterable[tuple[int, Mapping[str, Any]]]) -> list[ProcessInfo]:
        """Build the table from one scan read by someone else: ``(pid, psutil info)``
        pairs with at least the :data:`ATTRS` fields."""
        now = self._clock.monotonic()
        elapsed = now - self._at
        fresh = elapsed == float("inf") or elapsed <= 0
        seen: dict[int, tuple[float, int]] = {}
        rows: list[ProcessInfo] = []
        for pid, info in infos:
            cpu, memory = info.get("cpu_times"), info.get("memory_info")
            if cpu is None or memory is None:
                continue
            io = info.get("io_counters")
            moved = io.read_bytes + io.write_bytes if io is not None else 0
            busy = cpu.user + cpu.system
            seen[pid] = (busy, moved)
            before = self._last.get(pid)
            cpu_rate = io_rate = 0.0
            if before is not None and not fresh:
                cpu_rate = max(0.0, busy - before[0]) * 100.0 / elapsed
                io_rate = max(0, moved - before[1]) / elapsed
            command = info.get("cmdline") or []
            rows.append(
                ProcessInfo(
                    pid,
                    info.get("name") or "?",
                    cpu_rate,
                    memory.rss,
                    100.0 * memory.rss / self._total_memory,
                    info.get("username") or "",
                    info.get("num_threads") or 1,
                    io_rate,
                    " ".join(" ".join(command).split())[:300],
                )
            )
        self._last, self._at, self.tracked = seen, now, len(seen)
        keep: dict[int, ProcessInfo] = {}
        for key in (
            lambda r: (r.cpu_percent, r.memory_rss),
            lambda r: r.memory_rss,
            lambda r: (r.io_bps, r.cpu_percent),
        ):
            for row in heapq.nlargest(self._top, rows, key=key):
                keep[row.pid] = row
        return sorted(keep.values(), key=lambda r: (r.cpu_percent, r.memory_rss), reverse=True)
