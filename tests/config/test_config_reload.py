"""Live reload: edits reach live named instances, keep their state, and bad edits are refused."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

import rebellion
from rebellion import CircuitState, Event
from rebellion.config import (
    ConfigRejected,
    ConfigReloaded,
    get_timeout,
    load_config,
)
from rebellion.testing import ManualClock, RecordingListener

BASE = """
[circuit_breaker.instances.payments]
failure_threshold = 2
reset_timeout = 30.0

[bulkhead.instances.db]
max_concurrent = 4

[rate_limiter.instances.api]
rate = 10.0

[timeout.instances.slow]
seconds = 5.0

[retry.instances.checkout]
max_attempts = 3
"""


def fail(breaker: rebellion.CircuitBreaker, times: int) -> None:
    for _ in range(times):
        with pytest.raises(ZeroDivisionError):
            breaker.call(lambda: 1 / 0)


@pytest.fixture
def path(tmp_path: Path) -> Path:
    target = tmp_path / "rebellion.toml"
    target.write_text(BASE, encoding="utf-8")
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_an_open_breaker_stays_open_with_its_counts_after_a_reload(path: Path) -> None:
    clock = ManualClock()
    loaded = load_config(path)
    breaker = rebellion.get_circuit_breaker("payments", clock=clock)
    fail(breaker, 2)
    before = breaker.stats()
    assert breaker.state is CircuitState.OPEN
    edit(path, "failure_threshold = 2", "failure_threshold = 6")
    edit(path, "reset_timeout = 30.0", "reset_timeout = 90.0")
    assert loaded.reload() is True
    assert breaker.state is CircuitState.OPEN
    assert (breaker.failure_threshold, breaker.reset_timeout) == (6, 90.0)
    after = breaker.stats()
    for key in ("failed_calls", "failures", "state", "opened_count", "total_calls"):
        if key in before:
            assert after[key] == before[key], key
    # The new threshold governs from now on; the instance is the same one.
    assert rebellion.get_circuit_breaker("payments") is breaker


def test_bulkhead_rate_limiter_and_timeout_take_new_limits_live(path: Path) -> None:
    loaded = load_config(path)
    bulkhead = rebellion.get_bulkhead("db")
    limiter = rebellion.get_rate_limiter("api")
    timeout = get_timeout("slow")
    edit(path, "max_concurrent = 4", "max_concurrent = 9")
    edit(path, "rate = 10.0", "rate = 25.0")
    edit(path, "seconds = 5.0", "seconds = 1.5")
    assert loaded.reload()
    assert bulkhead.max_concurrent == 9
    assert limiter.rate == 25.0
    assert timeout.seconds == 1.5


def test_settings_given_in_code_survive_a_reload(path: Path) -> None:
    loaded = load_config(path)
    breaker = rebellion.get_circuit_breaker("payments", failure_threshold=3)
    edit(path, "failure_threshold = 2", "failure_threshold = 8")
    edit(path, "reset_timeout = 30.0", "reset_timeout = 45.0")
    loaded.reload()
    assert (breaker.failure_threshold, breaker.reset_timeout) == (3, 45.0)


def test_the_reload_event_names_changed_instances_and_what_waits_for_a_new_one(
    path: Path,
) -> None:
    recorder = RecordingListener()
    loaded = load_config(path, listeners=[recorder])
    rebellion.get_retry_policy("checkout")
    rebellion.get_circuit_breaker("payments")
    edit(path, "max_attempts = 3", "max_attempts = 5")
    edit(path, "failure_threshold = 2", "failure_threshold = 4")
    assert loaded.reload()
    (event,) = [e for e in recorder.events if isinstance(e, ConfigReloaded)]
    assert set(event.changed) == {"retry.checkout", "circuit_breaker.payments"}
    assert event.not_applied == ("retry.checkout.max_attempts",)


def test_an_unchanged_file_is_not_reapplied(path: Path) -> None:
    loaded = load_config(path)
    assert loaded.reload() is False
    path.write_text(BASE, encoding="utf-8")  # same content, new mtime
    assert loaded.reload() is False
    assert loaded.reloads == 0


def test_an_invalid_edit_is_refused_logged_and_reported_and_the_old_settings_stay(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = RecordingListener()
    loaded = load_config(path, listeners=[recorder])
    breaker = rebellion.get_circuit_breaker("payments")
    edit(path, "failure_threshold = 2", "failure_threshold = -1")
    with caplog.at_level(logging.ERROR, logger="rebellion.config"):
        assert loaded.reload() is False
    assert breaker.failure_threshold == 2
    assert loaded.resolve("circuit_breaker", "payments")["failure_threshold"] == 2
    message = "circuit_breaker.instances.payments.failure_threshold must be an integer >= 1"
    assert message in caplog.text
    (event,) = recorder.events
    assert isinstance(event, ConfigRejected)
    assert message in event.reason
    # A later valid edit goes through.
    edit(path, "failure_threshold = -1", "failure_threshold = 4")
    assert loaded.reload() is True
    assert breaker.failure_threshold == 4


def test_a_deleted_file_is_refused_and_the_old_settings_stay(path: Path) -> None:
    recorder = RecordingListener()
    loaded = load_config(path, listeners=[recorder])
    path.unlink()
    assert loaded.check() is False
    assert isinstance(recorder.events[0], ConfigRejected)
    assert rebellion.get_circuit_breaker("payments").failure_threshold == 2


def test_the_watcher_applies_an_edit_when_its_clock_reaches_the_interval(path: Path) -> None:
    clock = ManualClock()
    applied = threading.Event()

    def on_event(event: Event) -> None:
        if isinstance(event, ConfigReloaded):
            applied.set()

    loaded = load_config(path, watch=True, interval=5.0, clock=clock, listeners=[on_event])
    try:
        breaker = rebellion.get_circuit_breaker("payments")
        edit(path, "failure_threshold = 2", "failure_threshold = 7")
        assert loaded.watching
        clock.advance(5.0)
        assert applied.wait(30.0), "the watcher did not apply the edit"
        assert breaker.failure_threshold == 7
    finally:
        loaded.stop()
    assert not loaded.watching


def test_many_threads_ask_for_instances_while_the_file_reloads(path: Path) -> None:
    loaded = load_config(path)
    seen: set[int] = set()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(200):
                seen.add(id(rebellion.get_circuit_breaker("payments")))
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for value in (3, 4, 5, 6):
        edit(path, f"failure_threshold = {value - 1}", f"failure_threshold = {value}")
        loaded.reload()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(seen) == 1
    assert rebellion.get_circuit_breaker("payments").failure_threshold == 6


def test_loading_another_file_stops_the_previous_watcher(path: Path, tmp_path: Path) -> None:
    first = load_config(path, watch=True, clock=ManualClock())
    other = tmp_path / "other.toml"
    other.write_text("[retry]\nmax_attempts = 2\n", encoding="utf-8")
    second = load_config(other)
    assert not first.watching
    assert not second.watching


@pytest.mark.e2e
def test_a_file_edited_under_a_running_process_is_applied_in_real_time(path: Path) -> None:
    applied = threading.Event()
    loaded = load_config(
        path,
        watch=True,
        interval=0.05,
        listeners=[lambda e: applied.set() if isinstance(e, ConfigReloaded) else None],
    )
    try:
        breaker = rebellion.get_circuit_breaker("payments")
        edit(path, "failure_threshold = 2", "failure_threshold = 11")
        assert applied.wait(30.0), "no reload within 30 s"
        assert breaker.failure_threshold == 11
    finally:
        loaded.stop()


def test_reload_config_rereads_the_current_file(path: Path) -> None:
    assert rebellion.reload_config() is False  # nothing loaded yet
    load_config(path)
    breaker = rebellion.get_circuit_breaker("payments")
    edit(path, "failure_threshold = 2", "failure_threshold = 3")
    assert rebellion.reload_config() is True
    assert breaker.failure_threshold == 3


def test_loading_a_file_updates_instances_that_already_exist(path: Path) -> None:
    early = rebellion.get_circuit_breaker("payments")
    kept = rebellion.get_circuit_breaker("other", failure_threshold=9)
    assert early.failure_threshold == 5  # the built-in default
    path.write_text(BASE + "\n[circuit_breaker]\nfailure_threshold = 4\n", encoding="utf-8")
    load_config(path)
    assert early.failure_threshold == 2  # its instance table
    assert kept.failure_threshold == 9  # given in code


def test_fault_injection_is_switched_and_tuned_live(tmp_path: Path) -> None:
    from rebellion.config import get_chaos

    path = tmp_path / "chaos.toml"
    path.write_text("[chaos.instances.db]\nlatency = 0.5\nlatency_rate = 0.1\n")
    loaded = load_config(path)
    chaos = get_chaos("db")
    assert chaos.enabled
    path.write_text("[chaos.instances.db]\nlatency = 0.5\nlatency_rate = 0.9\nenabled = false\n")
    assert loaded.reload()
    assert not chaos.enabled
    assert chaos.stats()["latency_rate"] == 0.9
