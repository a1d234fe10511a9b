"""Core plumbing: clock, events, registry, configuration, errors."""

from __future__ import annotations

import asyncio
import logging
import pickle
import threading
import weakref

import pytest

from rebellion import (
    SYSTEM_CLOCK,
    BulkheadFullError,
    CircuitOpenError,
    Clock,
    ConfigError,
    Event,
    EventStream,
    QueueFullError,
    RateLimitedError,
    RebellionError,
    Registry,
    RejectedError,
    RetryExhaustedError,
    TimeoutExceededError,
    subscribe_all,
)
from rebellion.config import describe_settings, setting, validate_environment
from rebellion.testing import FlakyCallable, ManualClock, RecordingListener

# -- clock ---------------------------------------------------------------------------


def test_system_clock_is_a_clock_and_never_sleeps_for_nothing() -> None:
    assert isinstance(SYSTEM_CLOCK, Clock)
    assert isinstance(ManualClock(), Clock)
    SYSTEM_CLOCK.sleep(0)
    SYSTEM_CLOCK.sleep(-1)
    assert SYSTEM_CLOCK.wall() > 1_600_000_000


def test_manual_clock_fires_timers_in_due_order_at_their_due_time() -> None:
    clock = ManualClock(start=10)
    seen: list[tuple[str, float]] = []
    clock.call_later(3, lambda: seen.append(("b", clock.monotonic())))
    clock.call_later(1, lambda: seen.append(("a", clock.monotonic())))
    cancelled = clock.call_later(2, lambda: seen.append(("x", clock.monotonic())))
    cancelled.cancel()
    clock.advance(2.5)
    assert seen == [("a", 11.0)]
    clock.advance(10)
    assert seen == [("a", 11.0), ("b", 13.0)]
    assert clock.monotonic() == 22.5
    with pytest.raises(ConfigError, match="seconds"):
        clock.advance(-1)


def test_manual_clock_wakes_a_sleeping_thread_only_when_due() -> None:
    clock = ManualClock(auto_advance=False)
    woke = threading.Event()

    def sleeper() -> None:
        clock.sleep(5)
        woke.set()

    thread = threading.Thread(target=sleeper)
    thread.start()
    clock.advance(4.9)
    assert not woke.wait(0.02)
    clock.advance(0.1)
    assert woke.wait(2)
    thread.join()
    assert clock.sleeps == [5]


async def test_manual_clock_wakes_due_async_sleepers_in_order() -> None:
    clock = ManualClock(auto_advance=False)
    order: list[int] = []

    async def sleeper(n: int, seconds: float) -> None:
        await clock.sleep_async(seconds)
        order.append(n)

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in ((1, 3), (2, 1), (3, 2))]
    await asyncio.sleep(0)
    await clock.advance_async(1.5)
    assert order == [2]
    await clock.advance_async(2)
    assert order == [2, 3, 1]
    await asyncio.gather(*tasks)


async def test_auto_advance_async_sleep_moves_time() -> None:
    clock = ManualClock()
    await clock.sleep_async(2)
    await clock.sleep_async(0)
    assert clock.monotonic() == 2
    assert clock.sleeps == [2]


# -- events --------------------------------------------------------------------------


def test_listener_failure_is_logged_once_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    recorder = RecordingListener()

    def broken(event: Event) -> None:
        raise RuntimeError("bug")

    stream = EventStream("s", [broken, recorder])
    with caplog.at_level(logging.ERROR, logger="rebellion.events"):
        for _ in range(3):
            stream.emit(Event("s", 0.0))
    assert len(recorder.events) == 3
    assert len([r for r in caplog.records if "raised" in r.message]) == 1


async def test_async_listeners_are_scheduled_on_the_running_loop() -> None:
    received: list[Event] = []

    async def listener(event: Event) -> None:
        await asyncio.sleep(0)
        received.append(event)

    stream = EventStream("s", [listener])
    stream.emit(Event("s", 1.0))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert [e.at for e in received] == [1.0]


def test_global_subscription_sees_every_stream() -> None:
    recorder = RecordingListener()
    unsubscribe = subscribe_all(recorder)
    try:
        a, b = EventStream("a"), EventStream("b")
        assert a
        assert b
        a.emit(Event("a", 0.0))
        b.emit(Event("b", 0.0))
    finally:
        unsubscribe()
    assert [e.source for e in recorder.events] == ["a", "b"]
    assert not EventStream("c")


def test_subscribe_and_unsubscribe() -> None:
    stream = EventStream("s")
    recorder = RecordingListener()
    unsubscribe = stream.subscribe(recorder)
    stream.emit(Event("s", 0.0))
    unsubscribe()
    stream.emit(Event("s", 0.0))
    assert len(recorder.events) == 1
    with pytest.raises(ConfigError, match="listener"):
        stream.subscribe("not callable")  # type: ignore[arg-type]


