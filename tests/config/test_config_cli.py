"""``rebellion --config PATH``: the command line reads the file and says where values come from."""

from __future__ import annotations

from pathlib import Path

import pytest

from rebellion.cli import main


def test_config_lists_values_from_the_file_with_its_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.toml"
    path.write_text("[circuit_breaker]\nfailure_threshold = 7\n[queue]\nworker_count = 4\n")
    assert main(["--config", str(path), "config"]) == 0
    out = capsys.readouterr().out
    assert f"REBELLION_CIRCUIT_BREAKER_FAILURE_THRESHOLD=7  # {path}" in out
    assert f"REBELLION_QUEUE_WORKER_COUNT=4  # {path}" in out
    assert "REBELLION_RETRY_MAX_ATTEMPTS=3  # default" in out


def test_an_invalid_file_is_a_configuration_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.toml"
    path.write_text("[retry]\nmax_attempts = 0\n")
    assert main(["--config", str(path), "config"]) == 2
    assert "retry.configs.default.max_attempts must be an integer >= 1" in capsys.readouterr().err


def test_rebellion_config_is_a_known_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "r.toml"
    path.write_text("[monitor]\nport = 9200\n")
    monkeypatch.setenv("REBELLION_CONFIG", str(path))
    assert main(["config"]) == 0
    assert f"REBELLION_MONITOR_PORT=9200  # {path}" in capsys.readouterr().out
