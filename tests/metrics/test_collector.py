"""MetricsCollector: instruments, labels, windows, alerts, validation and concurrency."""

from __future__ import annotations

import asyncio
import json
import threading

import numpy as np
import pytest

from rebellion import ConfigError, Registry
from rebellion.metrics import Alert, AlertSeverity, MetricsCollector, MetricsConfig
from rebellion.testing import ManualClock


def make(**config: object) -> tuple[MetricsCollector, ManualClock]:
    clock = ManualClock()
    cfg = MetricsConfig(**config)  # type: ignore[arg-type]
    return MetricsCollector("test", cfg, clock=clock, primitives=Registry()), clock


def series(collector: MetricsCollector, name: str) -> list[dict[str, object]]:
    out: list[dict[str, object]] = collector.snapshot()["metrics"][name]["series"]
    return out


# -- instruments -------------------------------------------------------------------------


def test_counter_handle_and_sync_method_share_one_total_per_label_set() -> None:
    collector, _ = make()
    handle = collector.counter("hits_total", {"endpoint": "/a"})
    handle.inc()
    collector.inc("hits_total", 2, {"endpoint": "/a"})
    collector.inc("hits_total", labels={"endpoint": "/b"})
    assert handle.value == 3.0
    values = {tuple(s["labels"].values()): s["value"] for s in series(collector, "hits_total")}  # type: ignore[attr-defined]
    assert values == {("/a",): 3.0, ("/b",): 1.0}


def test_label_order_and_value_types_do_not_create_new_series() -> None:
    collector, _ = make()
    a = collector.counter("c_total", {"x": "1", "y": 2})
    b = collector.counter("c_total", {"y": "2", "x": 1})
    assert a is b


def test_gauge_sets_increments_and_decrements() -> None:
    collector, _ = make()
    collector.set("connections", 150)
    gauge = collector.get_gauge("connections")
    gauge.inc(5)
    gauge.dec(2.5)
    assert gauge.value == 152.5


def test_histogram_window_percentiles_match_numpy() -> None:
    collector, _ = make()
    data = np.random.default_rng(7).lognormal(size=900)
    for value in data:
        collector.observe("size_bytes", float(value))
    window = series(collector, "size_bytes")[0]["window"]
    assert isinstance(window, dict)
    for q, key in ((50, "p50"), (95, "p95"), (99, "p99")):
        assert window[key] == pytest.approx(np.percentile(data, q))
    assert window["count"] == 900
    assert window["mean"] == pytest.approx(data.mean())
    assert window["min"] == data.min()
    assert window["max"] == data.max()


def test_window_forgets_samples_older_than_the_window() -> None:
    collector, clock = make(window_seconds=60.0, window_buckets=6)
    old = [100.0] * 50
    new = list(np.arange(1.0, 101.0))
    for value in old:
        collector.observe("lat", value)
    clock.advance(30.0)
    for value in new:
        collector.observe("lat", value)
    both = series(collector, "lat")[0]["window"]
    assert both["count"] == 150  # type: ignore[index]
    clock.advance(31.0)  # the first bucket (t in [0, 10)) has left the 60 s window
    window = series(collector, "lat")[0]["window"]
    assert isinstance(window, dict)
    assert window["count"] == 100
    assert window["p95"] == pytest.approx(np.percentile(new, 95))
    assert series(collector, "lat")[0]["count"] == 150  # all-time count stays
    clock.advance(120.0)
    assert series(collector, "lat")[0]["window"]["p50"] is None  # type: ignore[index]


def test_window_beyond_max_samples_keeps_exact_count_and_close_percentiles() -> None:
    collector, _ = make(max_window_samples=500)
    data = np.random.default_rng(3).normal(100.0, 10.0, size=5000)
    for value in data:
        collector.observe("x", float(value))
    window = series(collector, "x")[0]["window"]
    assert isinstance(window, dict)
    assert window["count"] == 5000
    assert window["sum"] == pytest.approx(data.sum())
    assert window["p50"] == pytest.approx(np.percentile(data, 50), abs=2.0)


