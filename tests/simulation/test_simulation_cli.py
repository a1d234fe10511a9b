"""``python -m rebellion.simulation``: the last line, the exit status, a replayable seed."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rebellion.simulation import SCENARIOS, World
from rebellion.simulation import _runner as runner
from rebellion.simulation.__main__ import main


def test_many_seeds_end_with_the_summary_line(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["--seeds", "6", "--scenario", "pipeline", "--scenario", "limiter"])
    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert lines[-1] == "simulation: 6 schedules, 0 violations"
    assert lines[-2].startswith("scenarios: ")


def test_one_seed_verbose_prints_its_schedule(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--seed", "5", "--verbose", "--scenario", "pipeline"]) == 0
    out = capsys.readouterr().out
    assert "seed 5: pipeline" in out
    assert "dependency plan:" in out
    assert out.splitlines()[-1] == "simulation: 1 schedules, 0 violations"


def test_a_violation_fails_the_run_and_says_how_to_replay_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(world: World) -> None:
        world.step(f"draw {world.rng.randint(0, 9)}")
        world.check(False, "demo-invariant", "always broken")

    monkeypatch.setitem(SCENARIOS, "broken", runner._Scenario(broken, 1))
    status = main(["--seeds", "2", "--first", "40", "--scenario", "broken"])
    out = capsys.readouterr().out
    assert status == 1
    assert "seed 41 (broken): 1 violation(s)" in out
    assert "reproduce: python -m rebellion.simulation --seed 41 --verbose" in out
    assert out.splitlines()[-1] == "simulation: 2 schedules, 2 violations"


def test_the_module_runs_as_a_program() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rebellion.simulation", "--seeds", "3", "--scenario", "queue"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "simulation: 3 schedules, 0 violations"


def test_bad_arguments_are_usage_errors() -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--seeds", "-1"])
    assert exit_info.value.code == 2
