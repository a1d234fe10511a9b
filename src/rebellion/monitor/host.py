"""Host metrics from psutil and the cgroup filesystem, cheap enough to sample every second.

Reading ``/proc`` is what costs. So the collector reads the cheap system-wide files
every tick (CPU per core, CPU pressure, memory, swap, load, per-disk and per-interface
counters) and the expensive ones less often: the process scans and the cgroup reads
every ``process_interval`` seconds, mount points, cgroup discovery and sensors every
``slow_interval`` seconds. Values read less often are repeated every tick, so every
series stays continuous for the analysis and the history.

Two process views are kept: the table the dashboard shows (the top processes by CPU,
memory and I/O, with user, threads and command line) and the incident scan
(:class:`~rebellion.monitor.processes.ProcessScanner`: every process's CPU demand,
memory and writes, kept over the last scans to say who caused a change).
``cpu.pressure`` (Linux PSI) and ``cpu.hogs`` show a new CPU hog even when every core
was already busy.

>>> from rebellion.testing import ManualClock
>>> host = HostCollector(clock=ManualClock())
>>> sample = host.sample()
>>> 0.0 <= sample.values["cpu.total"] <= 100.0 and "swap.percent" in sample.values
True
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import final

import psutil

from .._clock import Clock
from .._validate import check_clock, check_int, check_number
from .cgroups import CgroupReader
from .devices import DeviceRates, mount_points, mount_usage, sensors
from .process_table import ATTRS as _TABLE_ATTRS
from .process_table import ProcessInfo, TopProcesses
from .processes import ATTRS as _SCAN_ATTRS
from .processes import ProcessScanner, ProcessTable

_BOTH = list(dict.fromkeys(_TABLE_ATTRS + _SCAN_ATTRS))

__all__ = ["HostCollector", "HostSample", "ProcessInfo"]

_PSI_CPU = "/proc/pressure/cpu"


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
    """Sample the host: CPU, memory, swap, load, disks, network, processes, cgroups, sensors.

    Args:
        clock: time source (rates are per monotonic second; ``at`` is wall time).
        process_interval: seconds between process scans and cgroup reads (the costly part).
        top: processes kept per sort key (CPU, memory, I/O); 0 turns the scan off.
        slow_interval: seconds between mount-point, cgroup-discovery and sensor reads.
        cgroups: the cgroup reader (default: the host's cgroup v2 mount, if any).

    Raises:
        ConfigError: on a bad interval or count.
    """

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        process_interval: float = 5.0,
        top: int = 12,
        slow_interval: float = 30.0,
        cgroups: CgroupReader | None = None,
    ) -> None:
        self._clock = check_clock(clock)
        self._process_interval = check_number("process_interval", process_interval, minimum=0.0)
        top = check_int("top", top, minimum=0, maximum=1000)
        self._slow_interval = check_number("slow_interval", slow_interval, minimum=0.0)
        self._table = TopProcesses(top=top, clock=self._clock) if top else None
        self.scanner = ProcessScanner(clock=self._clock)
        self._top = top
        self._psi = os.path.exists(_PSI_CPU)
        self._cgroups = cgroups if cgroups is not None else CgroupReader()
        self._devices = DeviceRates()
        self._cores = psutil.cpu_count() or 1
        psutil.cpu_percent(percpu=True)  # primes the delta; the first real read is next tick
        self._proc_at = -float("inf")
        self._processes: list[ProcessInfo] = []
        self._groups: dict[str, float] = {}
        self._slow_at = -float("inf")
        self._mounts: list[str] = []
        self._sensors: dict[str, float] = {}
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
        values["swap.used"] = float(swap.used)
        values["load.1"], values["load.5"], values["load.15"] = os.getloadavg()
        if self._psi:
            self._pressure(values)
        self._devices.update(now, values)
        if now - self._slow_at >= self._slow_interval:
            self._mounts = mount_points()
            self._sensors = sensors()
            self._cgroups.discover()
            self._slow_at = now
        disks = mount_usage(self._mounts, values)
        for mount in disks:
            used = values[f"fs[{mount}].used"]
            values["disk.used" if mount == "/" else f"disk.used:{mount}"] = used
        if "/" in disks:
            values["disk.percent"] = disks["/"]
        elif disks:
            values["disk.percent"] = max(disks.values())
        values.update(self._sensors)
        if now - self._proc_at >= self._process_interval:
            self._proc_at = now
            if self._table is not None:
                # One pass over /proc feeds both the table and the incident scan.
                infos = [(p.pid, p.info) for p in psutil.process_iter(_BOTH)]
                self._processes = self._table.ingest(infos)
                self.scanner.ingest(infos)
            else:
                self.scan_processes()
            self._read_groups(now)
        values.update(self._groups)
        if self._top:
            values["cpu.hogs"] = float(self.scanner.hogs())
        self.samples += 1
        return HostSample(self._clock.wall(), values, self._processes, disks)

    def scan_processes(self) -> ProcessTable:
        """Run the incident scan now (the tick does it every ``process_interval`` s)."""
        return self.scanner.scan()

    def _pressure(self, values: dict[str, float]) -> None:
        try:
            with open(_PSI_CPU, encoding="ascii") as psi:
                first = psi.readline()  # "some avg10=1.23 avg60=... total=..."
            values["cpu.pressure"] = float(first.split()[1].partition("=")[2])
        except (OSError, ValueError, IndexError):
            self._psi = False

    def _read_groups(self, now: float) -> None:
        groups: dict[str, float] = {}
        for name, (cpu, memory) in self._cgroups.read(now).items():
            if cpu is not None:
                groups[f"cgroup[{name}].cpu_percent"] = cpu
            if memory is not None:
                groups[f"cgroup[{name}].memory"] = memory
        self._groups = groups

    def stats(self) -> dict[str, object]:
        """Return how many samples were taken and what is tracked."""
        return {
            "samples": self.samples,
            "cores": self._cores,
            "mounts": list(self._mounts),
            "processes_tracked": self._table.tracked if self._table else 0,
            "cgroups": self._cgroups.groups,
        }
