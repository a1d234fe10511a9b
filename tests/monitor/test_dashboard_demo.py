"""``rebellion demo --serve`` in Chromium: the resilience panel keeps one row per primitive.

Every demo round builds a new pipeline with the same names; the panel must show the
live one only, never the previous round's breaker beside it. The test watches the page
through two complete rounds (counted from the demo's own progress lines, whose elapsed
time restarts with each round), so its verdict does not depend on machine speed.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from _redis import free_port
from monitor._browser import FLAGS, chromium_path

pytestmark = pytest.mark.e2e

ROWS = """() => [...document.querySelectorAll('#resilience tbody tr[data-key]')]
  .map(r => r.dataset.key)"""


class _Rounds:
    """Count demo rounds from ``[  1.0s/4s]`` progress lines read off the process."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.started = 0
        self.lines: list[str] = []
        self._last = float("inf")
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def join(self) -> None:
        self._thread.join(timeout=20)

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines.append(line)
            found = re.match(r"\[\s*([\d.]+)s/", line)
            if found:
                elapsed = float(found.group(1))
                if elapsed < self._last:
                    self.started += 1
                self._last = elapsed


def test_two_demo_rounds_leave_one_row_per_primitive(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rebellion.cli",
            "demo",
            "--serve",
            "--no-live",
            "--duration",
            "4",
            "--rate",
            "100",
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    rounds = _Rounds(proc)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=FLAGS)
            try:
                page = browser.new_page(viewport={"width": 1366, "height": 768})
                deadline = time.monotonic() + 60
                while True:
                    try:
                        page.goto(f"http://127.0.0.1:{port}/")
                        break
                    except Exception:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.2)
                breaker = "#resilience tr[data-key='circuit_breaker/demo.downstream']"
                page.wait_for_selector(breaker, timeout=60_000)
                seen: list[list[str]] = []
                deadline = time.monotonic() + 180
                # Through the end of round one and all of round two, then into round three.
                while rounds.started < 3:
                    assert time.monotonic() < deadline, "".join(rounds.lines[-20:])
                    assert proc.poll() is None, "".join(rounds.lines[-20:])
                    keys: list[str] = page.evaluate(ROWS)
                    seen.append(keys)
                    assert len(keys) == len(set(keys)), sorted(keys)
                    assert keys.count("circuit_breaker/demo.downstream") == 1, keys
                    page.wait_for_timeout(250)
                assert len(seen) >= 4
                kinds = page.eval_on_selector_all(
                    "#resilience tr.group th", "ts => ts.map(t => t.textContent)"
                )
                assert kinds == sorted(set(kinds))  # grouped by kind, each kind once
                page.fill("#f-name", "downstream")
                filtered: Any = page.evaluate(ROWS)
                assert filtered == ["circuit_breaker/demo.downstream"]
                page.select_option("#f-kind", "retry")
                assert page.evaluate(ROWS) == []
            finally:
                browser.close()
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        rounds.join()
        assert proc.stdout is not None
        proc.stdout.close()
