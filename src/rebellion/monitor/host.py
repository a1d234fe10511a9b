"""Host metrics from psutil, cheap enough to sample every second all day.

Reading ``/proc`` is what costs. So the collector reads the cheap system-wide files
every tick (CPU, CPU pressure, memory, swap, load, disk and network counters) and the
expensive ones less often: the per-process scan every ``process_interval`` seconds
(:class:`~rebellion.monitor.processes.ProcessScanner`), mount points and temperatures
every ``slow_interval`` seconds. Process CPU% comes from ``cpu_times`` deltas between
two scans, so no per-process state is kept in psutil. ``cpu.pressure`` (Linux PSI, the
share of the last 10 s in which some task waited for a CPU) shows a new CPU hog even
when every core was already busy; so does ``cpu.hogs``, the number of processes that
demanded most of a core between the last two process scans.

>>> from rebellion.testing import ManualClock
>>> host = HostCollector(clock=ManualClock())
>>> sample = host.sample()
>>> 0.0 <= sample.values["cpu.total"] <= 100.0 and "memory.percent" in sample.values
True
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, final

import psutil

from .._clock import Clock
from .._validate import check_clock, check_int, check_number
from .processes import ProcessScanner, ProcessTable

__all__ = ["HostCollector", "HostSample", "ProcessInfo"]

_PSI_CPU = "/proc/pressure/cpu"


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """One row of the top-processes table."""

    pid: int
    name: str
    cpu_percent: float
    memory_rss: int
    memory_percent: float

    def to_dict(self) -> dict[str, object]:
        """Return the row as a JSON-ready dict."""
        return {
            "pid": self.pid,
            "name": self.name,
            "cpu_percent": round(self.cpu_percent, 2),
            "memory_rss": self.memory_rss,
            "memory_percent": round(self.memory_percent, 2),
        }


@dataclass(frozen=True, slots=True)
class HostSample:
    """What one tick saw: flat numeric ``values`` plus the latest process table."""

    at: float
    values: dict[str, float]
    processes: list[ProcessInfo] = field(default_factory=list)
    disks: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        """Return the sample as a JSON-ready dict."""
        return {
            "at": self.at,
            "values": self.values,
            "processes": [p.to_dict() for p in self.processes],
            "disks": self.disks,
        }


@final
class HostCollector:
    """Sample the host: CPU (total and per core), memory, swap, load, disks, network.

    Args:
        clock: time source (rates are per monotonic second; ``at`` is wall time).
        process_interval: seconds between process scans (the costly part).
        top: how many processes to report, by CPU then memory.
        slow_interval: seconds between mount-point and temperature reads.

    Raises:
        ConfigError: on a bad interval or count.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        process_interval: float = 5.0,
        top: int = 8,
        slow_interval: float = 30.0,
    ) -> None:
        self._clock = check_clock(clock)
        self._process_interval = check_number("process_interval", process_interval, minimum=0.0)
        self._top = check_int("top", top, minimum=0, maximum=1000)
        self._slow_interval = check_number("slow_interval", slow_interval, minimum=0.0)
        self._cores = psutil.cpu_count() or 1
        self._total_memory = psutil.virtual_memory().total
        psutil.cpu_percent(percpu=True)  # primes the delta; the first real read is next tick
        self._last_io: tuple[float, Any, Any] | None = None
        self.scanner = ProcessScanner(clock=self._clock)
        self._proc_at = -float("inf")
        self._psi = os.path.exists(_PSI_CPU)
        self._processes: list[ProcessInfo] = []
        self._slow_at = -float("inf")
        self._mounts: list[str] = []
        self._temperatures: dict[str, float] = {}
        self.samples = 0

    def sample(self) -> HostSample:
        """Take one sample now."""
        now = self._clock.monotonic()
        values: dict[str, float] = {}
        cores = psutil.cpu_percent(percpu=True)
        values["cpu.total"] = sum(cores) / len(cores) if cores else 0.0
        for index, percent in enumerate(cores):
            values[f"cpu.core{index}"] = percent
        memory = psutil.virtual_memory()
        values["memory.percent"] = memory.percent
        values["memory.used"] = float(memory.total - memory.available)
        values["memory.available"] = float(memory.available)
        swap = psutil.swap_memory()
        values["swap.percent"] = swap.percent
        load1, load5, load15 = os.getloadavg()
        values["load.1"], values["load.5"], values["load.15"] = load1, load5, load15
        if self._psi:
            self._pressure(values)
        self._rates(now, values)
        if now - self._slow_at >= self._slow_interval:
            self._slow_read()
            self._slow_at = now
        disks, used = self._disk_usage()
        if "/" in disks:
            values["disk.percent"] = disks["/"]
        elif disks:
            values["disk.percent"] = max(disks.values())
        for mount, size in used.items():
            values["disk.used" if mount == "/" else f"disk.used:{mount}"] = size
        for name, celsius in self._temperatures.items():
            values[f"temp.{name}"] = celsius
        if self._top and now - self._proc_at >= self._process_interval:
            self.scan_processes()
        if self._top:
            values["cpu.hogs"] = float(self.scanner.hogs())
        self.samples += 1
        return HostSample(self._clock.wall(), values, self._processes, disks)

    def _rates(self, now: float, values: dict[str, float]) -> None:
        disk = psutil.disk_io_counters()
        net = psutil.net_io_counters()
        last = self._last_io
        self._last_io = (now, disk, net)
        if last is None:
            return
        then, disk0, net0 = last
        elapsed = now - then
        if elapsed <= 0:
            return
        if disk is not None and disk0 is not None:
            values["disk.read_bps"] = max(0.0, (disk.read_bytes - disk0.read_bytes) / elapsed)
            values["disk.write_bps"] = max(0.0, (disk.write_bytes - disk0.write_bytes) / elapsed)
        if net is not None and net0 is not None:
            values["net.recv_bps"] = max(0.0, (net.bytes_recv - net0.bytes_recv) / elapsed)
            values["net.sent_bps"] = max(0.0, (net.bytes_sent - net0.bytes_sent) / elapsed)

    def _slow_read(self) -> None:
        try:
            parts = psutil.disk_partitions(all=False)
        except OSError:
            parts = []
        self._mounts = sorted({p.mountpoint for p in parts} or {"/"})[:16]
        self._temperatures = {}
        reader = getattr(psutil, "sensors_temperatures", None)
        if reader is None:
            return
        try:
            sensors = reader()
        except (OSError, RuntimeError):
            return
        for chip, entries in sensors.items():
            if entries:
                hottest = max(e.current for e in entries)
                self._temperatures[chip] = float(hottest)

    def _pressure(self, values: dict[str, float]) -> None:
        try:
            with open(_PSI_CPU, encoding="ascii") as psi:
                first = psi.readline()  # "some avg10=1.23 avg60=... total=..."
            values["cpu.pressure"] = float(first.split()[1].partition("=")[2])
        except (OSError, ValueError, IndexError):
            self._psi = False

    def _disk_usage(self) -> tuple[dict[str, float], dict[str, float]]:
        percent: dict[str, float] = {}
        used: dict[str, float] = {}
        for mount in self._mounts:
            try:
                usage = psutil.disk_usage(mount)
            except OSError:
                continue
            percent[mount], used[mount] = usage.percent, float(usage.used)
        return percent, used

    def scan_processes(self) -> ProcessTable:
        """Scan the processes now (the tick does it every ``process_interval`` seconds)."""
        kept = self.scanner.tables()
        before = kept[-1] if kept else None
        table = self.scanner.scan()
        self._proc_at = table.mono
        elapsed = table.mono - before.mono if before is not None else 0.0
        rows: list[tuple[int, str, float, int]] = []
        for pid, (name, busy, rss, _, _) in table.rows.items():
            old = before.rows.get(pid) if before is not None else None
            delta = busy - old[1] if old is not None and busy >= old[1] else 0.0
            rows.append((pid, name, delta, rss))
        rows.sort(key=lambda r: (r[2], r[3]), reverse=True)
        total = self._total_memory or 1
        self._processes = [
            ProcessInfo(
                pid,
                name,
                100.0 * delta / elapsed if elapsed > 0 else 0.0,
                rss,
                100.0 * rss / total,
            )
            for pid, name, delta, rss in rows[: self._top]
        ]
        return table

    def stats(self) -> dict[str, object]:
        """Return how many samples were taken and what is tracked."""
        return {
            "samples": self.samples,
            "cores": self._cores,
            "mounts": list(self._mounts),
            "processes_tracked": len(t[-1].rows) if (t := self.scanner.tables()) else 0,
        }
