"""Four real processes share one breaker: one trips it for all, probes are global."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

WORKER = r"""
import json, sys, threading, time
from rebellion.errors import CircuitOpenError
from rebellion.policies.circuit_breaker.shared import SharedCircuitBreaker

url, prefix, index = sys.argv[1], sys.argv[2], int(sys.argv[3])
breaker = SharedCircuitBreaker(
    "inventory", url, key_prefix=prefix, failure_threshold=3, reset_timeout=1.0,
    half_open_max_calls=2, success_threshold=50, refresh_interval=0.05, probe_lease=10,
)
out = {"closed_before": breaker.call(lambda: "ok") == "ok"}
print("ready", flush=True)
go = float(sys.stdin.readline())  # the same instant for all four, once all are warm
time.sleep(max(0.0, go - time.time()))
if index == 0:
    for _ in range(3):
        try:
            breaker.call(lambda: 1 / 0)
        except ZeroDivisionError:
            pass
else:
    # The trip rule counts consecutive failures across every process, so a success
    # anywhere in between resets the count; let process 0's burst land first.
    time.sleep(0.15)
deadline, seen = time.time() + 3.0, None
while time.time() < deadline:
    try:
        breaker.call(lambda: None)
    except CircuitOpenError as error:
        seen = time.time() - go
        reopen = time.time() + error.remaining
        break
    time.sleep(0.005)
out["seen_open_after"] = seen
admitted = []
if seen is not None:
    time.sleep(max(0.0, reopen - time.time()) + 0.05)
    window = time.time() + 0.4

    def prober():
        while time.time() < window:
            try:
                breaker.call(time.sleep, 0.8)  # a probe holds its lease while it runs
                admitted.append(1)
            except CircuitOpenError:
                time.sleep(0.002)

    threads = [threading.Thread(target=prober) for _ in range(3)]
    for t in threads: t.start()
    for t in threads: t.join()
out["admitted"] = len(admitted)
out["state"] = breaker.state.value
print(json.dumps(out))
"""


@pytest.mark.e2e
def test_four_processes_share_trips_and_probe_leases(redis_url: str, redis_namespace: str) -> None:
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, redis_url, redis_namespace, str(i)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        )
        for i in range(4)
    ]
    # Start the clock only when every process has imported, connected and called once:
    # on a loaded machine an interpreter start alone can take seconds.
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.stderr
    go = time.time() + 0.3
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write(f"{go}\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    assert all(r["closed_before"] for r in results)
    # Every process saw the breaker that process 0 opened, within the staleness bound.
    assert all(r["seen_open_after"] is not None for r in results), results
    assert max(r["seen_open_after"] for r in results) < 0.05 + 0.5
    # Exactly half_open_max_calls probes ran across all four processes.
    assert sum(r["admitted"] for r in results) == 2
