"""The seed's MetricsConfig keys: each one changes what the collector does."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rebellion import ConfigError
from rebellion.metrics import AlertSeverity, MetricsCollector, MetricsConfig
from rebellion.testing import ManualClock


def test_collection_interval_sets_the_window_slots() -> None:
    assert MetricsConfig(window_seconds=60.0, collection_interval=1.0).window_buckets == 60
    assert MetricsConfig(window_seconds=30.0, collection_interval=5.0).window_buckets == 6


@pytest.mark.parametrize("interval", [7.0, 0.0, -1.0, 120.0, 0.001])
def test_collection_interval_must_divide_the_window(interval: float) -> None:
    with pytest.raises(ConfigError, match="collection_interval"):
        MetricsConfig(window_seconds=60.0, collection_interval=interval)


@pytest.mark.parametrize(
    "flag",
    [
        "enable_aggregation",
        "enable_anomaly_detection",
        "alerting_enabled",
        "enable_prometheus",
        "enable_json_export",
        "persistence_enabled",
    ],
)
def test_flags_must_be_booleans(flag: str) -> None:
    with pytest.raises(ConfigError, match=flag):
        MetricsConfig(**{flag: "yes"})  # type: ignore[arg-type]


def test_without_aggregation_there_are_no_windowed_quantiles() -> None:
    collector = MetricsCollector("m", MetricsConfig(enable_aggregation=False), clock=ManualClock())
    collector.record_time("latency", 0.2)
    window = collector.snapshot()["metrics"]["latency"]["series"][0]["window"]
    assert "p50" not in window


def test_anomaly_detection_scores_every_series() -> None:
    config = MetricsConfig(enable_anomaly_detection=True)
    collector = MetricsCollector("m", config, clock=ManualClock())
    for i in range(200):
        collector.set("queue_depth", 10.0 + (i % 3), {"queue": "a"})
    collector.set("queue_depth", 900.0, {"queue": "a"})
    assert collector.snapshot()["anomalies"]['queue_depth{queue="a"}'] == 1.0
    assert "anomalies" not in MetricsCollector("n", clock=ManualClock()).snapshot()


async def test_disabled_alerting_and_exports_are_refused_by_name() -> None:
    config = MetricsConfig(
        alerting_enabled=False, enable_prometheus=False, enable_json_export=False
    )
    collector = MetricsCollector("m", config, clock=ManualClock())
    with pytest.raises(ConfigError, match="alerting_enabled"):
        await collector.create_alert("x", AlertSeverity.WARNING, "msg")
    with pytest.raises(ConfigError, match="enable_prometheus"):
        collector.prometheus_text()
    with pytest.raises(ConfigError, match="enable_json_export"):
        collector.to_json()


async def test_persistence_writes_the_snapshot_when_the_collector_stops(tmp_path: Path) -> None:
    path = tmp_path / "metrics.json"
    config = MetricsConfig(persistence_enabled=True, persistence_path=str(path))
    collector = MetricsCollector("m", config, clock=ManualClock())
    await collector.start()
    await collector.increment("requests_total", 3)
    await collector.stop()
    saved, files = _saved(path)
    assert saved["collector"] == "m"
    assert "requests_total" in saved["metrics"]
    assert files == ["metrics.json"]  # no temporary file left behind


def _saved(path: Path) -> tuple[dict[str, object], list[str]]:
    return json.loads(path.read_text(encoding="utf-8")), [p.name for p in path.parent.iterdir()]
