"""The shipped alerting rules: promtool checks them, and a real Prometheus evaluates them.

Prometheus (Debian's package, installed by scripts/ensure_system.py) runs on a free
loopback port with a temporary data directory and scrapes a ``rebellion serve``
subprocess and an in-process monitor with one primitive of each kind registered.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from deploy._handoff import (
    RULES,
    RULES_TEST,
    Prometheus,
    dashboard_exprs,
    metric_names,
    needs,
    policies_in_use,
    poll,
    prometheus,
    rebellion_serve,
)
from monitor._server import running, wait_ready
from rebellion.monitor.server import ServeOptions, build


def test_the_rules_pass_promtool_check() -> None:
    done = subprocess.run(
        [needs("promtool"), "check", "rules", str(RULES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_the_rules_pass_their_promtool_unit_tests() -> None:
    done = subprocess.run(
        [needs("promtool"), "test", "rules", RULES_TEST.name],
        cwd=RULES_TEST.parent,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_a_broken_rule_fails_promtool(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text(
        RULES.read_text().replace("host_memory_percent > 90", "host_memory_percent >", 1)
    )
    done = subprocess.run(
        [needs("promtool"), "check", "rules", str(broken)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    """One Prometheus for the module's live tests: starting it is the slow part."""
    needs("prometheus")
    tmp_path = tmp_path_factory.mktemp("prometheus")
    app, _ = build(ServeOptions(db=":memory:", interval=0.5).checked())
    with (
        policies_in_use(),
        running(app) as app_url,
        rebellion_serve(tmp_path) as serve_url,
    ):
        wait_ready(app_url, timeout=60)
        targets = {"rebellion": serve_url, "rebellion-app": app_url}
        with prometheus(tmp_path, targets, [RULES]) as server:
            poll(
                lambda: (
                    (active := server.api("targets")["activeTargets"])
                    and len(active) == 2
                    and all(t["health"] == "up" for t in active)
                ),
                "both targets scraped",
            )
            yield server


def assert_scraped(server: Prometheus, wanted: set[str]) -> None:
    """Wait until Prometheus holds every metric in ``wanted``; name the missing ones."""

    def missing() -> set[str]:
        return wanted - set(server.api("label/__name__/values"))

    # Device rates exist from the monitor's second sample on: poll, generously.
    try:
        poll(lambda: not missing(), "the metrics in Prometheus")
    except AssertionError:
        raise AssertionError(f"never scraped: {sorted(missing())}") from None


def all_rules(server: Prometheus) -> list[dict[str, Any]]:
    return [rule for group in server.api("rules")["groups"] for rule in group["rules"]]


def evaluated(rule: dict[str, Any]) -> bool:
    return rule["health"] == "ok" and not rule["lastEvaluation"].startswith("0001")


@pytest.mark.e2e
def test_prometheus_scrapes_the_monitor_and_evaluates_every_rule(scraped: Prometheus) -> None:
    rules = poll(
        lambda: (found := all_rules(scraped)) and all(evaluated(r) for r in found) and found,
        "every rule evaluated with health ok",
    )
    assert len(rules) == 23
    for rule in rules:
        assert rule["type"] == "alerting"
        assert rule["labels"]["severity"] in ("info", "warning", "critical"), rule["name"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["name"]
    # Every metric the rules read is one the monitor and the toolkit really export.
    wanted = set().union(*(metric_names(rule["query"]) for rule in rules))
    assert_scraped(scraped, wanted)


@pytest.mark.e2e
def test_a_rule_matches_the_live_state_of_a_primitive(scraped: Prometheus) -> None:
    def isolated() -> list[dict[str, Any]]:
        return [
            alert
            for alert in scraped.api("alerts")["alerts"]
            if alert["labels"]["alertname"] == "RebellionCircuitBreakerIsolated"
            and alert["labels"]["name"] == "handoff.isolated"
        ]

    [alert] = poll(isolated, "the isolated breaker's alert pending")
    assert alert["state"] in ("pending", "firing")
    assert alert["labels"]["job"] == "rebellion-app"
    assert alert["labels"]["severity"] == "info"
    assert "handoff.isolated" in alert["annotations"]["summary"]


def grafana_to_promql(expr: str) -> str:
    expr = expr.replace("$__rate_interval", "1m").replace("$__range", "5m")
    return re.sub(r"\$(job|instance)\b", ".*", expr)


@pytest.mark.e2e
def test_prometheus_answers_every_dashboard_query(scraped: Prometheus) -> None:
    names = set(scraped.api("label/__name__/values"))
    poll(
        lambda: (
            "rebellion_circuit_breaker_state" in set(scraped.api("label/__name__/values")) or None
        ),
        "primitives scraped",
    )
    names = set(scraped.api("label/__name__/values"))
    for expr in dashboard_exprs():
        assert metric_names(expr) <= names, (expr, sorted(metric_names(expr) - names))
        scraped.query(grafana_to_promql(expr))  # a parse or evaluation error fails here
    cpu = scraped.query('host_cpu_total{job="rebellion"}')
    assert cpu
    assert 0 <= float(cpu[0]["value"][1]) <= 100