def test_timer_records_durations_as_context_manager_and_decorator() -> None:
    collector, clock = make()
    with collector.time("work_seconds"):
        clock.advance(0.2)

    @collector.time("work_seconds")
    def work() -> str:
        clock.advance(0.4)
        return "done"

    assert work() == "done"

    def failing() -> None:
        with collector.time("work_seconds"):
            clock.advance(1.0)
            raise KeyError("failures are timed too")

    with pytest.raises(KeyError):
        failing()
    timer = collector.get_timer("work_seconds")
    assert timer.count == 3
    assert timer.sum == pytest.approx(1.6)


async def test_timer_times_async_functions_and_async_blocks() -> None:
    collector, clock = make()

    @collector.time("job_seconds", {"kind": "async"})
    async def job() -> int:
        await clock.sleep_async(0.5)
        return 7

    assert await job() == 7
    async with collector.time("job_seconds", {"kind": "async"}):
        await clock.sleep_async(0.25)
    timer = collector.get_timer("job_seconds", {"kind": "async"})
    assert (timer.count, timer.sum) == (2, 0.75)


def test_a_timing_object_times_one_block_at_a_time() -> None:
    collector, _ = make()
    timing = collector.time("t")
    with timing, pytest.raises(RuntimeError, match="already timing"), timing:
        pass


def test_meter_reports_windowed_and_mean_rates() -> None:
    collector, clock = make(window_seconds=60.0, window_buckets=6)
    meter = collector.meter("events")
    for _ in range(60):
        meter.mark(2)
        clock.advance(1.0)
    entry = series(collector, "events")[0]
    assert entry["total"] == 120.0
    assert entry["rate"] == pytest.approx(2.0, rel=0.05)
    assert entry["mean_rate"] == pytest.approx(2.0)
    clock.advance(600.0)
    assert series(collector, "events")[0]["rate"] == 0.0


# -- the seed's async surface and alerts -------------------------------------------------


async def test_seed_metrics_calls_work_as_written() -> None:
    sent: list[Alert] = []

    def send_to_slack(alert: Alert) -> None:
        sent.append(alert)

    metrics_config = MetricsConfig()
    metrics_collector = MetricsCollector("resync_metrics", metrics_config, clock=ManualClock())
    await metrics_collector.start()

    await metrics_collector.increment("requests_total", 1, {"endpoint": "/api/data"})
    await metrics_collector.gauge("active_connections", 150)
    await metrics_collector.timer("request_duration", 0.250)
    await metrics_collector.histogram("response_size", 1024)

    await metrics_collector.create_alert(
        "high_error_rate", AlertSeverity.WARNING, "Error rate exceeded threshold"
    )
    metrics_collector.add_alert_callback(lambda alert: send_to_slack(alert))

    summary = await metrics_collector.get_metrics_summary()
    active_alerts = await metrics_collector.get_active_alerts(AlertSeverity.ERROR)

    assert metrics_collector.running
    assert active_alerts == []
    assert summary["metrics"]["requests_total"]["series"][0]["value"] == 1.0
    assert summary["metrics"]["active_connections"]["series"][0]["value"] == 150.0
    assert summary["metrics"]["request_duration"]["series"][0]["window"]["p99"] == 0.25
    assert summary["alerts"]["by_severity"]["warning"] == 1
    json.dumps(summary)
    await metrics_collector.create_alert("disk_full", AlertSeverity.CRITICAL, "disk is full")
    assert [a.name for a in sent] == ["disk_full"]
    assert [a.name for a in await metrics_collector.get_active_alerts(AlertSeverity.ERROR)] == [
        "disk_full"
    ]
    await metrics_collector.stop()
    assert not metrics_collector.running


async def test_alerts_deduplicate_while_active_and_notify_on_resolve() -> None:
    collector, clock = make()
    seen: list[tuple[str, bool]] = []
    remove = collector.add_alert_callback(lambda a: seen.append((a.name, a.active)))
    first = await collector.create_alert("cpu_hot", "error", "cpu > 90%", {"host": "a"})
    again = await collector.create_alert("cpu_hot", AlertSeverity.ERROR, "x", {"host": "a"})
    other = await collector.create_alert("cpu_hot", "error", "cpu > 90%", {"host": "b"})
    assert again is first
    assert other is not first
    clock.advance(5.0)
    resolved = await collector.resolve_alert("cpu_hot", {"host": "a"})
    assert resolved is not None
    assert resolved.resolved_at == first.at + 5.0
    assert await collector.resolve_alert("cpu_hot", {"host": "a"}) is None
    remove()
    await collector.create_alert("late", "info")
    assert seen == [("cpu_hot", True), ("cpu_hot", True), ("cpu_hot", False)]
    assert [a.to_dict()["labels"] for a in await collector.get_active_alerts()] == [
        {"host": "b"},
        {},
    ]
    assert collector.alerts.history() == [resolved]


