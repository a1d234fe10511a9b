"""The predictive breaker benchmark runs end to end (--smoke: two seeds, short runs)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "predictive_breaker_bench.py"


@pytest.mark.e2e
def test_predictive_breaker_bench_smoke_reports_both_breakers(tmp_path: Path) -> None:
    out = tmp_path / "predictive.json"
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    assert set(report["variants"]) == {"failure-rate ramp", "latency ramp (slow calls)"}
    for variant in report["variants"].values():
        assert len(variant["plain_sweep"]) == 6
        assert len(variant["predictive_sweep"]) == 12
        assert variant["plain_threshold"] in [row["threshold"] for row in variant["plain_sweep"]]
        assert variant["reached_plain"]["median"] > 0
        assert variant["reached_predictive"]["median"] > 0
        assert variant["seeds"] == 2
    assert "fewer (ratio of medians)" in proc.stdout
