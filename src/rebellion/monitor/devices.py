"""Per-device rates and per-mount usage: disks, network interfaces, file systems, sensors.

Metric names carry the instance in brackets so that names with dots stay readable:
``disk[sda].read_bps``, ``net[eth0].recv_bps``, ``fs[/home].percent``, ``temp[coretemp]``.
Totals (``disk.read_bps``, ``net.recv_bps``...) sum whole disks only (no partitions,
loop or RAM devices, which would count the same bytes twice) and every interface but
loopback (traffic to oneself is both sent and received, so it hid the real traffic).

>>> rates = DeviceRates()
>>> values: dict[str, float] = {}
>>> rates.update(0.0, values)
>>> rates.update(1.0, values)
>>> "net.recv_bps" in values and not any(k.startswith("net[lo]") for k in values)
True
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, final

import psutil

__all__ = ["DeviceRates", "mount_points", "mount_usage", "sensors", "whole_disk"]

_VIRTUAL_DISKS = ("loop", "ram", "zram", "fd", "sr")
_SKIP_FS = frozenset({"squashfs", "tmpfs", "devtmpfs", "overlay", "nsfs", "tracefs"})


def whole_disk(name: str) -> bool:
    """Return True for a physical whole disk (not a partition, loop or RAM device)."""
    if name.startswith(_VIRTUAL_DISKS):
        return False
    if os.path.isdir("/sys/block"):
        return os.path.exists(f"/sys/block/{name}")
    return not name[-1:].isdigit() or (name.startswith("nvme") and "p" not in name[4:])


def _rate(now: Any, before: Any, field: str, elapsed: float) -> float:
    return max(0.0, float(getattr(now, field) - getattr(before, field)) / elapsed)


@final
class DeviceRates:
    """Turn psutil's cumulative per-disk and per-interface counters into rates.

    Disk names are checked once with :func:`whole_disk` and remembered.
    """

    def __init__(self) -> None:
        self._last: tuple[float, Mapping[str, Any], Mapping[str, Any]] | None = None
        self._disks: dict[str, bool] = {}

    def update(self, now: float, values: dict[str, float]) -> None:
        """Add per-device and total rates since the last call to ``values``."""
        try:
            disks: Mapping[str, Any] = psutil.disk_io_counters(perdisk=True) or {}
        except (OSError, RuntimeError):
            disks = {}
        nics: Mapping[str, Any] = psutil.net_io_counters(pernic=True) or {}
        last = self._last
        self._last = (now, disks, nics)
        if last is None or now <= last[0]:
            return
        then, disks0, nics0 = last
        elapsed = now - then
        read = write = 0.0
        for name, counters in disks.items():
            whole = self._disks.get(name)
            if whole is None:
                whole = self._disks[name] = whole_disk(name)
            before = disks0.get(name)
            if not whole or before is None:
                continue
            r = _rate(counters, before, "read_bytes", elapsed)
            w = _rate(counters, before, "write_bytes", elapsed)
            values[f"disk[{name}].read_bps"], values[f"disk[{name}].write_bps"] = r, w
            read, write = read + r, write + w
        values["disk.read_bps"], values["disk.write_bps"] = read, write
        recv = sent = 0.0
        for name, counters in nics.items():
            before = nics0.get(name)
            if name == "lo" or before is None:
                continue
            r = _rate(counters, before, "bytes_recv", elapsed)
            s = _rate(counters, before, "bytes_sent", elapsed)
            values[f"net[{name}].recv_bps"], values[f"net[{name}].sent_bps"] = r, s
            recv, sent = recv + r, sent + s
        values["net.recv_bps"], values["net.sent_bps"] = recv, sent


def mount_points(limit: int = 16) -> list[str]:
    """Return real file-system mount points (no pseudo or image file systems), sorted."""
    try:
        parts = psutil.disk_partitions(all=False)
    except OSError:
        parts = []
    seen: dict[str, str] = {}
    for part in parts:
        if part.fstype in _SKIP_FS or not os.path.isdir(part.mountpoint):
            continue
        seen.setdefault(part.mountpoint, part.device)
    return sorted(seen or {"/": ""})[:limit]


def mount_usage(mounts: list[str], values: dict[str, float]) -> dict[str, float]:
    """Add ``fs[<mount>].percent`` and ``.used`` to ``values``; return mount -> percent."""
    out: dict[str, float] = {}
    for mount in mounts:
        try:
            usage = psutil.disk_usage(mount)
        except OSError:
            continue
        out[mount] = usage.percent
        values[f"fs[{mount}].percent"] = usage.percent
        values[f"fs[{mount}].used"] = float(usage.used)
    return out


def sensors() -> dict[str, float]:
    """Return ``temp[<chip>]`` (hottest reading, °C) and ``fan[<chip>]`` (RPM) if any."""
    out: dict[str, float] = {}
    for prefix, reader_name in (("temp", "sensors_temperatures"), ("fan", "sensors_fans")):
        reader = getattr(psutil, reader_name, None)
        if reader is None:
            continue
        try:
            found = reader()
        except (OSError, RuntimeError):
            continue
        for chip, entries in found.items():
            if entries:
                out[f"{prefix}[{chip}]"] = float(max(e.current for e in entries))
    return out
