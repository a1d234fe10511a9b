"""``rebellion serve`` and ``rebellion demo --serve`` as a user runs them (subprocesses)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from _redis import free_port
from rebellion.cli import main


def test_serve_refuses_a_public_bind_without_a_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REBELLION_TOKEN", raising=False)
    assert main(["serve", "--host", "0.0.0.0"]) == 2
    assert "token must be set" in capsys.readouterr().err


def wait_for(url: str, predicate: object, timeout: float = 15.0) -> httpx.Response:
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=2)
            if callable(predicate) and predicate(response):
                return response
        except httpx.HTTPError as error:
            last = error
        time.sleep(0.1)
    raise AssertionError(f"{url} never satisfied the check (last error: {last})")


def run(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rebellion.cli", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError("did not stop on SIGINT:\n" + out) from None
    return out


@pytest.mark.e2e
def test_serve_starts_on_the_embedded_defaults_and_keeps_history(tmp_path: Path) -> None:
    port = free_port()
    proc = run(["serve", "--port", str(port), "--interval", "0.2"], tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/readyz", lambda r: r.status_code == 200)
        snapshot = httpx.get(base + "/api/v1/snapshot").json()
        assert "cpu.total" in snapshot["values"]
    finally:
        out = stop(proc)
    assert (tmp_path / "rebellion-monitor.db").exists(), out


@pytest.mark.e2e
def test_demo_serve_shows_the_demo_breaker_on_the_monitor(tmp_path: Path) -> None:
    port = free_port()
    proc = run(["demo", "--serve", "--duration", "2", "--port", str(port)], tmp_path)
    try:
        response = wait_for(
            f"http://127.0.0.1:{port}/api/v1/resilience",
            lambda r: r.status_code == 200 and "demo.downstream" in r.text,
        )
        kinds = {p["kind"] for p in response.json()["primitives"]}
        assert "circuit_breaker" in kinds
    finally:
        stop(proc)