async def test_async_alert_callbacks_run_and_a_raising_callback_is_skipped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    collector, _ = make()
    received = []

    async def deliver(alert: object) -> None:
        received.append(alert)

    def broken(alert: object) -> None:
        raise RuntimeError("receiver down")

    collector.add_alert_callback(broken)
    collector.add_alert_callback(deliver)
    alert = await collector.create_alert("x", "warning", "m")
    await asyncio.sleep(0)
    assert received == [alert]
    assert "raised" in caplog.text


# -- validation ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["", "1abc", "with-dash", "sp ace", "rebellion_x", 3, None])
def test_invalid_metric_names_are_rejected_naming_the_rule(name: object) -> None:
    collector, _ = make()
    with pytest.raises(ConfigError, match=r"name must be a Prometheus metric name"):
        collector.inc(name)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("labels", "fragment"),
    [
        ({"bad-name": "x"}, "label names"),
        ({"__reserved": "x"}, "'__'"),
        ({"1x": "x"}, "label names"),
        ({"ok": None}, "label values"),
        ({"ok": True}, "label values"),
        ("endpoint=/a", "mapping"),
    ],
)
def test_invalid_labels_are_rejected_naming_the_parameter(labels: object, fragment: str) -> None:
    collector, _ = make()
    with pytest.raises(ConfigError, match="labels must be") as info:
        collector.inc("c_total", 1, labels)  # type: ignore[arg-type]
    assert fragment in str(info.value)


def test_histograms_reserve_le_and_quantile_labels() -> None:
    collector, _ = make()
    with pytest.raises(ConfigError, match="labels must be label names other than"):
        collector.observe("h", 1.0, {"le": "1"})
    collector.inc("ok_total", 1, {"le": "1"})  # counters may use it


def test_label_names_must_stay_the_same_for_a_metric() -> None:
    collector, _ = make()
    collector.inc("c_total", 1, {"a": "1"})
    with pytest.raises(ConfigError, match=r"labels must be the label names \('a',\)"):
        collector.inc("c_total", 1, {"b": "1"})


def test_cardinality_is_capped_per_metric_with_a_clear_error() -> None:
    collector, _ = make(max_series=3)
    for i in range(3):
        collector.inc("c_total", 1, {"user": str(i)})
    with pytest.raises(ConfigError, match=r"at most 3 label sets of metric 'c_total'"):
        collector.inc("c_total", 1, {"user": "overflow"})
    collector.inc("c_total", 1, {"user": "1"})  # existing label sets keep working
    collector.inc("other_total", 1, {"user": "overflow"})  # the cap is per metric


def test_a_name_keeps_its_type_and_exposed_names_never_clash() -> None:
    collector, _ = make()
    collector.inc("jobs_total")
    with pytest.raises(
        ConfigError, match="name must be a gauge name, but 'jobs_total' is a counter"
    ):
        collector.set("jobs_total", 1)
    with pytest.raises(ConfigError, match="do not clash with 'jobs_total'"):
        collector.set("jobs", 1)
    collector.observe("lat", 1.0)
    with pytest.raises(ConfigError, match="do not clash with 'lat'"):
        collector.set("lat_count", 1)


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        (lambda c: c.inc("c_total", -1), "amount"),
        (lambda c: c.inc("c_total", float("nan")), "amount"),
        (lambda c: c.inc("c_total", "1"), "amount"),
        (lambda c: c.set("g", "high"), "value"),
        (lambda c: c.get_gauge("g").inc("x"), "amount"),
        (lambda c: c.get_gauge("g").dec(None), "amount"),
        (lambda c: c.observe("h", float("nan")), "value"),
        (lambda c: c.observe("h", float("inf")), "value"),
        (lambda c: c.observe("h", "3"), "value"),
        (lambda c: c.record_time("t", -0.1), "seconds"),
        (lambda c: c.mark("m", -1), "count"),
        (lambda c: c.get_histogram("h2", buckets=[2.0, 1.0]), "buckets"),
        (lambda c: c.get_histogram("h2", buckets=[]), "buckets"),
        (lambda c: c.counter("c2_total", help=3), "help"),
    ],
)
def test_bad_values_name_the_parameter(call: object, parameter: str) -> None:
    collector, _ = make()
    with pytest.raises(ConfigError, match=rf"^{parameter} must be"):
        call(collector)  # type: ignore[operator]


