"""benchmarks/batch_bench.py runs end to end in smoke mode (seconds, no timing judged)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "batch_bench.py"


def test_batch_bench_smoke_processes_every_item() -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "rebellion await submit" in proc.stdout
    assert "baseline" in proc.stdout
