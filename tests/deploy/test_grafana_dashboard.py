"""The shipped Grafana dashboard: well-formed, and every metric it charts is exported."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from deploy._handoff import DASHBOARD, dashboard_exprs, metric_names, policies_in_use
from monitor._server import running, wait_ready
from rebellion.monitor.server import ServeOptions, build


def test_metric_names_are_read_out_of_promql() -> None:
    expr = (
        'sum by (job, instance) (rate(a_total{x="y{z}", w=~"$job"}[$__rate_interval] offset 5m))'
        " / on (instance) group_left (name) b_ratio > bool 0.5 and up == 0 or vector(1)"
    )
    assert metric_names(expr) == {"a_total", "b_ratio"}
    assert metric_names("-host_disk_device_write_bps{job=~'$job'}") == {
        "host_disk_device_write_bps"
    }
    assert metric_names("deriv(m[2m]) > 0.5 unless count(n) without (key)") == {"m", "n"}


def test_the_dashboard_is_well_formed_grafana_json() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] == "system-rebellion"
    assert dashboard["title"]
    variables = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "job", "instance"} <= variables
    ids: list[int] = []
    for panel in dashboard["panels"]:
        ids.append(panel["id"])
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(set(refs)) == len(refs), panel["title"]
        for target in panel["targets"]:
            assert target["expr"].count("(") == target["expr"].count(")"), target["expr"]
            assert 'job=~"$job"' in target["expr"], target["expr"]  # the variables filter
    assert len(set(ids)) == len(ids)


@pytest.fixture
def monitor_with_policies() -> Iterator[str]:
    app, _ = build(ServeOptions(db=":memory:", interval=0.5).checked())
    with policies_in_use(), running(app) as base:
        wait_ready(base, timeout=60)
        yield base


def exported_names(text: str) -> set[str]:
    return {
        sample.name for family in text_string_to_metric_families(text) for sample in family.samples
    }


@pytest.mark.e2e
def test_every_metric_on_the_dashboard_is_exported_by_a_live_monitor(
    monitor_with_policies: str,
) -> None:
    wanted = set().union(*(metric_names(expr) for expr in dashboard_exprs()))
    assert len(wanted) > 30

    def missing() -> set[str]:
        text = httpx.get(monitor_with_policies + "/metrics", timeout=30).text
        return wanted - exported_names(text)

    # Device rates exist from the second sample on: wait for it (generously).
    left = missing()
    deadline = time.monotonic() + 60
    while left and time.monotonic() < deadline:
        time.sleep(0.25)
        left = missing()
    assert not left, sorted(left)
