"""Host metrics under the system.* conventions, read with the SDK's in-memory reader."""

from __future__ import annotations

import math
import threading
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from rebellion import ConfigError
from rebellion.integrations import OTelHostMetrics
from rebellion.monitor.host import HostCollector
from rebellion.testing import ManualClock

SAMPLE = {
    "cpu.total": 40.0,
    "cpu.core0": 30.0,
    "cpu.core1": 50.0,
    "memory.percent": 25.0,
    "memory.used": 2e9,
    "memory.available": 6e9,
    "swap.percent": 10.0,
    "swap.used": 1e8,
    "load.1": 0.5,
    "load.5": 0.75,
    "load.15": 1.25,
    "fs[/].used": 5e10,
    "fs[/].percent": 50.0,
    "fs[/data disk].used": 1e9,
    "fs[/data disk].percent": 1.5,
    "disk[sda].read_bps": 100.0,
}


def collect(
    reader: InMemoryMetricReader,
) -> dict[str, tuple[str, list[tuple[dict[str, Any], Any]]]]:
    data = reader.get_metrics_data()
    assert data is not None
    return {
        metric.name: (
            metric.unit,
            [(dict(p.attributes or {}), p.value) for p in metric.data.data_points],
        )
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    }


def observe(values: Any, **options: Any) -> dict[str, tuple[str, list[tuple[dict[str, Any], Any]]]]:
    reader = InMemoryMetricReader()
    OTelHostMetrics(MeterProvider(metric_readers=[reader]), source=lambda: values, **options)
    return collect(reader)


def test_sample_values_map_to_the_semantic_conventions() -> None:
    found = observe(SAMPLE, io_counters=False)
    assert found["system.cpu.utilization"] == (
        "1",
        [({"cpu.logical_number": 0}, 0.3), ({"cpu.logical_number": 1}, 0.5)],
    )
    assert found["system.cpu.logical.count"][1] == [({}, 2)]
    assert found["system.cpu.load_average.15m"] == ("{thread}", [({}, 1.25)])
    assert found["system.memory.usage"] == ("By", [({"system.memory.state": "used"}, 2e9)])
    assert found["system.memory.limit"] == ("By", [({}, 8e9)])
    assert found["system.memory.utilization"] == ("1", [({"system.memory.state": "used"}, 0.25)])
    assert found["system.paging.usage"][1] == [({"system.paging.state": "used"}, 1e8)]
    assert found["system.paging.utilization"][1] == [({"system.paging.state": "used"}, 0.1)]
    usage = {
        a["system.filesystem.mountpoint"]: (a["system.filesystem.state"], v)
        for a, v in found["system.filesystem.usage"][1]
    }
    assert usage == {"/": ("used", 5e10), "/data disk": ("used", 1e9)}
    ratio = {
        a["system.filesystem.mountpoint"]: v for a, v in found["system.filesystem.utilization"][1]
    }
    assert ratio == {"/": 0.5, "/data disk": 0.015}
    assert "system.disk.io" not in found


def test_missing_and_non_numeric_readings_are_left_out() -> None:
    found = observe(
        {"cpu.total": 12.0, "memory.used": None, "swap.percent": math.nan}, io_counters=False
    )
    assert found["system.cpu.utilization"][1] == [({}, 0.12)]  # no per-core values: the total
    for name in ("system.memory.usage", "system.memory.limit", "system.paging.utilization"):
        assert not found.get(name, ("", []))[1], name


def test_no_sample_yet_observes_nothing() -> None:
    found = observe(None)
    for name, (_, points) in found.items():
        if name not in ("system.disk.io", "system.network.io"):
            assert points == [], name


def test_io_counters_are_cumulative_bytes_by_direction() -> None:
    found = observe(SAMPLE)
    for _, value in found["system.network.io"][1]:
        assert value >= 0
    directions = {a["network.io.direction"] for a, _ in found["system.network.io"][1]}
    assert directions <= {"receive", "transmit"}
    assert all(a["network.interface.name"] != "lo" for a, _ in found["system.network.io"][1])
    for attributes, _ in found.get("system.disk.io", ("", []))[1]:
        assert attributes["disk.io.direction"] in ("read", "write")


def test_a_running_monitor_sample_feeds_the_instruments() -> None:
    host = HostCollector(clock=ManualClock(), top=0)
    host.sample()
    latest = host.sample().values
    found = observe(latest, io_counters=False)
    cores = sum(1 for key in latest if key.startswith("cpu.core"))
    assert len(found["system.cpu.utilization"][1]) == cores
    _, [(_, used)] = found["system.memory.usage"]
    assert used == int(latest["memory.used"])


def test_without_a_source_it_samples_the_host_itself_once_per_collection() -> None:
    reader = InMemoryMetricReader()
    OTelHostMetrics(MeterProvider(metric_readers=[reader]), io_counters=False, min_interval=60)
    found = collect(reader)
    assert found["system.memory.usage"][1][0][1] > 0
    assert found["system.cpu.utilization"][1]


def test_concurrent_collections_are_safe() -> None:
    reader = InMemoryMetricReader()
    OTelHostMetrics(MeterProvider(metric_readers=[reader]), source=lambda: SAMPLE)
    failures: list[BaseException] = []

    def collect_many() -> None:
        try:
            for _ in range(20):
                assert "system.cpu.utilization" in collect(reader)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=collect_many) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not failures


@pytest.mark.parametrize(
    ("options", "parameter"),
    [
        ({"meter_provider": "prometheus"}, "meter_provider"),
        ({"source": 42}, "source"),
        ({"io_counters": "yes"}, "io_counters"),
        ({"min_interval": -1}, "min_interval"),
        ({"min_interval": True}, "min_interval"),
    ],
)
def test_bad_input_names_the_parameter(options: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError, match=f"^{parameter} must be"):
        OTelHostMetrics(**options)
