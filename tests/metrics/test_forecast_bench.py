"""The forecast benchmark runs end to end (--smoke: three NAB series, short ramps)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "forecast_bench.py"


def test_forecast_bench_smoke_reports_mase_and_time_to_full(tmp_path: Path) -> None:
    out = tmp_path / "forecast.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert report["series"] == 3
    assert report["h1"]["naive_median"] > 0
    assert report["ramp_noise_0"]["within_10pct"] == 1.0  # an exact line is read exactly
