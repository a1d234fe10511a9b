"""Real incidents: ``rebellion serve`` watching real load on this machine.

One server (a subprocess, 0.5 s ticks, 30 s warm-up) watches, in turn: an idle
stretch, ``stress-ng --cpu 1``, a child that allocates memory steadily and a child
that grows a file in a temporary directory. Each load must open an incident within
30 s that names the right metric and a process of the load's own process tree, and the
incident must resolve once the load stops. The verdicts compare the load with what the
machine did before it (the KS baseline, each process's own earlier rate), never with
absolute levels, so they hold on a machine that is busy with other work.

Wall time: ~50 s warm-up, the idle stretch (``INCIDENTS_E2E_IDLE_SECONDS``, default
120) and ~30-60 s per load.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from _redis import free_port
from rebellion.monitor.processes import resource_of

pytestmark = pytest.mark.e2e

INTERVAL = 0.5
WARMUP = 30.0
DETECT = 30.0  # seconds a load has to open its incident
RESOLVE = 180.0  # generous: joined metrics may need their whole "settle" time
IDLE = float(os.environ.get("INCIDENTS_E2E_IDLE_SECONDS", "120"))

ALLOCATOR = """
import sys, time
chunks = []
for _ in range(int(sys.argv[1])):
    chunks.append(bytearray(b"x" * (64 << 20)))  # 64 MB, touched
    time.sleep(float(sys.argv[2]))
print("full", flush=True)
time.sleep(600)
"""

WRITER = """
import os, sys, time
block = os.urandom(8 << 20)
with open(sys.argv[1], "wb") as out:
    for _ in range(int(sys.argv[2])):
        out.write(block)
        out.flush()
        os.fsync(out.fileno())
        time.sleep(float(sys.argv[3]))
