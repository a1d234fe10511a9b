"""``rebellion --config FILE serve`` takes the monitor's port, interval and history file."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from _redis import free_port


@pytest.mark.e2e
def test_serve_reads_the_monitor_section(tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "rebellion.toml"
    config.write_text(f'[monitor]\nport = {port}\ninterval = 0.2\ndb = "from-config.db"\n')
    proc = subprocess.Popen(
        [sys.executable, "-m", "rebellion.cli", "--config", str(config), "serve"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline, ready = time.monotonic() + 30.0, False
        while time.monotonic() < deadline and not ready:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200
            except httpx.HTTPError:
                time.sleep(0.1)
        assert ready, "the monitor never answered on the configured port"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert (tmp_path / "from-config.db").exists(), out
