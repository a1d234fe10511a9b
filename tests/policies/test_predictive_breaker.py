"""The predictive breaker opens before the threshold on a ramp, never on stationary noise."""

from __future__ import annotations

import asyncio
import json
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest

from rebellion.errors import CircuitOpenError, ConfigError
from rebellion.policies.circuit_breaker import (
    CircuitBreaker,
    CircuitStateChanged,
    CircuitTripPredicted,
    PredictiveBreakerSnapshot,
    PredictiveCircuitBreaker,
)
from rebellion.testing import ManualClock, RecordingListener

RATE = 10  # calls per simulated second
# A shorter trend window, horizon and detector warm-up than the defaults (with a looser
# significance to match) keep the simulations short.
BREAKER: dict[str, Any] = {"window_type": "time", "window_size": 10, "minimum_calls": 20}
WINDOW: dict[str, Any] = {
    **BREAKER,
    "trend_window": 60,
    "horizon": 30,
    "significance": 3.0,
    "warmup": 30,
}


class OverlapClock:
    """Simulated time where a call completes ``offset`` seconds after it arrived.

    Calls overlap as in a service: the next arrival keeps its schedule while a slow call
    is still running, so a latency ramp does not slow the arrivals down.
    """

    def __init__(self) -> None:
        self.now = 0.0
        self.offset = 0.0

    def monotonic(self) -> float:
        return self.now + self.offset

    def wall(self) -> float:
        return 1_700_000_000.0 + self.monotonic()

    def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)

    async def sleep_async(self, seconds: float) -> None:
        self.now += max(0.0, seconds)

    def call_later(self, delay: float, callback: Callable[[], object]) -> object:
        raise NotImplementedError("not needed by the breaker")


class Down(ConnectionError):
    pass


def dependency(fails: bool) -> str:
    if fails:
        raise Down("dependency failed")
    return "ok"


async def async_dependency(fails: bool) -> str:
    await asyncio.sleep(0)
    return dependency(fails)


def ramp(onset: float, length: float, base: float = 0.03) -> Callable[[float], float]:
    """Failure probability: ``base`` until ``onset``, then linearly to 1 over ``length``."""
    return lambda t: base if t < onset else min(1.0, base + (t - onset) / length)


def drive(
    cb: PredictiveCircuitBreaker | CircuitBreaker,
    clock: ManualClock,
    failure: Callable[[float], float],
    seconds: float,
    seed: int = 0,
    stop_when_open: bool = True,
) -> int:
    """Call through ``cb`` RATE times a simulated second; return the calls that ran."""
    rng = random.Random(seed)
    ran = 0
    for _ in range(int(seconds * RATE)):
        if stop_when_open and cb.state is CircuitBreaker.OPEN:
            break
        try:
            cb.call(dependency, rng.random() < failure(clock.monotonic()))
            ran += 1
        except Down:
            ran += 1
        except CircuitOpenError:
            pass
        clock.advance(1 / RATE)
    return ran


def test_opens_on_a_ramp_before_the_failure_rate_reaches_the_threshold() -> None:
    clock = ManualClock()
    events: RecordingListener[Any] = RecordingListener()
    cb = PredictiveCircuitBreaker(
        "ramp", failure_rate_threshold=0.5, clock=clock, listeners=[events], **WINDOW
    )
    drive(cb, clock, ramp(onset=300, length=300), seconds=900)
    assert cb.state is CircuitBreaker.OPEN
    window_rate = cb.breaker.stats().failure_rate
    assert window_rate < 0.5
    snap = cb.stats()
    assert snap.predicted_trips == 1
    assert snap.failure_rate < 0.5
    [predicted] = events.of_type(CircuitTripPredicted)
    assert predicted.source == "ramp"
    assert predicted.signal == "failure_rate"
    assert predicted.threshold == 0.5
    assert predicted.value < 0.5
    assert predicted.reason.startswith("predicted: failure rate")
    opened = [e for e in events.of_type(CircuitStateChanged) if e.new_state == "OPEN"]
    assert [e.reason for e in opened] == [predicted.reason]
    history = cb.breaker.get_health_status()["transitions_history"]
    assert history[-1]["reason"] == predicted.reason


def test_lets_fewer_calls_reach_a_ramp_than_the_plain_breaker() -> None:
    reached = {}
    for kind in ("plain", "predictive"):
        clock = ManualClock()
        cb: PredictiveCircuitBreaker | CircuitBreaker = (
            CircuitBreaker(kind, failure_rate_threshold=0.5, clock=clock, **BREAKER)
            if kind == "plain"
            else PredictiveCircuitBreaker(kind, failure_rate_threshold=0.5, clock=clock, **WINDOW)
        )
        drive(cb, clock, lambda t: 0.03, seconds=300, seed=1)
        reached[kind] = drive(cb, clock, ramp(onset=300, length=300), seconds=600, seed=2)
    assert reached["predictive"] < reached["plain"]


