"""The transformer benchmark runs end to end (--smoke: tiny sizes, seconds, no timing check)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "transformer_bench.py"


def test_transformer_bench_smoke_runs_and_all_contenders_agree() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--smoke"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    for label in ("rebellion MetricTransformer", "pandas DataFrame", "pure-Python loop"):
        assert label in proc.stdout
    assert "all three agree" in proc.stdout
