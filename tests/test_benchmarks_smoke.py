"""The benchmark suite runs end to end: every group, every rebellion contender measured.

This runs ``benchmarks/run.py --smoke`` in a subprocess (a few iterations per
contender, no timing assertions). It fails, on purpose, while a rebellion policy the
benchmarks exercise (CircuitBreaker, Retry, Timeout, Fallback, Pipeline) is missing:
the failure message lists which contenders could not be built and why.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / "benchmarks" / "run.py"
GROUPS = [
    "breaker_sync_success",
    "breaker_async_success",
    "breaker_failure_path",
    "breaker_open_rejection",
    "retry_success",
    "retry_failure_then_success",
    "pipeline_async",
]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Any]:
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    proc = subprocess.run(
        [sys.executable, str(RUN), "--smoke", "--json", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    data = json.loads(out.read_text()) if out.exists() else None
    return proc, data


@pytest.mark.e2e
def test_smoke_run_exits_cleanly(smoke: tuple[subprocess.CompletedProcess[str], Any]) -> None:
    proc, _ = smoke
    assert proc.returncode == 0, (
        "benchmarks/run.py --smoke failed; while rebellion's policies are not all written "
        "yet this is expected. Errors:\n" + proc.stderr[-4000:]
    )


@pytest.mark.e2e
def test_smoke_run_prints_every_group(smoke: tuple[subprocess.CompletedProcess[str], Any]) -> None:
    proc, data = smoke
    for group in GROUPS:
        assert f"== {group}:" in proc.stdout, f"group {group} missing from the output"
    assert "== TARGETS ==" in proc.stdout
    assert data is not None, "no JSON written:\n" + proc.stderr[-4000:]
    assert set(GROUPS) <= set(data["groups"])


@pytest.mark.e2e
def test_smoke_run_measures_every_rebellion_contender(
    smoke: tuple[subprocess.CompletedProcess[str], Any],
) -> None:
    proc, data = smoke
    assert data is not None, "no JSON written:\n" + proc.stderr[-4000:]
    problems = []
    for name, group in data["groups"].items():
        problems += [f"{name}: {error}" for error in group["errors"]]
        ours = [m for m in group["measured"] if m["library"] == "rebellion"]
        if not ours:
            problems.append(f"{name}: no rebellion contender measured")
        problems += [
            f"{name}: {m['name']} measured {m['median_ns']} ns"
            for m in group["measured"]
            if not m["median_ns"] > 0
        ]
    assert not problems, "\n".join(problems)
