"""The dashboard in a real headless Chromium: live data, charts and the resilience panel.

Needs Debian's ``chromium`` (``make test`` installs it when missing, see
``scripts/ensure_system.py``) and the ``playwright`` package, pointed at that binary;
no browser download. A screenshot is saved as ``dashboard.png`` in the test's temporary
directory (and in ``$REBELLION_SCREENSHOT_DIR`` when set).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor._server import running, wait_ready
from rebellion import CircuitBreaker
from rebellion.monitor.server import ServeOptions, build

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TOKEN = "dashboard-browser-test-token"


@pytest.fixture
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is not installed (make test installs it)")
        pytest.skip("chromium is not installed")
    return CHROMIUM


@pytest.fixture
def base(tmp_path: Path) -> Iterator[str]:
    app, _ = build(ServeOptions(db=str(tmp_path / "h.db"), interval=0.2, token=TOKEN).checked())
    with running(app) as url:
        wait_ready(url)
        yield url


def test_dashboard_shows_live_charts_and_the_resilience_panel(
    chromium: str, base: str, tmp_path: Path
) -> None:
    from playwright.sync_api import sync_playwright

    breaker = CircuitBreaker(name="browser-demo-breaker", failure_threshold=1)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(f"{base}/?token={TOKEN}")
            page.wait_for_function(
                "window.rebellion && window.rebellion.samples >= 5", timeout=15000
            )
            assert page.get_attribute("#conn", "data-state") == "live"
            # Every chart has drawn points from live samples.
            points = page.eval_on_selector_all(
                "canvas[data-metric]", "cs => cs.map(c => Number(c.dataset.points || 0))"
            )
            assert len(points) == 4
            assert all(n >= 2 for n in points), points
            # The resilience panel lists the breaker; opening it shows up live.
            row = 'tr[data-kind="circuit_breaker"]'
            page.wait_for_selector(f"#resilience {row}", timeout=10000)
            breaker.force_open()
            page.wait_for_function(
                "[...document.querySelectorAll('#resilience td')]"
                ".some(td => td.textContent === 'FORCED_OPEN')",
                timeout=10000,
            )
            assert "browser-demo-breaker" in page.inner_text("#resilience")
            assert "CircuitStateChanged" in page.inner_text("#events")
            shot = tmp_path / "dashboard.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
            keep = os.environ.get("REBELLION_SCREENSHOT_DIR")
            if keep:
                shutil.copy(shot, Path(keep) / "dashboard.png")
            assert errors == [], errors
        finally:
            browser.close()


def test_dashboard_reconnects_after_the_server_restarts(chromium: str, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from _redis import free_port

    port = free_port()
    options = ServeOptions(db=str(tmp_path / "h.db"), interval=0.2)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=FLAGS)
        try:
            page = browser.new_page()
            app, _ = build(options)
            with running(app, port=port) as url:
                wait_ready(url)
                page.goto(url + "/")
                page.wait_for_function("window.rebellion.connected === true", timeout=15000)
            page.wait_for_function("window.rebellion.connected === false", timeout=10000)
            assert page.get_attribute("#conn", "data-state") == "down"
            app, _ = build(options)
            with running(app, port=port) as url:
                wait_ready(url)
                page.wait_for_function(
                    "window.rebellion.connected === true && window.rebellion.reconnects >= 1",
                    timeout=20000,
                )
                before = page.evaluate("window.rebellion.samples")
                page.wait_for_function(f"window.rebellion.samples > {before}", timeout=10000)
        finally:
            browser.close()
