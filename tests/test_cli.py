"""The ``rebellion`` command line: config, environment checks, arguments, demo runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import rebellion
from rebellion import config
from rebellion.cli import main


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("REBELLION_"):
            monkeypatch.delenv(name)


def test_config_prints_every_setting_with_its_value(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    for spec in config.describe_settings():
        assert f"{spec.env}=" in out
    assert "REBELLION_RETRY_MAX_ATTEMPTS=3  # default" in out


def test_config_shows_environment_values_and_masks_secrets(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REBELLION_RETRY_MAX_ATTEMPTS", "5")
    monkeypatch.setenv("REBELLION_TOKEN", "hunter2-secret")
    monkeypatch.setenv("REBELLION_CACHE_REDIS_URL", "redis://app:s3cret@cache:6379/0")
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "REBELLION_RETRY_MAX_ATTEMPTS=5  # environment" in out
    assert "hunter2-secret" not in out
    assert "s3cret" not in out
    assert "redis://app:********@cache:6379/0" in out


@pytest.mark.parametrize("command", [["config"], ["demo", "--duration", "1", "--no-live"]])
def test_a_misspelt_environment_variable_fails_fast_with_exit_2(
    command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REBELLION_RETRY_MAX_ATEMPTS", "5")
    assert main(command) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "REBELLION_RETRY_MAX_ATEMPTS" in captured.err
    assert "did you mean REBELLION_RETRY_MAX_ATTEMPTS" in captured.err


def test_a_bad_environment_value_fails_with_exit_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("REBELLION_RETRY_JITTER", "sometimes")
    assert main(["demo", "--duration", "1", "--no-live"]) == 2
    err = capsys.readouterr().err
    assert "configuration error" in err
    assert "REBELLION_RETRY_JITTER" in err
    assert "sometimes" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        ([], "required: COMMAND"),
        (["monitor"], "invalid choice: 'monitor'"),
        (["serve", "--port", "http"], "--port: invalid int value"),
        (["serve", "--interval", "0"], "--interval: expected a number > 0"),
        (["demo", "--duration", "0"], "--duration: expected a number > 0"),
        (["demo", "--duration", "inf"], "--duration: expected a number > 0"),
        (["demo", "--rate", "fast"], "--rate: expected a number > 0, got 'fast'"),
        (["demo", "--seed", "x"], "--seed: invalid int value"),
        (["demo", "--colour"], "unrecognized arguments: --colour"),
    ],
)
def test_bad_arguments_get_a_usage_error_and_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "usage: rebellion" in err
    assert message in err


def test_a_rate_beyond_the_simulation_limit_is_a_configuration_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["demo", "--rate", "1e6", "--no-live"]) == 2
    assert "rate must be" in capsys.readouterr().err


def test_version_and_help_exit_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"rebellion {rebellion.__version__}"
    assert main(["demo", "--help"]) == 0
    out = capsys.readouterr().out
    for option in ("--duration", "--seed", "--rate", "--no-live"):
        assert option in out


@pytest.mark.e2e
def test_demo_runs_in_real_time_and_prints_a_summary(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--duration", "2", "--no-live", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "phase=" in out.splitlines()[0]
    assert "Demo summary" in out
    assert "offered 400 calls, 400 completed" in out
    assert "transitions seen" in out


def _command() -> list[str]:
    script = Path(sys.executable).parent / "rebellion"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "rebellion.cli"]


@pytest.mark.e2e
def test_the_installed_console_script_runs_the_demo() -> None:
    done = subprocess.run(
        [*_command(), "demo", "--duration", "1", "--no-live", "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Demo summary" in done.stdout
    assert done.stderr == ""


@pytest.mark.e2e
def test_ctrl_c_ends_the_demo_with_a_summary_and_exit_130() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "rebellion.cli", "demo", "--duration", "30", "--no-live"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()  # the first progress line: the demo is running
        assert "phase=" in first
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, err
    assert "Demo summary (interrupted)" in out
    assert "Traceback" not in err
