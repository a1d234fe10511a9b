"""The durable-queue benchmark runs end to end (tiny counts, no timing verdict)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "queue_bench.py"


def test_queue_benchmark_smoke_runs_every_contender(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for row in (
        "raw sqlite3 commit-per-op",
        "persist-queue SQLiteQueue put",
        "persist-queue SQLiteAckQueue put+get+ack",
        "rebellion enqueue, 1 producer",
        "rebellion enqueue, 64 producers",
        "rebellion enqueue+process cycle",
    ):
        assert row in proc.stdout
    assert "synchronous=2,2" in proc.stdout
    assert list(tmp_path.iterdir()) == []  # the databases were cleaned up


DEPTH = BENCH.with_name("queue_depth_bench.py")


def test_queue_depth_benchmark_smoke_runs_both_contenders(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(DEPTH), "--smoke", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "| 1 object |" in proc.stdout
    assert "| 2 objects, alternating |" in proc.stdout
    assert list(tmp_path.iterdir()) == []
