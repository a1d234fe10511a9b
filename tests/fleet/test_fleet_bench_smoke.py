"""benchmarks/fleet_bench.py runs end to end in smoke mode (no figures are judged)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.e2e
def test_fleet_benchmark_smoke_run(tmp_path: Path) -> None:
    out = tmp_path / "fleet.md"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "fleet_bench.py"),
            "--smoke",
            "--write",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    result = json.loads(proc.stdout[proc.stdout.index("{") :])
    assert result["hosts_seen"] == result["agents"] == 5
    assert result["samples"] > 0
    text = out.read_text()
    assert "# Fleet benchmark results" in text
    assert "## Memory per host" in text