def test_events_are_frozen() -> None:
    event = Event("s", 0.0)
    with pytest.raises(AttributeError):
        event.source = "t"  # type: ignore[misc]


# -- registry ------------------------------------------------------------------------


class Thing:
    kind = "thing"

    def __init__(self, name: str) -> None:
        self.name = name

    def stats(self) -> dict[str, str]:
        return {"name": self.name}


def test_registry_returns_one_instance_per_name_and_refuses_conflicts() -> None:
    reg = Registry()
    first = reg.get_or_create("thing", "a", lambda: Thing("a"), {"size": 1})
    assert reg.get_or_create("thing", "a", lambda: Thing("a"), {}) is first
    with pytest.raises(ConfigError, match="size must be 1"):
        reg.get_or_create("thing", "a", lambda: Thing("a"), {"size": 2})
    with pytest.raises(ConfigError, match="colour must be left out"):
        reg.get_or_create("thing", "a", lambda: Thing("a"), {"colour": "red"})
    assert reg.get("thing", "a") is first
    reg.unregister("thing", "a")
    assert reg.get("thing", "a") is None


def test_registry_census_is_weak_and_listing_includes_tracked_primitives() -> None:
    reg = Registry()
    kept = Thing("kept")
    dropped = Thing("dropped")
    reg.track(kept)
    reg.track(dropped)
    ref = weakref.ref(dropped)
    del dropped
    assert ref() is None
    assert [e["name"] for e in reg.snapshot()] == ["kept"]
    reg.register(Thing("named"))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="unique"):
        reg.register(Thing("named"))  # type: ignore[arg-type]


def test_registry_creates_once_under_concurrency() -> None:
    reg = Registry()
    created: list[Thing] = []

    def factory() -> Thing:
        thing = Thing("x")
        created.append(thing)
        return thing

    results: list[object] = []
    threads = [
        threading.Thread(target=lambda: results.append(reg.get_or_create("t", "x", factory, {})))
        for _ in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(created) == 1
    assert all(r is created[0] for r in results)


# -- configuration -------------------------------------------------------------------


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert setting("retry.jitter") == "full"
    monkeypatch.setenv("REBELLION_RETRY_JITTER", "Equal")
    assert setting("retry.jitter") == "equal"
    monkeypatch.setenv("REBELLION_RETRY_JITTER", "wobbly")
    with pytest.raises(ConfigError) as caught:
        setting("retry.jitter")
    assert "REBELLION_RETRY_JITTER" in str(caught.value)
    assert "none | full | equal | decorrelated" in str(caught.value)


def test_validate_environment_rejects_unknown_names_with_a_suggestion() -> None:
    env = {"REBELLION_RETRY_MAX_ATEMPTS": "3", "PATH": "/bin"}
    with pytest.raises(ConfigError, match="did you mean REBELLION_RETRY_MAX_ATTEMPTS"):
        validate_environment(env)
    parsed = validate_environment({"REBELLION_RETRY_MAX_ATTEMPTS": "4"})
    assert parsed == {"retry.max_attempts": 4}
    with pytest.raises(ConfigError, match="REBELLION_TIMEOUT_SECONDS"):
        validate_environment({"REBELLION_TIMEOUT_SECONDS": "-1"})
    assert all(s.env.startswith("REBELLION_") for s in describe_settings())


# -- errors --------------------------------------------------------------------------


def test_error_tree() -> None:
    assert issubclass(ConfigError, ValueError)
    assert issubclass(ConfigError, RebellionError)
    for rejected in (CircuitOpenError, BulkheadFullError, RateLimitedError, QueueFullError):
        assert issubclass(rejected, RejectedError)
    assert issubclass(TimeoutExceededError, TimeoutError)
    assert issubclass(RetryExhaustedError, RebellionError)


@pytest.mark.parametrize(
    "error",
    [
        ConfigError("threshold", "an integer >= 1", 0),
        CircuitOpenError("b", 1.5, "OPEN"),
        TimeoutExceededError("t", 2.0),
        RetryExhaustedError("r", 3, "attempts"),
        BulkheadFullError("bh", "full", retry_after=0.5),
    ],
)
def test_errors_survive_pickling(error: RebellionError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)


def test_flaky_callable_follows_its_script() -> None:
    flaky = FlakyCallable([ValueError, "ok"], then="later")
    with pytest.raises(ValueError):
        flaky(1)
    assert (flaky(), flaky(), flaky.calls) == ("ok", "later", 3)
    assert asyncio.run(flaky.async_call()) == "later"
    assert flaky.args[0] == ((1,), {})
