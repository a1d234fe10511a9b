"""The hub's fleet panel in real Chromium: hosts, a host's chart, the Turbine view."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from _redis import RedisServer
from monitor._browser import FLAGS, chromium_path, serious_violations
from monitor._server import running, wait_ready
from rebellion import CircuitBreaker
from rebellion.monitor.server import ServeOptions, build

pytestmark = pytest.mark.e2e

TOKEN = "fleet-browser-test-token"
WAIT = 30_000  # ms: generous, so a loaded machine is slow, not red


@pytest.fixture
def hub(tmp_path: Path, redis_server: RedisServer) -> Iterator[str]:
    options = ServeOptions(
        db=str(tmp_path / "h.db"),
        interval=0.2,
        token=TOKEN,
        publish=redis_server.url,
        fleet=redis_server.url,
        host_id="web-1",
    ).checked()
    app, _ = build(options)
    with running(app) as url:
        wait_ready(url, headers={"Authorization": f"Bearer {TOKEN}"})
        yield url


@pytest.fixture
def page(hub: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=FLAGS)
        try:
            opened = browser.new_page(viewport={"width": 1366, "height": 900})
            opened.problems = []
            opened.on("pageerror", lambda error: opened.problems.append(str(error)))
            opened.on(
                "response",
                lambda r: (
                    opened.problems.append(f"{r.status} {r.url}") if r.status >= 400 else None
                ),
            )
            opened.goto(f"{hub}/?token={TOKEN}")
            yield opened
        finally:
            browser.close()


def test_the_hub_shows_hosts_a_host_chart_and_each_process_state(page: Any) -> None:
    breaker = CircuitBreaker(name="fleet-breaker", failure_threshold=1, reset_timeout=3600)
    with pytest.raises(ZeroDivisionError):
        breaker.call(lambda: 1 / 0)
    page.wait_for_selector("#fleet:not([hidden])", timeout=WAIT)
    row = page.wait_for_selector('#fleet-hosts tbody tr[data-host="web-1"]', timeout=WAIT)
    assert "web-1" in row.inner_text()
    chip = '#turbine tr[data-key="circuit_breaker/fleet-breaker"] .chip[data-host="web-1"]'
    page.wait_for_function(
        f"() => [...document.querySelectorAll('{chip}')].some(c => c.innerText.includes('OPEN'))",
        timeout=WAIT,
    )
    assert "bad" in page.query_selector(chip + " .state").get_attribute("class")
    page.click('#fleet-hosts tbody tr[data-host="web-1"]')
    page.wait_for_function("window.rebellionFleet.hostSamples >= 1", timeout=WAIT)
    assert page.query_selector("#fleet-chart canvas") is not None
    selected = page.query_selector('#fleet-hosts tbody tr[data-host="web-1"]')
    assert selected.get_attribute("aria-selected") == "true"
    assert serious_violations(page) == []
    assert page.problems == []
