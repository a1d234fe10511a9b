"""The tracing benchmark runs end to end in its smoke mode (bounded: seconds)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "otel_bench.py"


@pytest.mark.e2e
def test_benchmark_smoke_run_reports_the_ratio() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "ratio OTelListener.instrument/by hand, same telemetry:" in out
    for contender in ("bare", "by hand, minimal", "OTelListener.instrument"):
        assert contender in out
