"""What the hand-off tests share: the shipped files, Prometheus, and a monitor with policies."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from _redis import free_port

__all__ = [
    "DASHBOARD",
    "RULES",
    "RULES_TEST",
    "Prometheus",
    "dashboard_exprs",
    "metric_names",
    "needs",
    "policies_in_use",
    "poll",
    "prometheus",
    "rebellion_serve",
]

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
RULES = DEPLOY / "prometheus" / "rebellion-alerts.yml"
RULES_TEST = DEPLOY / "prometheus" / "rebellion-alerts.test.yml"
DASHBOARD = DEPLOY / "grafana" / "rebellion-dashboard.json"


def needs(program: str) -> str:
    """Return the path of ``program``; skip without it locally, fail under ``CI=true``."""
    found = shutil.which(program)
    if found is None:
        message = f"{program} is not installed (scripts/ensure_system.py installs it)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


def poll(check: Callable[[], Any], what: str, timeout: float = 90.0) -> Any:
    """Return ``check()``'s first truthy value; fail after ``timeout`` s (a busy machine)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (httpx.HTTPError, ValueError, KeyError) as error:
            last = error
        else:
            if last:
                return last
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last seen: {last!r}")


# -- PromQL in the dashboard ------------------------------------------------------------

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\]]*\]")
_LABEL_LISTS = re.compile(
    r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_IDENTIFIER = re.compile(r"(?<![\w:.$])([a-zA-Z_:][a-zA-Z0-9_:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "offset", "bool", "by", "without", "on", "ignoring", "inf", "nan"}
)
_PROMETHEUS_OWN = frozenset({"up", "scrape_duration_seconds", "ALERTS", "ALERTS_FOR_STATE"})


def metric_names(expr: str) -> set[str]:
    """Return the metric names a PromQL ``expr`` selects (Prometheus's own ones excluded).

    Strings, label matchers, ranges and grouping label lists are dropped first, so what
    is left as an identifier not followed by ``(`` is a metric name.
    """
    text = _STRINGS.sub('""', expr)
    while True:
        stripped = _MATCHERS.sub("", text)
        if stripped == text:
            break
        text = stripped
    text = _LABEL_LISTS.sub(" ", _RANGES.sub("", text))
    names = {m.group(1) for m in _IDENTIFIER.finditer(text)}
    return {n for n in names if n.lower() not in _KEYWORDS and n not in _PROMETHEUS_OWN}


def dashboard_exprs() -> list[str]:
    """Return every PromQL expression of the dashboard: panel targets and variable queries."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs: list[str] = []

    def walk(panels: list[dict[str, Any]]) -> None:
        for panel in panels:
            exprs.extend(t["expr"] for t in panel.get("targets", ()) if t.get("expr"))
            walk(panel.get("panels", []))

    walk(dashboard["panels"])
    for variable in dashboard["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            inner = re.fullmatch(r"label_values\((.*),\s*\w+\)", text)
            exprs.append(inner.group(1) if inner else text)
    return exprs


# -- running things -----------------------------------------------------------------------


@contextmanager
def policies_in_use() -> Iterator[dict[str, Any]]:
    """Register one primitive of each kind the dashboard and rules show, with traffic."""
    from rebellion import (
        Bulkhead,
        CircuitBreaker,
        ErrorRecovery,
        Fallback,
        Pipeline,
        RateLimiter,
        Retry,
        Timeout,
        get_backpressure_handler,
    )
    from rebellion.policies.budget import RetryBudget
    from rebellion.testing import FlakyCallable

    budget = RetryBudget(0.2, 1.0, name="handoff.budget")
    made: dict[str, Any] = {
        "breaker": CircuitBreaker("handoff.breaker", failure_threshold=3, reset_timeout=600),
        "isolated": CircuitBreaker("handoff.isolated", failure_threshold=3),
        "retry": Retry(3, initial_delay=0, name="handoff.retry", budget=budget),
        "budget": budget,
        "timeout": Timeout(30, name="handoff.timeout"),
        "fallback": Fallback(lambda: "cached", name="handoff.fallback"),
        "bulkhead": Bulkhead(max_concurrent=2, max_queue=1, name="handoff.bulkhead"),
        "limiter": RateLimiter(rate=5, burst=2, name="handoff.limiter"),
        "recovery": ErrorRecovery(name="handoff.recovery"),
        "buffer": get_backpressure_handler(
            name="handoff.buffer", max_buffer_size=2, sampling_strategy="latest"
        ),
    }
    pipeline = Pipeline(
        made["fallback"], made["retry"], made["breaker"], made["timeout"], name="handoff"
    )
    flaky = FlakyCallable([ConnectionError()] * 4, then="ok")
    for _ in range(8):
        pipeline.call(flaky)
    for i in range(5):
        made["buffer"].add_item(i)
        made["limiter"].try_acquire()
    with made["bulkhead"]:
        pass
    made["isolated"].isolate("hand-off test")
    made["pipeline"] = pipeline
    yield made


@contextmanager
def rebellion_serve(tmp_path: Path, *extra: str) -> Iterator[str]:
    """Run ``rebellion serve`` as a subprocess on a free loopback port; yield its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "rebellion.cli", "serve", "--port", str(port)),
            *("--db", str(tmp_path / "monitor.db"), "--interval", "0.5", *extra),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        poll(
            lambda: proc.poll() is not None or httpx.get(base + "/readyz").status_code == 200,
            "rebellion serve to be ready",
        )
        assert proc.poll() is None, proc.communicate()[0]
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


class Prometheus:
    """A running Prometheus: its URL and API helpers."""

    def __init__(self, url: str, proc: subprocess.Popen[str]) -> None:
        self.url = url
        self.proc = proc

    def api(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=30)
        body = response.json()
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result


@contextmanager
def prometheus(
    tmp_path: Path, targets: dict[str, str], rule_files: list[Path]
) -> Iterator[Prometheus]:
    """Run Prometheus on a free loopback port scraping ``targets`` (job -> base URL)."""
    binary = needs("prometheus")
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s", "scrape_timeout": "1s"},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [url.split("//", 1)[1]]}]}
            for job, url in targets.items()
        ],
    }
    config_file = tmp_path / "prometheus.yml"
    config_file.write_text(json.dumps(config, indent=2))  # JSON is YAML
    port = free_port()
    proc = subprocess.Popen(
        [
            binary,
            f"--config.file={config_file}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    running = Prometheus(f"http://127.0.0.1:{port}", proc)
    try:
        poll(
            lambda: (
                proc.poll() is not None
                or httpx.get(running.url + "/-/ready", timeout=5).status_code == 200
            ),
            "Prometheus to be ready",
        )
        assert proc.poll() is None, proc.communicate()[0]
        yield running
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
