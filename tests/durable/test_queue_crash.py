"""Crash safety, proven with real processes killed by SIGKILL at random instants.

* Every enqueue that returned (its id was printed) is found after the crash and is
  processed: no acknowledged enqueue is lost, whatever instant the kill lands on.
* A worker killed mid-processing leaves a lease behind; the request is redelivered
  once the lease expires (at-least-once), and nothing else is lost.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from _queue_helpers import until

from rebellion.durable import PersistentRequestQueue, RetryableRequest, current_delivery
from rebellion.testing import ManualClock

HERE = Path(__file__).resolve().parent
CHILD = HERE / "_crash_child.py"
ID = re.compile(r"^[0-9a-f]{32}$")

pytestmark = pytest.mark.e2e


def spawn(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), *sys.path])}
    return subprocess.Popen(
        [sys.executable, str(CHILD), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_ready(child: subprocess.Popen[str]) -> None:
    assert child.stdout is not None
    line = child.stdout.readline()
    if line.strip() != "ready":
        child.kill()
        raise AssertionError(f"child did not start: {line!r} {child.communicate()[1]}")


def read_ids(path: Path) -> set[str]:
    if not path.exists():
        return set()
    return {json.loads(line) for line in path.read_text().splitlines() if line.endswith('"')}


def kill(child: subprocess.Popen[str]) -> str:
    child.send_signal(signal.SIGKILL)
    out, _ = child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL
    return out


def test_no_returned_enqueue_is_lost_when_the_producer_is_killed(tmp_path: Path) -> None:
    db = tmp_path / "requests.db"
    rng = random.Random()
    acknowledged: list[str] = []
    forker = spawn("fork-producers", str(db))
    assert forker.stdin is not None
    assert forker.stdout is not None
    wait_ready(forker)
    pid: int | None = None
    try:
        for _ in range(24):
            forker.stdin.write("go\n")
            forker.stdin.flush()
            # The child shares the forker's stdout and may print ids before the forker
            # gets to print "child PID": those ids count too.
            pid = None
            for line in forker.stdout:
                if line.startswith("child"):
                    pid = int(line.split()[1])
                    break
                if ID.match(line.strip()):
                    acknowledged.append(line.strip())
            assert pid is not None, "the forker ended early"
            time.sleep(rng.uniform(0.0, 0.1))  # the kill lands anywhere: open, enqueue, commit
            os.kill(pid, signal.SIGKILL)
            for line in forker.stdout:
                if line.startswith("dead"):
                    break
                if ID.match(line.strip()):
                    acknowledged.append(line.strip())
    finally:
        try:
            forker.communicate(timeout=10)  # closes stdin: the forker exits
        except subprocess.TimeoutExpired:  # a failed round left a producer running
            if pid is not None:
                os.kill(pid, signal.SIGKILL)
            forker.kill()
            forker.communicate()
    assert len(acknowledged) > 100  # the rounds did real work

    assert not (set(acknowledged) - asyncio.run(process_all(db))), "acknowledged enqueue lost"


async def process_all(db: Path) -> set[str]:
    """Process every stored request (many workers: commits are shared); return the ids."""
    queue = PersistentRequestQueue(db, max_size=1_000_000)
    processed: set[str] = set()

    def work(*args: object) -> None:
        context = current_delivery()
        assert context is not None
        processed.add(context.delivery.id)

    queue.register_handler("work", work)
    stored = {row[0] for row in queue._read("SELECT id FROM requests")}
    workers = asyncio.create_task(queue.process_queue(concurrency=32))
    await until(lambda: queue.stats()["done"] >= len(stored), within=30)
    await queue.stop()
    await workers
    queue.close()
    assert processed == stored
    return processed


def test_killed_worker_request_is_redelivered_after_its_lease(tmp_path: Path) -> None:
    db, out = tmp_path / "requests.db", tmp_path / "done.txt"
    setup = PersistentRequestQueue(db, max_size=10_000)
    hang_id = setup.enqueue_sync(
        RetryableRequest("work", args=["hang"], max_retries=50), priority=9
    )
    ids = [setup.enqueue_sync(RetryableRequest("work", args=[i])) for i in range(60)]
    setup.close()

    rng = random.Random()
    for _ in range(4):  # kill workers mid-stream, at random instants
        child = spawn("work", str(db), str(out), "0.4")
        wait_ready(child)
        time.sleep(rng.uniform(0.02, 0.1))
        kill(child)

    # The hung request's lease outlives the worker: not visible until it expires.
    clock = ManualClock(wall_start=time.time())
    queue = PersistentRequestQueue(db, max_size=10_000, clock=clock, lease_timeout=5)
    try:
        stats = queue.stats()
        assert stats["leased"] >= 1
        clock.advance(1.0)  # every lease taken by a dead worker (0.4 s) has expired
        redelivered = asyncio.run(queue.claim())
        assert redelivered is not None
        assert redelivered.id == hang_id  # highest priority, its lease now expired
        assert redelivered.attempt >= 2
        assert asyncio.run(queue.ack(redelivered))
    finally:
        queue.close()

    # A last worker finishes the rest: every request ran at least once.
    child = spawn("work", str(db), str(out), "0.4")
    wait_ready(child)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if set(ids) <= read_ids(out):
            break
        time.sleep(0.05)
    kill(child)
    assert set(ids) <= read_ids(out)