def test_conflicting_redefinitions_are_rejected() -> None:
    collector, _ = make()
    collector.get_histogram("size", help="bytes", buckets=[1.0, 10.0])
    with pytest.raises(ConfigError, match=r"^buckets must be"):
        collector.get_histogram("size", buckets=[1.0, 100.0])
    with pytest.raises(ConfigError, match=r"^help must be 'bytes'"):
        collector.get_histogram("size", help="other")
    with pytest.raises(ConfigError, match=r"^buckets must be None"):
        collector._define("n_total", "counter", None, [1.0])


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"window_seconds": 0}, "window_seconds"),
        ({"window_buckets": 0}, "window_buckets"),
        ({"max_window_samples": 0}, "max_window_samples"),
        ({"max_series": -1}, "max_series"),
        ({"quantiles": (0.5, 1.5)}, "quantiles"),
        ({"quantiles": "0.5"}, "quantiles"),
        ({"histogram_buckets": (1.0, 1.0)}, "histogram_buckets"),
        ({"include_primitives": "yes"}, "include_primitives"),
        ({"alert_history": -1}, "alert_history"),
    ],
)
def test_config_rejects_bad_settings_naming_them(kwargs: dict[str, object], parameter: str) -> None:
    with pytest.raises(ConfigError, match=rf"^{parameter} must be"):
        MetricsConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"name": ""}, "name"),
        ({"config": {"max_series": 3}}, "config"),
        ({"clock": "now"}, "clock"),
        ({"primitives": []}, "primitives"),
    ],
)
def test_collector_rejects_bad_arguments_naming_them(
    kwargs: dict[str, object], parameter: str
) -> None:
    with pytest.raises(ConfigError, match=rf"^{parameter} must be"):
        MetricsCollector(**kwargs)  # type: ignore[arg-type]


async def test_alert_arguments_are_validated() -> None:
    collector, _ = make()
    with pytest.raises(ConfigError, match=r"^severity must be"):
        await collector.create_alert("x", "fatal", "m")
    with pytest.raises(ConfigError, match=r"^name must be"):
        await collector.create_alert("", "info", "m")
    with pytest.raises(ConfigError, match=r"^message must be"):
        await collector.create_alert("x", "info", 3)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"^labels must be"):
        await collector.create_alert("x", "info", "m", {"a": None})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match=r"^min_severity must be"):
        await collector.get_active_alerts("loud")
    with pytest.raises(ConfigError, match=r"^callback must be"):
        collector.add_alert_callback("slack")  # type: ignore[arg-type]


# -- concurrency and export ------------------------------------------------------------


def test_many_threads_incrementing_give_exact_totals() -> None:
    collector, _ = make()
    threads_n, per_thread = 8, 5_000
    barrier = threading.Barrier(threads_n)

    def worker(i: int) -> None:
        handle = collector.counter("hits_total", {"shard": str(i % 2)})
        barrier.wait()
        for _ in range(per_thread):
            handle.inc()
            collector.inc("all_total")
            collector.observe("h", 1.0)
            collector.mark("m")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    total = threads_n * per_thread
    assert collector.counter("all_total").value == total
    assert sum(s["value"] for s in series(collector, "hits_total")) == total  # type: ignore[misc]
    assert collector.get_histogram("h").count == total
    assert collector.meter("m").total == total


def test_snapshot_and_json_include_primitives_of_the_given_registry() -> None:
    from rebellion import CircuitBreaker

    primitives = Registry()
    breaker = CircuitBreaker(name="payments")
    primitives.register(breaker)
    collector = MetricsCollector("app", clock=ManualClock(), primitives=primitives)
    snap = json.loads(collector.to_json())
    assert [p["name"] for p in snap["primitives"]] == ["payments"]
    assert collector.stats()["metrics"] == 0
    no_prims = MetricsCollector(
        "quiet", MetricsConfig(include_primitives=False), primitives=primitives
    )
    assert "primitives" not in no_prims.snapshot()
    assert "MetricsCollector(name='quiet'" in repr(no_prims)