print("written", flush=True)
time.sleep(600)
"""


class Monitor:
    def __init__(self, base: str, proc: subprocess.Popen[bytes]) -> None:
        self.base, self.proc = base, proc

    def incidents(self, **params: Any) -> list[dict[str, Any]]:
        response = httpx.get(self.base + "/api/v1/incidents", params=params, timeout=10)
        assert response.status_code == 200, response.text
        incidents: list[dict[str, Any]] = response.json()["incidents"]
        return incidents

    def ticks(self) -> int:
        return int(httpx.get(self.base + "/api/v1/stats", timeout=10).json()["ticks"])

    def wait_for(
        self, check: Callable[[list[dict[str, Any]]], dict[str, Any] | None], timeout: float
    ) -> dict[str, Any] | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = check(self.incidents(limit=20))
            if found is not None:
                return found
            time.sleep(0.5)
        return None


@pytest.fixture(scope="module")
def monitor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Monitor]:
    port = free_port()
    db = tmp_path_factory.mktemp("monitor") / "history.db"
    args = ["serve", "--port", str(port), "--db", str(db), "--interval", str(INTERVAL)]
    log = (db.parent / "serve.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rebellion.cli", *args, "--warmup", str(WARMUP)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # a loaded machine imports slowly
        while True:
            try:
                if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            failed = proc.poll() is not None or time.monotonic() > deadline
            assert not failed, (db.parent / "serve.log").read_text()[-3000:]
            time.sleep(0.1)
        m = Monitor(base, proc)
        # Warm-up on the monitor's own clock: the detectors' warm-up and a full window +
        # baseline (50 s) of samples.
        needed = int(max(WARMUP, 50.0) / INTERVAL) + 4
        deadline = time.monotonic() + 300
        while m.ticks() < needed:
            assert time.monotonic() < deadline, "the monitor did not tick through its warm-up"
            time.sleep(0.5)
        yield m
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def tree(proc: psutil.Process) -> set[int]:
    try:
        return {proc.pid} | {c.pid for c in proc.children(recursive=True)}
    except psutil.NoSuchProcess:
        return {proc.pid}


def hogs(proc: psutil.Process) -> list[tuple[int, str, float]]:
    """The load's processes and the CPU each uses now (for a failure's message)."""
    out = []
    for pid in sorted(tree(proc)):
        try:
            p = psutil.Process(pid)
            out.append((pid, p.name(), p.cpu_percent(interval=0.2)))
        except psutil.NoSuchProcess:
            continue
    return out


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(timeout=30)


def blamed(
    families: tuple[str, ...], resource: str, pids: Callable[[], set[int]]
) -> Callable[[list[dict[str, Any]]], dict[str, Any] | None]:
    """Find an open incident triggered by a metric of one of ``families`` that ranks one
    of ``pids()`` first among the processes explaining ``resource``."""

    def check(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
        ours = pids()
        for row in rows:
            if row["status"] != "open":
                continue
            # An incident already open when the load began is joined, not duplicated.
            named = any(t.startswith(families) for t in row["triggers"])
            ranked = [p["pid"] for p in row["processes"] if p["resource"] == resource]
            if named and ranked and ranked[0] in ours:
                return row
        return None

    return check


def shown(rows: list[dict[str, Any]]) -> str:
    """The incidents, one line each (a string: pytest would shorten a list's repr)."""
    return "\n".join(
        f"{r['id']} {r['status']} {r['triggers']} "
        + ", ".join(f"{p['name']}({p['pid']}) {p['resource']} {p['share']}" for p in r["processes"])
        for r in rows
    )


def resolved(ident: str) -> Callable[[list[dict[str, Any]]], dict[str, Any] | None]:
    return lambda rows: next(
        (r for r in rows if r["id"] == ident and r["status"] == "resolved"), None
    )


def test_an_idle_machine_has_no_unexplained_incident(monitor: Monitor) -> None:
    since = time.time()
    ours = {monitor.proc.pid, os.getpid()}
    deadline = time.monotonic() + IDLE
    while time.monotonic() < deadline:
        time.sleep(1.0)
    for incident in monitor.incidents(limit=100):
        if incident["started"] < since:
            continue
        # Other users' real load changes are real incidents (the suite's own earlier
        # tests ending is one: its network and CPU fall away). A false one blames the
        # monitor or this test, or has a CPU, memory or I/O trigger and no process.
        attributable = [t for t in incident["triggers"] if resource_of(t) is not None]
        if attributable:
            assert incident["processes"], incident
        if incident["processes"]:
            assert incident["processes"][0]["pid"] not in ours, incident


def test_a_cpu_hog_opens_an_incident_naming_cpu_and_stress_ng(
    monitor: Monitor, tmp_path: Path
) -> None:
    binary = shutil.which("stress-ng")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("stress-ng is not installed (make test installs it)")
        pytest.skip("stress-ng is not installed")
    log = tmp_path / "stress-ng.log"
    with log.open("wb") as out:
        hog = subprocess.Popen(
            [binary, "--cpu", "1", "--timeout", "150s", "--temp-path", str(tmp_path)],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        handle = psutil.Process(hog.pid)
        found = monitor.wait_for(blamed(("cpu.", "load."), "cpu", lambda: tree(handle)), DETECT)
        # The load must really have run: a stress-ng that could not start is no verdict
        # on the monitor.
        assert hog.poll() is None, f"stress-ng exited ({hog.returncode}): {log.read_text()}"
        assert found is not None, f"{shown(monitor.incidents(limit=20))}\nload: {hogs(handle)}"
        assert "stress-ng" in found["summary"] or any(
            "stress-ng" in p["name"] for p in found["processes"]
        )
    finally:
        stop(hog)
    assert monitor.wait_for(resolved(found["id"]), RESOLVE) is not None


def test_a_growing_allocation_opens_an_incident_naming_memory(monitor: Monitor) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", ALLOCATOR, "64", "0.25"],  # 64 MB every 0.25 s, 4 GB at most
        stdout=subprocess.DEVNULL,
    )
    try:
        found = monitor.wait_for(blamed(("memory.",), "memory", lambda: {child.pid}), DETECT)
        assert found is not None, shown(monitor.incidents(limit=20))
    finally:
        stop(child)
    assert monitor.wait_for(resolved(found["id"]), RESOLVE) is not None


def test_a_growing_file_opens_an_incident_naming_the_disk(monitor: Monitor, tmp_path: Path) -> None:
    target = tmp_path / "growing.bin"
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(target), "200", "0.1"],  # ~80 MB/s, 1.6 GB at most
        stdout=subprocess.DEVNULL,
    )
    try:
        found = monitor.wait_for(blamed(("disk.",), "io", lambda: {child.pid}), DETECT)
        assert found is not None, shown(monitor.incidents(limit=20))
    finally:
        stop(child)
        target.unlink(missing_ok=True)
    assert monitor.wait_for(resolved(found["id"]), RESOLVE) is not None
