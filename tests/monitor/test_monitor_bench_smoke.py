"""benchmarks/monitor_bench.py runs end to end in smoke mode (no figures are judged)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_monitor_benchmark_smoke_run(tmp_path: Path) -> None:
    out = tmp_path / "monitor.md"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "monitor_bench.py"),
            "--smoke",
            "--write",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    text = out.read_text()
    assert "rebellion serve + 1 WebSocket client" in text
    assert "## WebSocket fan-out" in text
    assert "## The dashboard page in Chromium" in text or "page: null" in proc.stdout
