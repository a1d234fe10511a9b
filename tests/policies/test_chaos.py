"""Chaos: seeded fault injection, run-time switches, virtual-time latency, pipelines."""

from __future__ import annotations

import asyncio
import threading
import warnings
from typing import Any

import pytest

from _drivers import Driver
from rebellion import (
    Chaos,
    CircuitBreaker,
    ConfigError,
    FaultInjected,
    Pipeline,
    PipelineWarning,
    Retry,
)
from rebellion.testing import ManualClock, RecordingListener


class Boom(ConnectionError):
    pass


def outcomes(chaos: Chaos, calls: int) -> list[str]:
    seen = []
    for _ in range(calls):
        try:
            seen.append(str(chaos.call(lambda: "real")))
        except Boom:
            seen.append("boom")
    return seen


def test_same_seed_gives_the_same_injection_sequence() -> None:
    def make(seed: int) -> Chaos:
        return Chaos(error=Boom, error_rate=0.3, result="fake", result_rate=0.3, seed=seed)

    first = outcomes(make(42), 200)
    assert first == outcomes(make(42), 200)
    assert first != outcomes(make(43), 200)
    assert {"boom", "fake", "real"} == set(first)


def test_rates_are_honoured_statistically() -> None:
    chaos = Chaos(error=Boom, error_rate=0.25, seed=1)
    seen = outcomes(chaos, 4000)
    assert 0.22 < seen.count("boom") / 4000 < 0.28
    stats = chaos.stats()
    assert stats["injected_errors"] == seen.count("boom")
    assert stats["calls"] == 4000
    assert stats["passed"] == seen.count("real")


def test_latency_sleeps_on_the_injected_clock(driver: Driver) -> None:
    clock = ManualClock()
    chaos = Chaos(latency=(0.1, 0.3), latency_rate=1.0, seed=3, clock=clock)
    assert driver.run(chaos, lambda: "ok") == "ok"
    assert len(clock.sleeps) == 1
    assert 0.1 <= clock.sleeps[0] <= 0.3
    assert chaos.stats()["injected_latency"] == 1


async def test_async_latency_waits_for_virtual_time() -> None:
    clock = ManualClock(auto_advance=False)
    chaos = Chaos(latency=2.0, latency_rate=1.0, clock=clock)

    async def work() -> str:
        return "done"

    task = asyncio.create_task(chaos.execute(work))
    await asyncio.sleep(0)
    await clock.advance_async(1.9)
    assert not task.done()
    await clock.advance_async(0.1)
    assert await task == "done"


def test_switches_and_rates_change_at_run_time() -> None:
    recorder = RecordingListener()
    chaos = Chaos(error=Boom("down"), error_rate=1.0, listeners=[recorder])
    with pytest.raises(Boom, match="down"):
        chaos.call(lambda: 1)
    chaos.disable()
    assert chaos.call(lambda: 1) == 1
    chaos.enabled = True
    chaos.injection_rate = 0.0
    assert chaos.call(lambda: 1) == 1
    chaos.injection_rate = 1.0
    chaos.set_rates(error=0.0)
    assert chaos.call(lambda: 1) == 1
    assert [e.fault for e in recorder.of_type(FaultInjected)] == ["error"]
    with pytest.raises(ConfigError, match="injection_rate"):
        chaos.injection_rate = 2.0
    with pytest.raises(ConfigError, match="enabled"):
        chaos.enabled = "yes"  # type: ignore[assignment]


def test_each_raise_is_a_fresh_exception() -> None:
    chaos = Chaos(error=Boom("x"), error_rate=1.0)
    caught = []
    for _ in range(2):
        try:
            chaos.call(lambda: None)
        except Boom as error:
            caught.append(error)
    assert caught[0] is not caught[1]
    assert caught[0].args == ("x",)


def test_counts_are_exact_across_threads_while_switching() -> None:
    chaos = Chaos(error=Boom, error_rate=0.5, result=0, result_rate=0.5, seed=9)
    totals = {"real": 0, "fake": 0, "boom": 0}
    lock = threading.Lock()

    def run() -> None:
        for i in range(300):
            if i == 150:
                chaos.injection_rate = 0.5
            try:
                key = "fake" if chaos.call(lambda: 1) == 0 else "real"
            except Boom:
                key = "boom"
            with lock:
                totals[key] += 1

    threads = [threading.Thread(target=run) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = chaos.stats()
    assert sum(totals.values()) == stats["calls"] == 2400
    assert (stats["passed"], stats["injected_errors"], stats["injected_results"]) == (
        totals["real"],
        totals["boom"],
        totals["fake"],
    )


def test_pipeline_warns_when_chaos_is_outside_what_it_exercises() -> None:
    retry = Retry(max_attempts=3, initial_delay=0)
    with pytest.warns(PipelineWarning, match="fault injection"):
        Pipeline(Chaos(), retry)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pipeline = Pipeline(
            Retry(max_attempts=5, initial_delay=0),
            CircuitBreaker("chaos-target", failure_threshold=100),
            Chaos(error=Boom, error_rate=0.5, seed=5),
        )
    assert pipeline.call(lambda: "ok") == "ok"  # the retry absorbs the injected faults


@pytest.mark.parametrize(
    ("settings", "parameter"),
    [
        ({"name": " x"}, "name"),
        ({"latency": -1}, "latency"),
        ({"latency": (2, 1)}, "latency"),
        ({"latency": (1, 2, 3)}, "latency"),
        ({"latency_rate": 1.5}, "latency_rate"),
        ({"error": "boom"}, "error"),
        ({"error_rate": 0.5}, "error_rate"),
        ({"error": Boom, "error_rate": -0.1}, "error_rate"),
        ({"result_rate": 0.5}, "result_rate"),
        ({"result": 1, "result_rate": 2}, "result_rate"),
        ({"injection_rate": -1}, "injection_rate"),
        ({"enabled": 1}, "enabled"),
        ({"clock": "now"}, "clock"),
        ({"listeners": [None]}, "listeners"),
    ],
)
def test_bad_settings_name_the_parameter(settings: dict[str, Any], parameter: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Chaos(**settings)
    assert caught.value.parameter == parameter
