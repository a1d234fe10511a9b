"""Host metrics as OpenTelemetry instruments under the ``system.*`` semantic conventions.

:class:`OTelHostMetrics` registers observable instruments fed by the latest host
sample (the monitor's, or its own :class:`~rebellion.monitor.host.HostCollector`):

========================================  =============  ====================================
instrument                                unit           attributes
========================================  =============  ====================================
``system.cpu.utilization`` (gauge)        ``1`` (0-1)    ``cpu.logical_number``
``system.cpu.logical.count``              ``{cpu}``
``system.cpu.load_average.1m/5m/15m``     ``{thread}``
``system.memory.usage``                   ``By``         ``system.memory.state`` = ``used``
``system.memory.limit``                   ``By``
``system.memory.utilization`` (gauge)     ``1``          ``system.memory.state`` = ``used``
``system.memory.linux.available``         ``By``         (Linux)
``system.paging.usage``                   ``By``         ``system.paging.state`` = ``used``
``system.paging.utilization`` (gauge)     ``1``          ``system.paging.state`` = ``used``
``system.filesystem.usage``               ``By``         ``system.filesystem.mountpoint``,
                                                         ``system.filesystem.state`` = ``used``
``system.filesystem.utilization``         ``1``          ``system.filesystem.mountpoint``
``system.disk.io`` (counter)              ``By``         ``system.device``, ``disk.io.direction``
``system.network.io`` (counter)           ``By``         ``network.interface.name``,
                                                         ``network.io.direction``
========================================  =============  ====================================

The conventions have no load average yet; ``system.cpu.load_average.*`` are the names the
OpenTelemetry Collector's host-metrics receiver uses. The monitor keeps disk and network
*rates*; the two I/O instruments are cumulative
counters, so they read the kernel's byte counters at collection time instead (the same
devices as the monitor: whole disks, every interface but loopback). Usage instruments
are observable up-down counters, utilisations are gauges, as the conventions say.

>>> from opentelemetry.sdk.metrics import MeterProvider
>>> from opentelemetry.sdk.metrics.export import InMemoryMetricReader
>>> reader = InMemoryMetricReader()
>>> sample = {"cpu.core0": 50.0, "memory.used": 2e9, "memory.available": 6e9}
>>> host = OTelHostMetrics(MeterProvider(metric_readers=[reader]), source=lambda: sample)
>>> data = reader.get_metrics_data()
>>> found = {m.name: m for rm in data.resource_metrics for sm in rm.scope_metrics
...          for m in sm.metrics}
>>> [(p.attributes, p.value) for p in found["system.cpu.utilization"].data.data_points]
[({'cpu.logical_number': 0}, 0.5)]
>>> [p.value for p in found["system.memory.limit"].data.data_points]
[8000000000]
"""

from __future__ import annotations

import math
import re
import sys
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, final

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, MeterProvider, Observation

from ..errors import ConfigError

__all__ = ["HostSource", "OTelHostMetrics"]

HostSource = Callable[[], Mapping[str, float] | None]
"""Returns the latest host sample's flat values (``cpu.core0``, ``memory.used``...)."""

_CORE = re.compile(r"cpu\.core(\d+)$")
_FS = re.compile(r"fs\[(.+)\]\.(used|percent)$")


