"""The seed documents' examples, run as written against names imported from ``rebellion``.

Each test copies one seed snippet unchanged between the ``# --- seed`` markers. The
lines above the markers are the scaffolding the snippet assumes (its inputs, and the
seed project's class names bound to ours); the asserts below check what it produced.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from rebellion import (
    AlertSeverity,
    AnomalyDetector,
    AutonomousErrorRecovery,
    BackpressureHandler,
    BatchConfig,
    BatchPriority,
    BatchProcessor,
    BatchStrategy,
    CacheOptimizer,
    CacheOptimizerConfig,
    CircuitBreaker,
    CircuitState,
    ConnectionPool,
    ErrorSeverity,
    MetricsCollector,
    MetricsConfig,
    error_recovery,
    get_backpressure_handler,
    get_circuit_breaker,
    get_metric_transformer,
    with_error_recovery,
)
from rebellion.testing import FlakyCallable


def test_seed_000_backpressure_handler() -> None:
    # --- seed 000: BackpressureHandler
    handler = BackpressureHandler(max_buffer_size=1000)
    for metric in range(1500):
        handler.add_metric(metric)
    batch = handler.process_metrics()
    # --- end
    assert batch == list(range(500, 600))  # the buffer kept the latest 1000


def test_seed_000_error_recovery_by_error_type(caplog: pytest.LogCaptureFixture) -> None:
    reconnected: list[object] = []

    # --- seed 000: AutonomousErrorRecovery
    class SeedRecovery:
        def __init__(self) -> None:
            self.recovery = AutonomousErrorRecovery({"connection_failure": self.reconnect_strategy})

        def reconnect_strategy(self, connection_details: object) -> None:
            reconnected.append(connection_details)

    error_type, error_details = "connection_failure", {"host": "ws://metrics"}
    recovery = SeedRecovery().recovery
    recovery.handle_error(error_type, error_details)
    recovery.handle_error("data_corruption", {"table": "samples"})
    # --- end
    assert reconnected == [{"host": "ws://metrics"}]
    assert recovery.stats()["unhandled"] == 1
    assert "no recovery strategy for 'data_corruption'" in caplog.text


def test_seed_000_metric_transformation_with_numpy() -> None:
    raw_metrics = {"cpu_threads": [10.0, 12.0, 11.0, 13.0], "network_latency": [20.0, 21.0]}
    # --- seed 001: Metric Transformation
    metric_transformer = get_metric_transformer(
        name="system_metrics",
        history_size=120,  # 2 minutes of history at 1s intervals
        smoothing_window=5,
    )

    # Transform metrics
    transformed_metrics = metric_transformer.transform_system_metrics(raw_metrics)
    # --- end
    assert transformed_metrics["cpu_threads"].statistics.mean == 11.5
    detector = AnomalyDetector()
    assert detector.update(1.0) == 0.0


async def test_seed_001_circuit_breaker_backpressure_and_recovery() -> None:
    args: tuple[Any, ...] = ("ws://metrics",)
    kwargs: dict[str, Any] = {}
    item = {"cpu": 12.5}

    async def my_function(*a: Any, **k: Any) -> str:
        return "sent"

    # --- seed 001: WebSocket Circuit Breaker
    metrics_circuit_breaker = get_circuit_breaker(
        name="metrics_websocket", max_failures=3, reset_timeout=30, exponential_backoff_factor=1.5
    )

    # Protected function execution
    result = await metrics_circuit_breaker.execute(my_function, *args, **kwargs)
    # --- seed 001: Backpressure Handling
    metrics_backpressure = get_backpressure_handler(
        name="metrics_backpressure", max_buffer_size=100, sampling_strategy="latest"
    )

    # Add items to the buffer
    metrics_backpressure.add_item(item)

    # Get a batch of items for processing
    batch = metrics_backpressure.get_batch(max_batch_size=10)
    # --- end
    assert result == "sent"
    assert batch == [item]
    assert metrics_circuit_breaker.failure_threshold == 3


async def test_seed_001_error_recovery_decorator_and_manual_handling() -> None:
    flaky = FlakyCallable([ConnectionError("reset")], then="connected")
    my_function = flaky.async_call

    # --- seed 001: Autonomous Error Recovery
    @with_error_recovery(component="websocket", operation="connect", severity=ErrorSeverity.HIGH)
    async def connect_websocket(url: str) -> str:
        return "open"

    # Manual error handling
    try:
        result = await my_function()
    except Exception as e:
        result = await error_recovery.handle_error(
            error=e,
            component="my_component",
            operation="my_operation",
            severity=ErrorSeverity.MEDIUM,
            original_function=my_function,
        )
    # --- end
    assert result == "connected"
    assert await connect_websocket("ws://x") == "open"


async def test_seed_002_cache_optimizer() -> None:
    ChuckNorrisConfig = CacheOptimizerConfig
    ChuckNorrisCacheOptimizer = CacheOptimizer

    # --- seed 002: Cache Integration
    config = ChuckNorrisConfig(
        pattern_window_size=50,
        ttl_adaptation_enabled=True,
        preloading_enabled=True,
        warming_enabled=True,
        hot_key_threshold=100,
        spatial_locality_threshold=0.7,
    )
    # Initialize cache optimizer
    cache_optimizer = ChuckNorrisCacheOptimizer(config)
    await cache_optimizer.start()

    # Record access for pattern learning
    await cache_optimizer.record_access(key="user_123", hit=True, size_bytes=1024)

    # Get optimal TTL
    optimal_ttl = await cache_optimizer.optimize_ttl(key="user_123", current_ttl=300)

    # Get related keys for preloading
    related_keys = await cache_optimizer.get_related_keys(key="user_123")

    # Get optimization report
    report = await cache_optimizer.get_optimization_report()
    # --- end
    assert 150 <= optimal_ttl <= 1200
    assert related_keys == []
    assert report["reads"] == 1
    assert report["bytes_tracked"] == 1024


async def test_seed_002_pool_add_connection_and_awaited_release_and_metrics() -> None:
    opened: list[str] = []

    async def connect() -> str:
        opened.append(f"conn-{len(opened)}")
        return opened[-1]

    def ChuckNorrisPoolOptimizer(name: str, settings: dict[str, Any]) -> ConnectionPool:
        return ConnectionPool(name, connect=connect, **settings)

    pool_config = {"scale_up_threshold": 0.8, "scale_down_threshold": 0.3, "min_size": 0}
    tws_connection = "tws-session"

    # --- seed 002: Pool Integration
    # Initialize pool optimizer
    pool_optimizer = ChuckNorrisPoolOptimizer("tws_pool", pool_config)
    await pool_optimizer.start()

    # Add connection
    connection_id = await pool_optimizer.add_connection(tws_connection)

    # Get best connection
    connection, conn_id = await pool_optimizer.get_connection(prefer_fast=True)

    # Release connection with metrics
    await pool_optimizer.release_connection(conn_id, success=True, response_time=0.15)

    # Get pool metrics
    metrics = await pool_optimizer.get_pool_metrics()
    # --- end
    assert (connection, conn_id) == ("tws-session", connection_id)
    assert metrics["size"] == 1
    assert opened == []  # the adopted connection served; none was opened
    assert pool_optimizer.get_pool_metrics()["size"] == 1  # the plain call still works
    await pool_optimizer.close()


async def test_seed_002_circuit_breaker_awaited_forms() -> None:
    def ChuckNorrisCircuitBreaker(name: str, settings: dict[str, Any]) -> CircuitBreaker:
        return CircuitBreaker(name, **settings)

    circuit_config = {"failure_threshold": 5}
    arg1, arg2 = 2, 3

    async def api_function(a: int, b: int) -> int:
        return a + b

    # --- seed 002: Circuit Breaker Integration
    # Initialize circuit breaker
    circuit_breaker = ChuckNorrisCircuitBreaker("tws_api", circuit_config)
    # (``await circuit_breaker.start()``: a breaker has no background work to start)

    # Execute operation through circuit breaker
    result = await circuit_breaker.call(api_function, arg1, arg2)

    # Force states
    await circuit_breaker.force_open("Manual maintenance")
    await circuit_breaker.force_close("Issue resolved")
    await circuit_breaker.isolate("Security incident")

    # Get health status
    health = await circuit_breaker.get_health_status()
    # --- end
    assert result == 5
    assert health["state"] == "ISOLATED"
    assert circuit_breaker.state is CircuitState.ISOLATED
    circuit_breaker.force_close()  # the plain calls keep working
    assert circuit_breaker.get_health_status()["healthy"] is True


async def test_seed_002_batch_processor_with_the_seed_config_keys() -> None:
    ChuckNorrisBatchConfig = BatchConfig
    ChuckNorrisBatchProcessor = BatchProcessor
    done: list[object] = []
    data_item, item1, item2, item3 = {"n": 0}, {"n": 1}, {"n": 2}, {"n": 3}

    def process_function(items: list[dict[str, int]]) -> None:
        done.extend(items)

    def handle_batch_complete(result: object) -> None: ...

    def handle_batch_error(error: object, items: object) -> None: ...

    # --- seed 002: batch configurations
    batch_config = ChuckNorrisBatchConfig(
        strategy=BatchStrategy.ADAPTIVE,
        priority_enabled=True,
        adaptive_window=100,
        performance_target=100.0,
        backpressure_enabled=True,
        retry_enabled=True,
        max_concurrent_batches=5,
    )
    high_throughput = ChuckNorrisBatchConfig(
        strategy=BatchStrategy.ADAPTIVE,
        max_batch_size=200,  # Larger batches for high throughput
        max_concurrent_batches=10,
        performance_target=200.0,  # Higher performance target
        worker_pool_size=20,
    )
    constrained = ChuckNorrisBatchConfig(
        strategy=BatchStrategy.SIZE_BASED,  # Simpler strategy
        max_batch_size=50,  # Smaller batches
        max_concurrent_batches=2,  # Fewer concurrent batches
        worker_pool_size=5,  # Smaller worker pool
    )
    # --- seed 002: Batch Processor Integration
    # Initialize batch processor
    batch_processor = ChuckNorrisBatchProcessor("data_processor", process_function, batch_config)
    await batch_processor.start()

    # Submit items
    item_id = await batch_processor.submit(data_item, priority=BatchPriority.HIGH)

    # Submit batch
    await batch_processor.submit_batch([item1, item2, item3])

    # Add callbacks
    batch_processor.add_batch_complete_callback(lambda result: handle_batch_complete(result))
    batch_processor.add_error_callback(lambda error, items: handle_batch_error(error, items))

    # Get metrics
    metrics = await batch_processor.get_metrics()
    status = await batch_processor.get_queue_status()
    # --- end
    assert await batch_processor.stop() == 0
    assert sorted(d["n"] for d in done) == [0, 1, 2, 3]  # type: ignore[index]
    assert item_id is not None
    assert metrics["submitted"] == 4
    assert isinstance(status, dict)
    assert (high_throughput.worker_pool_size, constrained.worker_pool_size) == (20, 5)


async def test_seed_002_metrics_collector_with_the_seed_config_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # persistence writes rebellion-metrics.json here
    ChuckNorrisMetricsConfig = MetricsConfig
    ChuckNorrisMetricsCollector = MetricsCollector
    sent: list[object] = []
    send_to_slack = sent.append

    # --- seed 002: metrics configuration
    metrics_config = ChuckNorrisMetricsConfig(
        collection_interval=1.0,
        enable_anomaly_detection=True,
        enable_aggregation=True,
        alerting_enabled=True,
        enable_prometheus=True,
        enable_json_export=True,
        persistence_enabled=True,
    )
    # --- seed 002: Metrics Integration
    # Initialize metrics collector
    metrics_collector = ChuckNorrisMetricsCollector("resync_metrics", metrics_config)
    await metrics_collector.start()

    # Record metrics
    await metrics_collector.increment("requests_total", 1, {"endpoint": "/api/data"})
    await metrics_collector.gauge("active_connections", 150)
    await metrics_collector.timer("request_duration", 0.250)
    await metrics_collector.histogram("response_size", 1024)

    # Create alerts
    await metrics_collector.create_alert(
        "high_error_rate", AlertSeverity.WARNING, "Error rate exceeded threshold"
    )

    # Add callbacks
    metrics_collector.add_alert_callback(lambda alert: send_to_slack(alert))

    # Get metrics summary
    summary = await metrics_collector.get_metrics_summary()
    active_alerts = await metrics_collector.get_active_alerts(AlertSeverity.ERROR)
    # --- end
    await metrics_collector.stop()
    assert active_alerts == []
    assert "active_connections" in summary["anomalies"]
    saved = await asyncio.to_thread((tmp_path / "rebellion-metrics.json").read_text)
    assert json.loads(saved)["collector"] == "resync_metrics"
