"""Four real processes share one breaker; one of them fails every call.

The parent drives the processes in lock-step rounds (each makes one call per round and
answers before the next round starts), so the shared window's contents, and hence every
verdict, are the same however the machine schedules them. Each process runs a
``ManualClock`` advanced by the parent, so the open wait passes without sleeping.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
DEADLINE = 120.0  # per answer: generous, an interpreter start alone can take seconds

WORKER = r"""
import json, sys, threading, time
from rebellion.errors import CircuitOpenError
from rebellion.policies.circuit_breaker.shared import SharedCircuitBreaker
from rebellion.testing import ManualClock

url, prefix, index, threshold = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
clock = ManualClock(wall_start=1_900_000_000)
breaker = SharedCircuitBreaker(
    "inventory", url, key_prefix=prefix, clock=clock,
    window_type="count", window_size=40, minimum_calls=20,
    failure_rate_threshold=threshold, reset_timeout=60,
    half_open_max_calls=2, success_threshold=2, probe_lease=600, refresh_interval=0.0,
)

def work():
    if index == 0:
        raise ConnectionError("this process's dependency is down")
    return "ok"

release = threading.Event()
threads, admitted, rejected = [], [], []

def probe():
    def held():
        admitted.append(1)
        release.wait(120)
    try:
        breaker.call(held)
    except CircuitOpenError:
        rejected.append(1)

print("ready", flush=True)
for line in sys.stdin:
    command, _, arg = line.strip().partition(" ")
    if command == "call":
        try:
            breaker.call(work)
            answer = "ok"
        except ConnectionError:
            answer = "failed"
        except CircuitOpenError:
            answer = "rejected"
    elif command == "advance":
        clock.advance(float(arg))
        answer = "advanced"
    elif command == "probe":
        threads = [threading.Thread(target=probe) for _ in range(3)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 120
        while len(admitted) + len(rejected) < 3 and time.monotonic() < deadline:
            time.sleep(0.005)  # admitted probes block until released: poll, no verdict
        answer = str(len(admitted))
    elif command == "release":
        release.set()
        for t in threads:
            t.join(120)
        answer = "released"
    elif command == "stats":
        answer = json.dumps(breaker.stats().as_dict())
    else:
        break
    print(answer, flush=True)
breaker.close()
"""


class Fleet:
    """Four worker processes answering one line per command."""

    def __init__(self, redis_url: str, prefix: str, threshold: float) -> None:
        self.procs = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, redis_url, prefix, str(i), str(threshold)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
            )
            for i in range(4)
        ]
        self.pool = ThreadPoolExecutor(max_workers=4)
        assert self._read_all() == ["ready"] * 4

    def _read_all(self) -> list[str]:
        def read(proc: subprocess.Popen[str]) -> str:
            assert proc.stdout is not None
            return proc.stdout.readline().strip()

        futures = [self.pool.submit(read, proc) for proc in self.procs]
        answers = [f.result(timeout=DEADLINE) for f in futures]
        for proc, answer in zip(self.procs, answers, strict=True):
            if not answer:  # the worker died: show why
                assert proc.stderr is not None
                pytest.fail(f"worker exited: {proc.wait(10)} {proc.stderr.read()}")
        return answers

    def ask(self, command: str) -> list[str]:
        """Send ``command`` to every process at once; return their answers in order."""
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(command + "\n")
            proc.stdin.flush()
        return self._read_all()

    def stats(self) -> list[dict[str, Any]]:
        return [json.loads(answer) for answer in self.ask("stats")]

    def close(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None and not proc.stdin.closed:
                proc.stdin.close()  # end of input: the worker leaves its loop
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        self.pool.shutdown()


@pytest.fixture
def fleet_of(redis_url: str, redis_namespace: str) -> Iterator[Any]:
    made: list[Fleet] = []

    def start(threshold: float) -> Fleet:
        fleet = Fleet(redis_url, redis_namespace, threshold)
        made.append(fleet)
        return fleet

    yield start
    for fleet in made:
        fleet.close()


ROUND = ["failed", "ok", "ok", "ok"]  # process 0 fails: 25% of the fleet's traffic


@pytest.mark.e2e
def test_one_failing_process_in_four_opens_a_20_percent_breaker_for_all(fleet_of: Any) -> None:
    fleet = fleet_of(0.2)
    for _ in range(5):  # 20 calls = minimum_calls; the 20th record sees 25% >= 20%
        assert fleet.ask("call") == ROUND
    for _ in range(3):
        assert fleet.ask("call") == ["rejected"] * 4
    for snap in fleet.stats():
        assert snap["state"] == "OPEN"
        assert snap["transitions"] == 1
    # The open wait passes on every process's clock: exactly 2 probes run fleet-wide.
    assert fleet.ask("advance 60") == ["advanced"] * 4
    admitted = [int(answer) for answer in fleet.ask("probe")]
    assert sum(admitted) == 2, admitted
    assert all(snap["state"] == "HALF_OPEN" and snap["in_flight"] == 2 for snap in fleet.stats())
    assert fleet.ask("release") == ["released"] * 4
    assert [snap["state"] for snap in fleet.stats()] == ["CLOSED"] * 4
    # Closed with a fresh window: the next round counts from zero.
    assert fleet.ask("call") == ROUND
    assert {(s["window_calls"], s["window_failures"]) for s in fleet.stats()} == {(4, 1)}


@pytest.mark.e2e
def test_one_failing_process_in_four_keeps_a_50_percent_breaker_closed(fleet_of: Any) -> None:
    fleet = fleet_of(0.5)
    for _ in range(15):  # 60 calls: the window holds the last 40
        assert fleet.ask("call") == ROUND
    snaps = fleet.stats()
    for snap in snaps:
        assert snap["state"] == "CLOSED"
        # 30 successes in other processes landed between the failures; none reset them.
        assert (snap["window_calls"], snap["window_failures"]) == (40, 10)
        assert snap["failure_rate"] == pytest.approx(0.25)
        assert snap["rejections"] == 0
    assert snaps[0]["failures"] == 15
    assert [s["successes"] for s in snaps[1:]] == [15, 15, 15]