@final
class OTelHostMetrics:
    """Observe the host under the OpenTelemetry ``system.*`` conventions.

    Args:
        meter_provider: where the instruments live (default: the global provider).
        source: returns the latest sample values, e.g. a running monitor's
            ``lambda: (service.snapshot() or {}).get("values")``; by default a
            :class:`~rebellion.monitor.host.HostCollector` (needs ``psutil``) is sampled
            at most once per ``min_interval`` seconds, at collection time.
        io_counters: also observe ``system.disk.io`` and ``system.network.io``
            (reads the kernel's counters through ``psutil``).
        min_interval: seconds a self-taken sample is reused across instruments.

    Raises:
        ConfigError: a parameter is of the wrong kind or out of range; it is named.
    """

    def __init__(
        self,
        meter_provider: MeterProvider | None = None,
        *,
        source: HostSource | None = None,
        io_counters: bool = True,
        min_interval: float = 0.5,
    ) -> None:
        if meter_provider is not None and not isinstance(meter_provider, MeterProvider):
            raise ConfigError("meter_provider", "an opentelemetry MeterProvider", meter_provider)
        if source is not None and not callable(source):
            raise ConfigError("source", "a callable returning the sample values", source)
        if not isinstance(io_counters, bool):
            raise ConfigError("io_counters", "True or False", io_counters)
        if (
            isinstance(min_interval, bool)
            or not isinstance(min_interval, int | float)
            or not 0 <= min_interval <= 3600
        ):
            raise ConfigError("min_interval", "a number of seconds in [0, 3600]", min_interval)
        self._source = source if source is not None else self._own_sampler(float(min_interval))
        self._disks: dict[str, bool] = {}
        meter = (meter_provider or metrics.get_meter_provider()).get_meter("rebellion.host")
        gauge, updown, counter = (
            meter.create_observable_gauge,
            meter.create_observable_up_down_counter,
            meter.create_observable_counter,
        )
        gauge("system.cpu.utilization", [self._cpu], unit="1", description="CPU busy ratio")
        updown("system.cpu.logical.count", [self._cores], unit="{cpu}", description="CPUs")
        for window in ("1m", "5m", "15m"):
            gauge(
                f"system.cpu.load_average.{window}",
                [self._load(window)],
                unit="{thread}",
                description=f"Load average over {window}",
            )
        updown("system.memory.usage", [self._memory_usage], unit="By", description="Memory used")
        updown("system.memory.limit", [self._memory_limit], unit="By", description="Memory size")
        gauge(
            "system.memory.utilization", [self._memory_ratio], unit="1", description="Memory used"
        )
        if sys.platform.startswith("linux"):
            updown(
                "system.memory.linux.available",
                [self._available],
                unit="By",
                description="Memory available without swapping",
            )
        updown("system.paging.usage", [self._swap_usage], unit="By", description="Swap used")
        gauge("system.paging.utilization", [self._swap_ratio], unit="1", description="Swap used")
        updown(
            "system.filesystem.usage", [self._fs_usage], unit="By", description="File system used"
        )
        gauge(
            "system.filesystem.utilization",
            [self._fs_ratio],
            unit="1",
            description="File system used",
        )
        if io_counters:
            counter("system.disk.io", [self._disk_io], unit="By", description="Disk bytes")
            counter("system.network.io", [self._net_io], unit="By", description="Network bytes")

    @staticmethod
    def _own_sampler(min_interval: float) -> HostSource:
        from .._clock import SystemClock
        from ..monitor.host import HostCollector

        clock = SystemClock()
        collector = HostCollector(top=0, clock=clock)
        lock = threading.Lock()
        latest: list[tuple[float, Mapping[str, float]]] = []

        def sample() -> Mapping[str, float]:
            with lock:
                now = clock.monotonic()
                if not latest or now - latest[0][0] >= min_interval:
                    latest[:] = [(now, collector.sample().values)]
                return latest[0][1]

        return sample

    def _values(self) -> Mapping[str, float]:
        values = self._source()
        if not isinstance(values, Mapping):
            return {}
        # A JSON-ready sample carries None where a reading was not a number.
        return {
            k: float(v)
            for k, v in values.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        }

    def _cpu(self, options: CallbackOptions) -> Iterable[Observation]:
        values = self._values()
        cores = [
            (int(m.group(1)), v) for k, v in values.items() if (m := _CORE.match(k)) is not None
        ]
        if cores:
            for core, percent in sorted(cores):
                yield Observation(percent / 100.0, {"cpu.logical_number": core})
        elif "cpu.total" in values:
            yield Observation(values["cpu.total"] / 100.0)

    def _cores(self, options: CallbackOptions) -> Iterable[Observation]:
        count = sum(1 for k in self._values() if _CORE.match(k))
        if count:
            yield Observation(count)

    def _load(self, window: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        key = "load." + window.removesuffix("m")

        def observe(options: CallbackOptions) -> Iterable[Observation]:
            value = self._values().get(key)
            if value is not None:
                yield Observation(value)

        return observe

    def _memory_usage(self, options: CallbackOptions) -> Iterable[Observation]:
        used = self._values().get("memory.used")
        if used is not None:
            yield Observation(int(used), {"system.memory.state": "used"})

    def _memory_limit(self, options: CallbackOptions) -> Iterable[Observation]:
        values = self._values()
        if "memory.used" in values and "memory.available" in values:
            yield Observation(int(values["memory.used"] + values["memory.available"]))

    def _memory_ratio(self, options: CallbackOptions) -> Iterable[Observation]:
        values = self._values()
        used, available = values.get("memory.used"), values.get("memory.available")
        if used is not None and available is not None and used + available > 0:
            yield Observation(used / (used + available), {"system.memory.state": "used"})
        elif "memory.percent" in values:
            yield Observation(values["memory.percent"] / 100.0, {"system.memory.state": "used"})

    def _available(self, options: CallbackOptions) -> Iterable[Observation]:
        available = self._values().get("memory.available")
        if available is not None:
            yield Observation(int(available))

    def _swap_usage(self, options: CallbackOptions) -> Iterable[Observation]:
        used = self._values().get("swap.used")
        if used is not None:
            yield Observation(int(used), {"system.paging.state": "used"})

    def _swap_ratio(self, options: CallbackOptions) -> Iterable[Observation]:
        percent = self._values().get("swap.percent")
        if percent is not None:
            yield Observation(percent / 100.0, {"system.paging.state": "used"})

    def _filesystems(self, field: str) -> Iterable[tuple[str, float]]:
        for key, value in self._values().items():
            match = _FS.match(key)
            if match is not None and match.group(2) == field:
                yield match.group(1), value

    def _fs_usage(self, options: CallbackOptions) -> Iterable[Observation]:
        for mount, used in self._filesystems("used"):
            attributes = {"system.filesystem.mountpoint": mount, "system.filesystem.state": "used"}
            yield Observation(int(used), attributes)

    def _fs_ratio(self, options: CallbackOptions) -> Iterable[Observation]:
        for mount, percent in self._filesystems("percent"):
            yield Observation(percent / 100.0, {"system.filesystem.mountpoint": mount})

    def _disk_io(self, options: CallbackOptions) -> Iterable[Observation]:
        import psutil

        from ..monitor.devices import whole_disk

        try:
            disks: Mapping[str, Any] = psutil.disk_io_counters(perdisk=True) or {}
        except (OSError, RuntimeError):
            return
        for name, counters in disks.items():
            whole = self._disks.get(name)
            if whole is None:
                whole = self._disks[name] = whole_disk(name)
            if whole:
                yield Observation(
                    counters.read_bytes, {"system.device": name, "disk.io.direction": "read"}
                )
                yield Observation(
                    counters.write_bytes, {"system.device": name, "disk.io.direction": "write"}
                )

    def _net_io(self, options: CallbackOptions) -> Iterable[Observation]:
        import psutil

        try:
            nics: Mapping[str, Any] = psutil.net_io_counters(pernic=True) or {}
        except OSError:
            return
        for name, counters in nics.items():
            if name == "lo":
                continue
            yield Observation(
                counters.bytes_recv,
                {"network.interface.name": name, "network.io.direction": "receive"},
            )
            yield Observation(
                counters.bytes_sent,
                {"network.interface.name": name, "network.io.direction": "transmit"},
            )
