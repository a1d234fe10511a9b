"""The host collectors on this machine and on a cgroup v2 tree built in a temp dir."""

from __future__ import annotations

import getpass
import os
import threading
from pathlib import Path

import psutil
import pytest

from rebellion.errors import ConfigError
from rebellion.monitor.cgroups import CgroupReader
from rebellion.monitor.devices import DeviceRates, whole_disk
from rebellion.monitor.host import HostCollector
from rebellion.monitor.process_table import TopProcesses
from rebellion.testing import ManualClock


def _group(root: Path, name: str, usage_usec: int, memory: int) -> None:
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    (path / "cpu.stat").write_text(f"usage_usec {usage_usec}\nuser_usec 0\n")
    (path / "memory.current").write_text(f"{memory}\n")


def test_cgroup_cpu_is_a_share_of_the_host_and_memory_is_bytes(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory")
    _group(tmp_path, "system.slice/web.service", 0, 8 << 20)
    _group(tmp_path, "system.slice/db.service", 0, 64 << 20)
    _group(tmp_path, "user.slice", 0, 1 << 20)
    reader = CgroupReader(tmp_path, max_groups=2)
    assert reader.discover() == ["system.slice/db.service", "system.slice/web.service"]
    reader = CgroupReader(tmp_path, max_groups=10)
    reader.discover()
    assert reader.read(10.0)["system.slice/db.service"] == (None, float(64 << 20))
    cores = os.cpu_count() or 1
    _group(tmp_path, "system.slice/db.service", 1_000_000, 64 << 20)  # one CPU-second
    cpu, _ = reader.read(12.0)["system.slice/db.service"]
    assert cpu == pytest.approx(min(100.0, 50.0 / cores))


def test_cgroup_reader_keeps_the_largest_groups(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory")
    for index in range(5):
        _group(tmp_path, f"g{index}.service", 0, index << 20)
    assert CgroupReader(tmp_path, max_groups=2).discover() == ["g4.service", "g3.service"]


def test_a_vanished_cgroup_is_skipped(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu")
    _group(tmp_path, "gone.scope", 0, 1)
    reader = CgroupReader(tmp_path)
    reader.discover()
    for file in (tmp_path / "gone.scope").iterdir():
        file.unlink()
    assert reader.read(1.0) == {}


def test_no_cgroup_v2_reads_nothing(tmp_path: Path) -> None:
    reader = CgroupReader(tmp_path / "absent")
    assert reader.discover() == []
    assert reader.read(1.0) == {}


def test_bad_cgroup_limits_name_the_parameter() -> None:
    with pytest.raises(ConfigError, match="max_groups"):
        CgroupReader(max_groups=-1)
    with pytest.raises(ConfigError, match="depth"):
        CgroupReader(depth=0)


def test_cgroups_reach_the_host_sample_as_metrics(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpu memory")
    _group(tmp_path, "app.service", 0, 4096)
    clock = ManualClock()
    host = HostCollector(clock=clock, top=0, cgroups=CgroupReader(tmp_path))
    host.sample()
    _group(tmp_path, "app.service", 500_000, 4096)
    clock.advance(5.0)
    values = host.sample().values
    assert values["cgroup[app.service].memory"] == 4096.0
    assert "cgroup[app.service].cpu_percent" in values


def test_network_totals_leave_loopback_out() -> None:
    rates = DeviceRates()
    values: dict[str, float] = {}
    rates.update(0.0, values)
    rates.update(1.0, values)
    interfaces = [k for k in values if k.startswith("net[")]
    assert not any(k.startswith("net[lo]") for k in interfaces)
    recv = sum(v for k, v in values.items() if k.startswith("net[") and k.endswith("recv_bps"))
    assert values["net.recv_bps"] == pytest.approx(recv)


def test_partitions_and_loop_devices_are_not_whole_disks() -> None:
    assert not whole_disk("loop0")
    assert not whole_disk("zram0")
    disks = psutil.disk_io_counters(perdisk=True) or {}
    for name in disks:
        if Path(f"/sys/class/block/{name}/partition").exists():
            assert not whole_disk(name)


def test_one_series_per_core_and_load_swap_memory() -> None:
    values = HostCollector(top=0).sample().values
    cores = [k for k in values if k.startswith("cpu.core")]
    assert len(cores) == psutil.cpu_count()
    for name in ("load.1", "load.5", "load.15", "swap.percent", "swap.used", "memory.used"):
        assert name in values


def test_the_process_table_has_command_user_threads_and_rates() -> None:
    clock = ManualClock()
    scanner = TopProcesses(top=5, clock=clock)
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        scanner.scan()
        clock.advance(1.0)
        biggest = max(psutil.process_iter(["memory_info"]), key=lambda p: p.info["memory_info"].rss)
        rows = scanner.scan()
    finally:
        stop.set()
        worker.join()
    assert biggest.pid in {r.pid for r in rows} or not biggest.is_running()
    assert len(rows) <= 15
    assert all(r.cpu_percent >= 0 and r.io_bps >= 0 for r in rows)
    assert any(r.user == getpass.getuser() and r.cmdline for r in rows)
    assert all(r.threads >= 1 for r in rows)


def test_bad_process_table_sizes_name_the_parameter() -> None:
    with pytest.raises(ConfigError, match="top"):
        TopProcesses(top=0)
    with pytest.raises(ConfigError, match="top"):
        HostCollector(top=-1)


def test_a_non_finite_value_does_not_break_the_snapshot_schema() -> None:
    from rebellion.monitor.schemas import Snapshot

    snap = Snapshot.model_validate(
        {"at": 1.0, "values": {"temp[x]": None}, "analysis": {}, "processes": [], "disks": {}}
    )
    assert snap.values["temp[x]"] is None
