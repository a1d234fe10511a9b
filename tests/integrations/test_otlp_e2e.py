"""OTLP over HTTP end to end: the SDK's exporters POST protobuf to a real local receiver."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from _redis import free_port
from integrations._otlp_receiver import receiving
from rebellion import CircuitBreaker, ConfigError, Pipeline, Retry
from rebellion.errors import CircuitOpenError
from rebellion.integrations import start_otlp
from rebellion.testing import FlakyCallable

HOST_METRICS = (
    "system.cpu.utilization",
    "system.cpu.logical.count",
    "system.cpu.load_average.1m",
    "system.memory.usage",
    "system.memory.limit",
    "system.memory.utilization",
    "system.paging.usage",
    "system.filesystem.usage",
    "system.filesystem.utilization",
    "system.disk.io",
    "system.network.io",
)


@pytest.mark.e2e
def test_pipeline_spans_and_policy_metrics_reach_the_receiver() -> None:
    with receiving() as receiver:
        export = start_otlp(receiver.url, service_name="checkout-svc", export_interval=3600)
        try:
            breaker = CircuitBreaker("otlp-e2e-payments", failure_threshold=2, reset_timeout=600)
            pipeline = export.instrument(
                Pipeline(Retry(3, initial_delay=0, name="otlp-e2e-retry"), breaker, name="pay")
            )
            assert pipeline.call(FlakyCallable([ConnectionError("reset"), "paid"])) == "paid"
            with pytest.raises(CircuitOpenError):
                pipeline.call(FlakyCallable([], then=ConnectionError))
            assert export.force_flush(timeout=30)
        finally:
            export.shutdown()
        receiver.wait_for(lambda: len(receiver.spans()) >= 2 and bool(receiver.metrics()))
        assert not receiver.errors
        assert receiver.content_types == {"application/x-protobuf"}

        spans = receiver.spans()
        resource = spans[0][0]
        assert resource["service.name"] == "checkout-svc"
        assert resource["host.name"]
        names = [span.name for _, span in spans]
        assert names == ["pipeline pay", "pipeline pay"]
        ok, failed = (span for _, span in spans)
        assert [event.name for event in ok.events] == [
            "attempt",
            "CircuitFailureRecorded",
            "RetryScheduled",
            "attempt",
            "RetrySucceeded",
        ]
        failed_events = [event.name for event in failed.events]
        assert "CircuitStateChanged" in failed_events
        assert "CallRejected" in failed_events
        assert failed_events.count("attempt") == 2
        assert failed.status.code == 2  # STATUS_CODE_ERROR
        outcome = {kv.key: kv.value.string_value for kv in failed.attributes}
        assert outcome["rebellion.pipeline.outcome"] == "rejected"
        assert outcome["error.type"] == "CircuitOpenError"

        points = receiver.metric_points()
        assert {"rebellion.pipeline.duration", "rebellion.policy.attempt.duration"} <= set(points)
        events = {
            (attributes["event.name"], attributes["policy.name"])
            for attributes, _, _ in points["rebellion.policy.events"]
        }
        assert ("CircuitStateChanged", "otlp-e2e-payments") in events
        assert ("RetryScheduled", "otlp-e2e-retry") in events
        calls = {
            (attributes["policy.name"], attributes["outcome"]): point.as_int
            for attributes, point, _ in points["rebellion.policy.calls"]
        }
        assert calls[("otlp-e2e-payments", "failure")] == 3
        assert calls[("otlp-e2e-payments", "rejected")] == 1
        states = {
            attributes["state"]: getattr(point, point.WhichOneof("value"))
            for attributes, point, _ in points["rebellion.policy.state"]
            if attributes["policy.name"] == "otlp-e2e-payments"
        }
        assert states["OPEN"] == 1


@pytest.mark.e2e
def test_host_metrics_follow_the_system_conventions_over_otlp() -> None:
    with receiving() as receiver:
        with start_otlp(receiver.url, host=True, export_interval=3600) as export:
            assert export.force_flush(timeout=30)
        receiver.wait_for(lambda: set(HOST_METRICS) <= set(receiver.metric_points()))
        points = receiver.metric_points()
        units = {name: points[name][0][2] for name in HOST_METRICS}
        assert units["system.cpu.utilization"] == "1"
        assert units["system.memory.usage"] == "By"
        assert units["system.disk.io"] == "By" or points["system.disk.io"] == []
        for attributes, point, _ in points["system.cpu.utilization"]:
            assert isinstance(attributes["cpu.logical_number"], int)
            assert 0.0 <= point.as_double <= 1.0
        # Two exports arrived (the flush and the shutdown's): compare within the last.
        attributes, usage, _ = points["system.memory.usage"][-1]
        assert attributes == {"system.memory.state": "used"}
        _, limit, _ = points["system.memory.limit"][-1]
        assert 0 < usage.as_int <= limit.as_int
        directions = {a["network.io.direction"] for a, _, _ in points["system.network.io"]}
        assert directions <= {"receive", "transmit"}


def run_serve(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rebellion.cli", "serve", *args],
        cwd=cwd,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def stop(proc: subprocess.Popen[str]) -> str:
    proc.send_signal(signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise AssertionError("serve did not stop on SIGINT:\n" + out) from None
    return out


@pytest.mark.e2e
@pytest.mark.parametrize("how", ["flag", "environment"])
def test_serve_sends_the_monitors_host_metrics_over_otlp(tmp_path: Path, how: str) -> None:
    with receiving() as receiver:
        env = {"OTEL_METRIC_EXPORT_INTERVAL": "500", "OTEL_SERVICE_NAME": ""}
        args = ["--port", str(free_port()), "--db", str(tmp_path / "m.db"), "--interval", "0.2"]
        if how == "flag":
            args += ["--otlp", receiver.url]
        else:
            env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.url
        proc = run_serve(args, tmp_path, env)
        try:
            wanted = {"system.cpu.utilization", "system.memory.usage", "rebellion.policy.stat"}
            receiver.wait_for(
                lambda: wanted <= set(receiver.metric_points()) or proc.poll() is not None,
                timeout=90,
            )
        finally:
            out = stop(proc)
        points = receiver.metric_points()
        assert wanted <= set(points), out
        assert not receiver.errors
        resource = receiver.metrics()[0].resource_metrics[0].resource
        service = {kv.key: kv.value.string_value for kv in resource.attributes}["service.name"]
        assert service == "rebellion-monitor"


def test_start_otlp_refuses_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="endpoint must be given or set"):
        start_otlp()
    for endpoint in ("grpc://collector:4317", "http://", "collector:4318", "http://h:99999", 4318):
        with pytest.raises(ConfigError, match="endpoint must be an http"):
            start_otlp(endpoint)  # type: ignore[arg-type]
    url = "http://127.0.0.1:4318"
    with pytest.raises(ConfigError, match="export_interval"):
        start_otlp(url, export_interval=0)
    with pytest.raises(ConfigError, match="timeout"):
        start_otlp(url, timeout=-1)
    with pytest.raises(ConfigError, match="headers"):
        start_otlp(url, headers={"x": 1})  # type: ignore[dict-item]
    with pytest.raises(ConfigError, match="service_name"):
        start_otlp(url, service_name=" ")
    with pytest.raises(ConfigError, match="host"):
        start_otlp(url, host="yes")  # type: ignore[arg-type]


def test_serve_refuses_a_bad_otlp_url(capsys: pytest.CaptureFixture[str]) -> None:
    from rebellion.cli import main

    assert main(["serve", "--otlp", "collector:4318"]) == 2
    assert "otlp must be an http" in capsys.readouterr().err


def test_serve_refuses_a_bad_standard_endpoint_variable(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from rebellion.cli import main

    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")
    assert main(["serve"]) == 2
    assert "OTEL_EXPORTER_OTLP_ENDPOINT must be an http" in capsys.readouterr().err
