"""The dashboard in a real headless Chromium: charts, zoom, panels, layout and accessibility.

Needs Debian's ``chromium`` (``make test`` installs it when missing, see
``scripts/ensure_system.py``) and the ``playwright`` package pointed at that binary; no
browser download. Screenshots at 390, 1366 and 1920 px are written to the test's
``artefacts`` folder (printed; ``$REBELLION_SCREENSHOT_DIR`` overrides it). Every wait is
on a condition with a generous deadline, never a fixed sleep.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from monitor._browser import FLAGS, artefacts, chromium_path, serious_violations
from monitor._server import running, wait_ready
from rebellion import CircuitBreaker
from rebellion.errors import CircuitOpenError
from rebellion.monitor.server import ServeOptions, build

pytestmark = pytest.mark.e2e

TOKEN = "dashboard-browser-test-token"
WAIT = 30_000  # ms: generous, so a loaded machine is slow, not red
WIDTHS = {390: 844, 1366: 768, 1920: 1080}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = tmp_path_factory.mktemp("monitor") / "h.db"
    app, _ = build(ServeOptions(db=str(db), interval=0.2, token=TOKEN).checked())
    with running(app) as url:
        wait_ready(url, headers={"Authorization": f"Bearer {TOKEN}"})
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()


def open_page(browser: Any, base: str, width: int = 1366, scheme: str = "dark") -> Any:
    page = browser.new_page(
        viewport={"width": width, "height": WIDTHS.get(width, 900)}, color_scheme=scheme
    )
    page.problems = []
    page.on("pageerror", lambda error: page.problems.append(str(error)))
    page.on(
        "response",
        lambda r: page.problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    page.goto(f"{base}/?token={TOKEN}")
    page.wait_for_function("window.rebellion && window.rebellion.samples >= 5", timeout=WAIT)
    page.wait_for_function("window.rebellion.connected === true", timeout=WAIT)
    return page


LAYOUT = """() => {
  const overlaps = [];
  for (const h of document.querySelectorAll('.card h2')) {
    const [a, b] = [...h.children].map(c => c.getBoundingClientRect());
    if (a && b && a.right > b.left + 1 && a.bottom > b.top + 1 && b.bottom > a.top + 1)
      overlaps.push(h.textContent);
  }
  const cards = [...document.querySelectorAll('section.card')].map(c => c.getBoundingClientRect());
  return {
    scroll: document.documentElement.scrollWidth, inner: window.innerWidth, overlaps,
    outside: cards.filter(r => r.right > window.innerWidth + 1 || r.left < -1).length,
  };
}"""


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_each_width_fits_the_screen_with_axes_legends_and_no_errors(
    browser: Any, base: str, tmp_path: Path, width: int
) -> None:
    folder = artefacts(tmp_path)
    schemes = ("dark", "light") if width == 1366 else ("dark",)
    for scheme in schemes:
        page = open_page(browser, base, width, scheme)
        try:
            page.wait_for_function(
                "[...document.querySelectorAll('.chart')].every(c => c.dataset.xTicks && "
                "c.dataset.yTicks && Number(c.dataset.points) >= 2)",
                timeout=WAIT,
            )
            layout = page.evaluate(LAYOUT)
            assert layout["scroll"] <= layout["inner"], layout
            assert layout["overlaps"] == [], layout
            assert layout["outside"] == 0, layout
            ticks = page.eval_on_selector_all(
                ".chart", "cs => cs.map(c => [c.id, c.dataset.xTicks, c.dataset.yTicks])"
            )
            for chart, x, _ in ticks:
                assert ":" in x, (chart, x)  # local clock times
            y_ticks = {c: y for c, _, y in ticks}
            assert y_ticks["c-cpu"].endswith("100 %")  # percentages are fixed at 0-100
            assert "B/s" in y_ticks["c-net"]
            legends = page.eval_on_selector_all(
                ".chart",
                "cs => Object.fromEntries(cs.map(c => [c.id, [...c.querySelectorAll("
                "'.u-legend .u-label')].map(l => l.textContent)]))",
            )
            assert {"read", "write"} <= set(legends["c-disk"])
            assert {"in (received)", "out (sent)"} <= set(legends["c-net"])
            assert {"memory used", "swap used"} <= set(legends["c-mem"])
            assert "forecast 95 % band" in legends["c-cpu"]
            shot = folder / f"dashboard-{width}-{scheme}.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 20_000
            assert page.problems == [], page.problems  # no 404 (favicon), no script error
        finally:
            page.close()


# Page coordinates of a chart's real samples (not the forecast's future point), so the
# mouse lands on data however many samples the page has had time to gather.
SAMPLE_X = """([id, where]) => {
  const u = window.rebellion.charts[id], xs = u.data[0], ys = u.data[1];
  const real = xs.map((x, i) => [x, ys[i]]).filter(([, y]) => y !== null && y !== undefined);
  const x = real[Math.floor(where * (real.length - 1))][0];
  const box = u.over.getBoundingClientRect();
  return box.left + u.valToPos(x, 'x');
}"""


def hover_sample(page: Any, chart: str, where: float) -> None:
    page.wait_for_function(
        f"window.rebellion.charts.{chart} && "
        f"window.rebellion.charts.{chart}.data[1].filter(v => v !== null).length >= 5",
        timeout=WAIT,
    )
    x = page.evaluate(SAMPLE_X, [chart, where])
    box = page.locator(f"#c-{chart} .u-over").bounding_box()
    page.mouse.move(x, box["y"] + box["height"] / 2)


def test_hovering_a_chart_shows_a_tooltip_with_a_value_and_unit(browser: Any, base: str) -> None:
    page = open_page(browser, base)
    try:
        hover_sample(page, "cpu", 0.5)
        tip = page.locator("#c-cpu .tip")
        tip.wait_for(state="visible", timeout=WAIT)
        assert "CPU busy" in tip.inner_text()
        assert "%" in tip.inner_text()
        hover_sample(page, "net", 0.5)
        page.locator("#c-net .tip").wait_for(state="visible", timeout=WAIT)
        assert "B/s" in page.inner_text("#c-net .tip")
    finally:
        page.close()


def test_dragging_zooms_into_history_and_live_returns(browser: Any, base: str) -> None:
    page = open_page(browser, base)
    try:
        hover_sample(page, "mem", 0.0)
        start = page.evaluate(SAMPLE_X, ["mem", 0.0])
        end = page.evaluate(SAMPLE_X, ["mem", 1.0])
        box = page.locator("#c-mem .u-over").bounding_box()
        y = box["y"] + box["height"] / 2
        page.mouse.move(start, y)
        page.mouse.down()
        page.mouse.move(end, y, steps=8)
        page.mouse.up()
        page.wait_for_function(
            "window.rebellion.historyLoads >= 1 && window.rebellion.lastHistory.points > 0",
            timeout=WAIT,
        )
        loaded = page.evaluate("window.rebellion.lastHistory")
        assert loaded["to"] > loaded["from"]
        assert page.get_attribute("#live", "aria-pressed") == "false"
        assert "per point" in page.inner_text("#range-label")
        cpu_legend = page.eval_on_selector_all(
            "#c-cpu .u-legend .u-label", "ls => ls.map(l => l.textContent)"
        )
        assert "min\u2013max per bucket" in cpu_legend  # history draws each bucket's spread
        page.focus("#live")
        page.keyboard.press("Enter")  # the live toggle is a keyboard-reachable button
        page.wait_for_function("window.rebellion.state.live === true", timeout=WAIT)
        assert page.get_attribute("#live", "aria-pressed") == "true"
        page.click("button[data-range='86400']")
        page.wait_for_function("window.rebellion.historyLoads >= 2", timeout=WAIT)
        assert page.evaluate("window.rebellion.lastHistory.step") >= 60
    finally:
        page.close()


def test_the_per_core_chart_has_one_series_per_core(browser: Any, base: str) -> None:
    page = open_page(browser, base)
    try:
        cores = psutil.cpu_count()
        assert page.get_attribute("#c-cores", "data-series") == str(cores)
        labels = page.eval_on_selector_all("#c-cores .u-legend .u-label", "ls => ls.length")
        assert labels == cores + 1  # and the time column
    finally:
        page.close()


def test_processes_sort_by_cpu_memory_and_io(browser: Any, base: str) -> None:
    page = open_page(browser, base)
    try:
        page.wait_for_selector("#procs tbody tr", timeout=WAIT)
        page.click("button[data-sort='memory_rss']")
        assert page.get_attribute("button[data-sort='memory_rss']", "aria-pressed") == "true"
        for key in ("memory-rss", "io-bps", "cpu-percent"):
            page.click(f"button[data-sort='{key.replace('-', '_')}']")
            values = page.eval_on_selector_all(
                f"#procs tbody tr[data-{key}]",
                f"rs => rs.map(r => Number(r.getAttribute('data-{key}')))",
            )
            assert len(values) >= 3
            assert values == sorted(values, reverse=True), (key, values)
        assert page.eval_on_selector_all("#procs td.cmd", "cs => cs.some(c => c.title.length > 0)")
    finally:
        page.close()


def test_repeated_events_fold_and_state_changes_stay_visible(browser: Any, base: str) -> None:
    page = open_page(browser, base)
    breaker = CircuitBreaker(name="fold-breaker", failure_threshold=1)
    try:
        breaker.force_open()
        for _ in range(60):
            with pytest.raises(CircuitOpenError):
                breaker.call(lambda: None)
        page.wait_for_function(
            "[...document.querySelectorAll('#events li[data-event=CallRejected]')]"
            ".some(li => Number(li.dataset.count) >= 2)",
            timeout=WAIT,
        )
        items = page.eval_on_selector_all(
            "#events li", "ls => ls.map(l => [l.dataset.event, l.textContent])"
        )
        rejected = [text for event, text in items if event == "CallRejected"]
        assert len(rejected) < 60
        assert any("\u00d7" in text for text in rejected)  # "CallRejected x 59 in 1 s"
        assert any(e == "CircuitStateChanged" and "FORCED_OPEN" in t for e, t in items)
    finally:
        page.close()


def test_open_incidents_show_a_banner_and_shade_the_charts(browser: Any, base: str) -> None:
    page = open_page(browser, base)
    try:
        page.evaluate(
            """() => { const now = Date.now() / 1000; window.rebellion.incident({
              id: 'inc-1', status: 'open', started: now - 20, ended: null, severity: 'critical',
              summary: 'CPU saturated by stress-ng',
              metrics: [{name: 'cpu.total', score: 0.99}, {name: 'load.1', score: 0.8}],
              processes: [{pid: 4242, name: 'stress-ng', share: 0.87}], forecasts: []}); }"""
        )
        banner = page.locator("#incidents .incident")
        banner.wait_for(timeout=WAIT)
        text = banner.inner_text()
        assert "CPU saturated by stress-ng" in text
        assert "cpu.total" in text
        assert "stress-ng" in text
        assert "87 %" in text
        page.wait_for_function(
            "document.querySelector('#c-cpu').dataset.incidents === '1'", timeout=WAIT
        )
    finally:
        page.close()


@pytest.mark.parametrize("scheme", ["dark", "light"])
def test_axe_finds_no_serious_or_critical_violations(browser: Any, base: str, scheme: str) -> None:
    page = open_page(browser, base, 1366, scheme)
    breaker = CircuitBreaker(name="axe-breaker")
    try:
        page.wait_for_selector("#resilience tbody tr[data-key]", timeout=WAIT)
        assert serious_violations(page) == []
    finally:
        page.close()
        del breaker


def test_dashboard_reconnects_after_the_server_restarts(browser: Any, tmp_path: Path) -> None:
    from _redis import free_port

    port = free_port()
    options = ServeOptions(db=str(tmp_path / "h.db"), interval=0.2)
    page = browser.new_page()
    try:
        app, _ = build(options)
        with running(app, port=port) as url:
            wait_ready(url)
            page.goto(url + "/")
            page.wait_for_function("window.rebellion.connected === true", timeout=WAIT)
        page.wait_for_function("window.rebellion.connected === false", timeout=WAIT)
        assert page.get_attribute("#conn", "data-state") == "down"
        app, _ = build(options)
        with running(app, port=port) as url:
            wait_ready(url)
            page.wait_for_function(
                "window.rebellion.connected === true && window.rebellion.reconnects >= 1",
                timeout=WAIT,
            )
            before = page.evaluate("window.rebellion.samples")
            page.wait_for_function(f"window.rebellion.samples > {before}", timeout=WAIT)
    finally:
        page.close()
