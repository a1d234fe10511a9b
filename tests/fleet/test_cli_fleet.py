"""``rebellion serve --publish/--fleet/--host-id`` and ``REBELLION_FLEET_URL`` on the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from rebellion import registry
from rebellion.cli import build_parser, main


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--publish", "localhost:6379"], "publish"),
        (["--fleet", "http://127.0.0.1:6379"], "fleet"),
        (["--publish", "redis://127.0.0.1:6379/0", "--host-id", "web 1"], "host_id"),
    ],
)
def test_bad_fleet_options_exit_2_naming_the_option(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--db", ":memory:", *args]) == 2
    assert needle in capsys.readouterr().err


def test_serve_parses_the_fleet_options() -> None:
    args = build_parser().parse_args(
        ["serve", "--publish", "redis://r:6379/0", "--host-id", "web-1", "--fleet", "redis://r"]
    )
    assert (args.publish, args.host_id, args.fleet) == ("redis://r:6379/0", "web-1", "redis://r")


def test_config_lists_the_fleet_url_with_its_password_masked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(registry, "_join_fleet", False)  # listing only: join nothing
    monkeypatch.setenv("REBELLION_FLEET_URL", "redis://:s3cret@redis.lan:6379/0")
    assert main(["config"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if "FLEET_URL" in x)
    assert line.startswith("REBELLION_FLEET_URL=redis://:********@redis.lan:6379/0")
    assert "s3cret" not in line


@pytest.mark.parametrize(
    ("toml", "needle"),
    [
        ('publish = "redis://127.0.0.1:6379/0"\nhost_id = "web 1"\n', "host_id"),
        ('fleet = "localhost"\n', "fleet"),
        ("publish = 5\n", "publish"),
    ],
)
def test_the_configuration_file_sets_the_fleet_options_too(
    toml: str, needle: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rebellion.toml"
    path.write_text("[monitor]\n" + toml)
    assert main(["--config", str(path), "serve", "--db", ":memory:"]) == 2
    assert needle in capsys.readouterr().err
