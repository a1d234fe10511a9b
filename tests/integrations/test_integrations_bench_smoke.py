"""The integrations benchmark runs end to end in its smoke mode (bounded: seconds)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "integrations_bench.py"


@pytest.mark.e2e
def test_benchmark_smoke_run_reports_both_ratios() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "p50 ratio ResilientTransport/bare HTTPTransport" in out
    assert "p50 ratio with ResilienceMiddleware/bare Starlette app" in out
    assert "in process (no network)" in out