def test_stationary_noise_never_trips_it() -> None:
    clock = ManualClock()
    events: RecordingListener[Any] = RecordingListener()
    cb = PredictiveCircuitBreaker(
        "noise", failure_rate_threshold=0.5, clock=clock, listeners=[events], **WINDOW
    )
    drive(cb, clock, lambda t: 0.05, seconds=900, seed=3, stop_when_open=False)
    assert cb.state is CircuitBreaker.CLOSED
    snap = cb.stats()
    assert snap.predicted_trips == 0
    assert snap.buckets >= 899
    assert not snap.warming_up
    assert 0.02 < snap.failure_rate < 0.08
    assert snap.time_to_threshold is None
    assert snap.forecasts["failure_rate"]["trend"] == "flat"
    assert events.of_type(CircuitTripPredicted) == []


def test_a_latency_ramp_trips_on_the_latency_signal_before_calls_are_slow() -> None:
    clock = OverlapClock()
    events: RecordingListener[Any] = RecordingListener()
    cb = PredictiveCircuitBreaker(
        "slow",
        slow_call_duration=1.0,
        slow_call_rate_threshold=0.5,
        clock=clock,  # type: ignore[arg-type]
        listeners=[events],
        **WINDOW,
    )
    rng = random.Random(4)

    def call(latency: float) -> None:
        clock.offset = latency  # the call completes this long after it arrived

    for i in range(900 * RATE):
        if cb.state is not CircuitBreaker.CLOSED:
            break
        clock.now, clock.offset = i / RATE, 0.0
        median = 0.05 if clock.now < 300 else min(2.0, 0.05 + (clock.now - 300) / 200)
        cb.call(call, median * rng.lognormvariate(0.0, 0.3))
    assert cb.state is CircuitBreaker.OPEN
    [predicted] = events.of_type(CircuitTripPredicted)
    assert predicted.signal in ("slow_call_rate", "latency")
    assert cb.breaker.stats().slow_call_rate < 0.5
    snap = cb.stats()
    assert snap.latency is not None
    assert snap.latency > 0.05
    assert set(snap.forecasts) == {"failure_rate", "slow_call_rate", "latency"}


async def test_async_calls_feed_the_same_evidence() -> None:
    clock = ManualClock()
    cb = PredictiveCircuitBreaker("async", failure_rate_threshold=0.5, clock=clock, **WINDOW)
    rng = random.Random(5)
    failure = ramp(onset=300, length=300)

    @cb
    async def guarded(fails: bool) -> str:
        return await async_dependency(fails)

    while cb.state is CircuitBreaker.CLOSED and clock.monotonic() < 900:
        fails = rng.random() < failure(clock.monotonic())
        try:
            if rng.random() < 0.5:
                await guarded(fails)
            else:
                value: str = await cb.execute(async_dependency, fails)
                assert value == "ok"
        except Down:
            pass
        clock.advance(1 / RATE)
    assert cb.state is CircuitBreaker.OPEN
    assert cb.stats().predicted_trips == 1
    with pytest.raises(CircuitOpenError):
        _: str = await cb.execute(async_dependency, False)


def test_recovery_is_the_plain_breakers_and_a_recovered_dependency_stays_closed() -> None:
    clock = ManualClock()
    events: RecordingListener[Any] = RecordingListener()
    cb = PredictiveCircuitBreaker(
        "recover",
        failure_rate_threshold=0.5,
        reset_timeout=30,
        success_threshold=2,
        clock=clock,
        listeners=[events],
        **WINDOW,
    )
    drive(cb, clock, ramp(onset=300, length=300), seconds=900, seed=6)
    assert cb.stats().predicted_trips == 1
    clock.advance(30)
    assert cb.state is CircuitBreaker.HALF_OPEN
    assert cb.call(dependency, False) == "ok"
    assert cb.call(dependency, False) == "ok"
    assert cb.state is CircuitBreaker.CLOSED
    drive(cb, clock, lambda t: 0.03, seconds=600, seed=7, stop_when_open=False)
    assert cb.state is CircuitBreaker.CLOSED
    assert cb.stats().predicted_trips == 1
    states = [(e.old_state, e.new_state) for e in events.of_type(CircuitStateChanged)]
    assert states == [("CLOSED", "OPEN"), ("OPEN", "HALF_OPEN"), ("HALF_OPEN", "CLOSED")]


def test_ignored_errors_and_rejections_are_not_evidence() -> None:
    clock = ManualClock()
    cb = PredictiveCircuitBreaker("ignore", ignore_on=KeyError, clock=clock, **WINDOW)

    def lookup() -> None:
        raise KeyError("missing")

    for _ in range(100):
        with pytest.raises(KeyError):
            cb.call(lookup)
        clock.advance(0.1)
    assert cb.stats().failure_rate == 0.0
    assert cb.breaker.stats().ignored == 100


