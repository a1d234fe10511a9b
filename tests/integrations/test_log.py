"""LoggingListener: transitions and give-ups once, refusals aggregated, nothing on success."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest
import structlog
from structlog.testing import capture_logs

from rebellion import (
    Bulkhead,
    BulkheadFullError,
    CircuitBreaker,
    CircuitOpenError,
    ConfigError,
    Retry,
    RetryExhaustedError,
    subscribe_all,
)
from rebellion.integrations import LoggingListener
from rebellion.testing import FlakyCallable, ManualClock


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def captured() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("test.rebellion.log")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield handler
    logger.removeHandler(handler)


def listen(**settings: object) -> tuple[LoggingListener, ManualClock]:
    clock = ManualClock()
    listener = LoggingListener("test.rebellion.log", clock=clock, **settings)  # type: ignore[arg-type]
    return listener, clock


def test_breaker_transitions_are_logged_once_with_fields(captured: Records) -> None:
    listener, clock = listen()
    breaker = CircuitBreaker("payments", failure_threshold=2, reset_timeout=5, clock=clock)
    unsubscribe = breaker.events.subscribe(listener)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            breaker.call(FlakyCallable([ConnectionError()]))
    for _ in range(50):
        with pytest.raises(CircuitOpenError):
            breaker.call(lambda: "ok")
    unsubscribe()
    opened = [r for r in captured.records if r.event_name == "CircuitStateChanged"]  # type: ignore[attr-defined]
    assert len(opened) == 1
    record = opened[0]
    assert record.levelno == logging.WARNING
    assert record.policy_name == "payments"  # type: ignore[attr-defined]
    assert record.event_fields["new_state"] == "OPEN"  # type: ignore[attr-defined]


def test_the_success_path_logs_nothing(captured: Records) -> None:
    listener, _ = listen()
    unsubscribe = subscribe_all(listener)
    breaker = CircuitBreaker("quiet")
    retry = Retry(3, initial_delay=0)
    for _ in range(100):
        breaker.call(lambda: 1)
        retry.call(lambda: 1)
    unsubscribe()
    assert captured.records == []


def test_recovery_is_logged_at_info(captured: Records) -> None:
    listener, clock = listen()
    breaker = CircuitBreaker("svc", failure_threshold=1, reset_timeout=1, clock=clock)
    breaker.events.subscribe(listener)
    with pytest.raises(ConnectionError):
        breaker.call(FlakyCallable([ConnectionError()]))
    clock.advance(2)
    breaker.call(lambda: "ok")
    levels = [(r.event_fields["new_state"], r.levelname) for r in captured.records]  # type: ignore[attr-defined]
    assert levels[0] == ("OPEN", "WARNING")
    assert ("CLOSED", "INFO") in levels


def test_a_retry_give_up_is_a_warning(captured: Records) -> None:
    listener, clock = listen()
    retry = Retry(2, initial_delay=0, name="orders", clock=clock, listeners=[listener])
    with pytest.raises(RetryExhaustedError):
        retry.call(FlakyCallable([ConnectionError(), ConnectionError()]))
    (record,) = captured.records
    assert record.event_name == "RetryGaveUp"  # type: ignore[attr-defined]
    assert record.levelname == "WARNING"
    assert "orders" in record.getMessage()


def test_rejections_are_aggregated_per_interval(captured: Records) -> None:
    listener, clock = listen(interval=10.0)
    breaker = CircuitBreaker("down", failure_threshold=1, reset_timeout=60, clock=clock)
    breaker.events.subscribe(listener)
    with pytest.raises(ConnectionError):
        breaker.call(FlakyCallable([ConnectionError()]))
    for _ in range(100):
        with pytest.raises(CircuitOpenError):
            breaker.call(lambda: "never")
    rejected = [r for r in captured.records if r.event_name == "CallRejected"]  # type: ignore[attr-defined]
    assert len(rejected) == 1
    clock.advance(11)
    with pytest.raises(CircuitOpenError):
        breaker.call(lambda: "never")
    rejected = [r for r in captured.records if r.event_name == "CallRejected"]  # type: ignore[attr-defined]
    assert [r.event_fields["suppressed"] for r in rejected] == [0, 99]  # type: ignore[attr-defined]


def test_flush_reports_what_was_folded(captured: Records) -> None:
    listener, _ = listen(interval=60)
    bulkhead = Bulkhead("pool", max_concurrent=1, listeners=[listener])
    bulkhead.acquire()
    for _ in range(5):
        with pytest.raises(BulkheadFullError):
            bulkhead.acquire()
    listener.flush()
    listener.flush()
    counts = [r.event_fields["suppressed"] for r in captured.records]  # type: ignore[attr-defined]
    assert counts == [0, 4]


def test_many_threads_refused_at_once_are_counted_exactly(captured: Records) -> None:
    listener, _ = listen(interval=60)
    bulkhead = Bulkhead("pool", max_concurrent=1, listeners=[listener])
    bulkhead.acquire()

    def hammer() -> None:
        for _ in range(50):
            with pytest.raises(BulkheadFullError):
                bulkhead.acquire()

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    listener.flush()
    assert sum(1 + r.event_fields["suppressed"] for r in captured.records[:1]) == 1  # type: ignore[attr-defined]
    assert captured.records[1].event_fields["suppressed"] == 399  # type: ignore[attr-defined]


def test_structlog_loggers_get_keyword_fields() -> None:
    listener = LoggingListener(structlog.get_logger("rebellion"), clock=ManualClock())
    retry = Retry(1, name="sync-job", listeners=[listener])
    with capture_logs() as logs, pytest.raises(RetryExhaustedError):
        retry.call(FlakyCallable([ConnectionError()]))
    (entry,) = logs
    assert entry["log_level"] == "warning"
    assert entry["event_name"] == "RetryGaveUp"
    assert entry["policy_name"] == "sync-job"
    assert entry["reason"] == "attempts"


@pytest.mark.parametrize(
    ("parameter", "value"),
    [("logger", 42), ("backend", "syslog"), ("interval", -1), ("clock", "now")],
)
def test_bad_input_names_the_parameter(parameter: str, value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        LoggingListener(**{parameter: value})  # type: ignore[arg-type]
    assert caught.value.parameter == parameter
