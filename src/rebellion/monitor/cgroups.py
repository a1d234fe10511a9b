"""CPU and memory per control group, read from the cgroup v2 filesystem.

systemd services, user sessions and containers are all cgroups, so one reader covers
them: ``cpu.stat``'s ``usage_usec`` gives CPU time (a delta between reads is a rate) and
``memory.current`` the memory charged to the group. Groups are discovered down to
``depth`` levels below the root (``system.slice/nginx.service``,
``system.slice/docker-<id>.scope``, ``user.slice/user-1000.slice``) and the
``max_groups`` largest by memory are kept; discovery is repeated by the caller's
schedule (:meth:`CgroupReader.discover`). A host without cgroup v2 reads nothing.

>>> import tempfile, pathlib
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> (root / "cgroup.controllers").write_text("cpu memory")
10
>>> (root / "web.service").mkdir()
>>> (root / "web.service" / "cpu.stat").write_text("usage_usec 1000\\n")
16
>>> (root / "web.service" / "memory.current").write_text("4096\\n")
5
>>> reader = CgroupReader(root)
>>> reader.discover()
['web.service']
>>> reader.read(0.0)
{'web.service': (None, 4096.0)}
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import final

from .._validate import check_int

__all__ = ["CgroupReader", "default_root"]


def default_root() -> Path | None:
    """Return the cgroup v2 mount: ``/sys/fs/cgroup`` or a hybrid host's ``unified``."""
    for candidate in (Path("/sys/fs/cgroup"), Path("/sys/fs/cgroup/unified")):
        if (candidate / "cgroup.controllers").is_file():
            return candidate
    return None


def _read_usage(path: Path) -> float | None:
    try:
        with open(path / "cpu.stat", "rb") as handle:
            first = handle.readline()
    except OSError:
        return None
    key, _, value = first.partition(b" ")
    return float(value) / 1e6 if key == b"usage_usec" else None


def _read_memory(path: Path) -> float | None:
    try:
        with open(path / "memory.current", "rb") as handle:
            return float(handle.read())
    except (OSError, ValueError):
        return None


@final
class CgroupReader:
    """Read CPU (% of the whole host) and memory (bytes) for the largest cgroups.

    Args:
        root: the cgroup v2 mount (default: found by :func:`default_root`).
        max_groups: groups kept after discovery, largest memory first.
        depth: directory levels below the root that are looked at.

    Raises:
        ConfigError: on a bad ``max_groups`` or ``depth``.
    """

    def __init__(
        self, root: Path | str | None = None, *, max_groups: int = 24, depth: int = 2
    ) -> None:
        self.root = Path(root) if root is not None else default_root()
        self._max = check_int("max_groups", max_groups, minimum=0, maximum=1000)
        self._depth = check_int("depth", depth, minimum=1, maximum=8)
        self._cores = os.cpu_count() or 1
        self._groups: list[str] = []
        self._last: dict[str, tuple[float, float]] = {}

    @property
    def groups(self) -> list[str]:
        """The groups read, as paths relative to the root."""
        return list(self._groups)

    def discover(self) -> list[str]:
        """Find the groups to read again; return them (largest memory first)."""
        root = self.root
        if root is None or self._max == 0:
            return []
        found: list[tuple[float, str]] = []
        level = [root]
        for _ in range(self._depth):
            below: list[Path] = []
            for directory in level:
                try:
                    children = [e for e in os.scandir(directory) if e.is_dir()]
                except OSError:
                    continue
                for child in children:
                    path = Path(child.path)
                    below.append(path)
                    if (path / "cpu.stat").is_file():
                        memory = _read_memory(path) or 0.0
                        found.append((memory, str(path.relative_to(root))))
            level = below
        found.sort(key=lambda item: (-item[0], item[1]))
        self._groups = [name for _, name in found[: self._max]]
        self._last = {k: v for k, v in self._last.items() if k in self._groups}
        return list(self._groups)

    def read(self, now: float) -> dict[str, tuple[float | None, float | None]]:
        """Return ``{group: (cpu % of the host, memory bytes)}`` at monotonic ``now``.

        CPU is None on a group's first read (a rate needs two).
        """
        root = self.root
        out: dict[str, tuple[float | None, float | None]] = {}
        if root is None:
            return out
        for name in self._groups:
            path = root / name
            usage = _read_usage(path)
            memory = _read_memory(path)
            if usage is None and memory is None:
                continue
            cpu = None
            before = self._last.get(name)
            if usage is not None:
                if before is not None and now > before[0]:
                    share = (usage - before[1]) / (now - before[0]) / self._cores
                    cpu = min(100.0, max(0.0, 100.0 * share))
                self._last[name] = (now, usage)
            out[name] = (cpu, memory)
        return out