def test_many_threads_call_through_it_and_every_call_is_counted() -> None:
    clock = ManualClock()
    cb = PredictiveCircuitBreaker("threads", failure_rate_threshold=0.9, clock=clock, **WINDOW)
    threads_n, calls_n = 8, 400
    errors: list[BaseException] = []
    start = threading.Barrier(threads_n + 1)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        start.wait()
        for _ in range(calls_n):
            try:
                cb.call(dependency, rng.random() < 0.05)
            except Down:
                pass
            except BaseException as error:  # pragma: no cover - reported below
                errors.append(error)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_n)]
    for thread in threads:
        thread.start()
    start.wait()
    while any(thread.is_alive() for thread in threads):
        clock.advance(0.05)  # buckets close while the workers call
        threads[0].join(0.001)
    for thread in threads:
        thread.join()
    assert errors == []
    snap = cb.breaker.stats()
    assert snap.calls == threads_n * calls_n
    assert cb.state is CircuitBreaker.CLOSED
    assert cb.stats().predicted_trips == 0


def test_snapshot_is_typed_json_ready_and_tracked() -> None:
    from rebellion import registry

    cb = PredictiveCircuitBreaker("snap-census", clock=ManualClock())
    snap = cb.stats()
    assert isinstance(snap, PredictiveBreakerSnapshot)
    assert snap.state == "CLOSED"
    assert snap.predicted_trips == 0
    assert snap.warming_up
    assert PredictiveBreakerSnapshot.measure("time_to_threshold") == "seconds"
    json.dumps(snap.as_dict())
    listed = [e for e in registry.snapshot() if e["name"] == "snap-census"]
    assert {e["kind"] for e in listed} == {"circuit_breaker", "predictive_circuit_breaker"}
    assert repr(cb) == "PredictiveCircuitBreaker(name='snap-census', state=CLOSED)"


@pytest.mark.parametrize(
    ("parameter", "value"),
    [
        ("bucket", 0),
        ("horizon", -1),
        ("trend_window", 5),
        ("significance", 0),
        ("anomaly_level", 0),
        ("anomaly_level", 1.5),
        ("floor", 2),
        ("min_bucket_calls", 0),
        ("latency_quantile", 1.5),
        ("warmup", -1),
        ("failure_rate_threshold", 2),
        ("window_type", "sliding"),
    ],
)
def test_bad_input_names_the_parameter(parameter: str, value: object) -> None:
    with pytest.raises(ConfigError, match=parameter):
        PredictiveCircuitBreaker("bad", **{parameter: value})  # type: ignore[arg-type]


def test_bad_name_is_refused() -> None:
    with pytest.raises(ConfigError, match="name"):
        PredictiveCircuitBreaker("")


def test_trip_opens_a_closed_breaker_only() -> None:
    clock = ManualClock()
    cb = CircuitBreaker("trip", reset_timeout=10, clock=clock)
    assert cb.trip("predicted: test") is True
    assert cb.state is CircuitBreaker.OPEN
    assert cb.trip("again") is False
    assert cb.get_health_status()["transitions_history"][-1]["reason"] == "predicted: test"
    clock.advance(10)
    assert cb.state is CircuitBreaker.HALF_OPEN
    assert cb.trip("while probing") is False
    cb.force_open()
    assert cb.trip("while forced") is False
    cb.force_close()
    cb.metrics_only()
    assert cb.trip("shadow") is True
    assert cb.state is CircuitBreaker.METRICS_ONLY
    assert cb.call(lambda: "still runs") == "still runs"
    with pytest.raises(ConfigError, match="reason"):
        cb.trip("")


async def test_composes_in_a_pipeline_for_sync_and_async_callees() -> None:
    from rebellion.policies.fallback import Fallback
    from rebellion.policies.pipeline import Pipeline

    clock = ManualClock()
    cb = PredictiveCircuitBreaker("piped", failure_threshold=1, reset_timeout=60, clock=clock)
    pipeline = Pipeline(Fallback(lambda fails: "fallback"), cb)
    assert pipeline.call(dependency, False) == "ok"
    first: str = await pipeline.execute(async_dependency, False)
    assert first == "ok"
    assert pipeline.call(dependency, True) == "fallback"  # one failure opens it
    assert cb.state is CircuitBreaker.OPEN
    refused: str = await pipeline.execute(async_dependency, False)
    assert refused == "fallback"
    assert cb.breaker.stats().rejections == 1


def test_without_numpy_it_says_which_extra_to_install() -> None:
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['numpy'] = None\n"
        "from rebellion.policies.circuit_breaker import PredictiveCircuitBreaker\n"
        "try:\n"
        "    PredictiveCircuitBreaker('no-numpy')\n"
        "except ImportError as error:\n"
        "    print(error)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "system-rebellion[metrics]" in proc.stdout


async def test_many_tasks_call_through_it_and_every_call_is_counted() -> None:
    clock = ManualClock()
    cb = PredictiveCircuitBreaker("tasks", failure_rate_threshold=0.9, clock=clock, **WINDOW)

    async def worker(seed: int) -> int:
        rng = random.Random(seed)
        done = 0
        for _ in range(50):
            try:
                value: str = await cb.execute(async_dependency, rng.random() < 0.05)
                assert value == "ok"
            except Down:
                pass
            done += 1
            clock.advance(0.01)  # buckets close while other tasks are mid-call
        return done

    results = await asyncio.gather(*(worker(i) for i in range(40)))
    assert sum(results) == 2000
    assert cb.breaker.stats().calls == 2000
    snap = cb.stats()
    assert snap.buckets >= 19
    assert snap.predicted_trips == 0
