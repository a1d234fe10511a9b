"""The demo simulation, driven in virtual time: phases, breaker cycle, counts, views."""

from __future__ import annotations

import asyncio
import io

import pytest

from rebellion import registry
from rebellion._demo_view import _render, format_line, format_summary, run_live
from rebellion.demo import OUTCOMES, DemoSimulation, DemoSnapshot
from rebellion.errors import ConfigError
from rebellion.testing import ManualClock


async def drive(sim: DemoSimulation, clock: ManualClock, step: float = 0.01) -> None:
    """Run ``sim`` to its end, advancing virtual time in ``step`` increments."""
    task = asyncio.create_task(sim.run())
    while not task.done():
        await clock.advance_async(step, settle=10)
    await task


async def run_virtual(duration: float = 10, rate: float = 30, seed: int = 2) -> DemoSnapshot:
    clock = ManualClock(auto_advance=False)
    sim = DemoSimulation(duration=duration, rate=rate, seed=seed, clock=clock)
    await drive(sim, clock)
    return sim.snapshot()


def is_subsequence(wanted: list[tuple[str, str]], seen: list[tuple[str, str]]) -> bool:
    remaining = iter(seen)
    return all(step in remaining for step in wanted)


async def test_breaker_opens_probes_and_closes_across_the_phases() -> None:
    clock = ManualClock(auto_advance=False)
    sim = DemoSimulation(duration=10, rate=30, seed=2, clock=clock)
    await drive(sim, clock)
    moves = [(t.old_state, t.new_state) for t in sim.transitions]
    assert is_subsequence(
        [("CLOSED", "OPEN"), ("OPEN", "HALF_OPEN"), ("HALF_OPEN", "CLOSED")], moves
    )
    first_open = next(t for t in sim.transitions if t.new_state == "OPEN")
    assert sim.downstream.phase_at(first_open.elapsed)[0].name in ("degrading", "outage")
    last_close = [t for t in sim.transitions if t.new_state == "CLOSED"][-1]
    assert sim.downstream.phase_at(last_close.elapsed)[0].name in ("recovery", "healthy")
    assert sim.snapshot().breaker_state == "CLOSED"


async def test_every_offered_call_ends_in_exactly_one_outcome() -> None:
    snap = await run_virtual()
    assert snap.offered == 10 * 30
    assert snap.in_flight == 0
    assert snap.cancelled == 0
    assert snap.offered == sum(snap.outcomes[name] for name in OUTCOMES)
    assert snap.outcomes["success"] > snap.offered / 2
    assert snap.outcomes["rejected"] > 0
    assert snap.retries == snap.budget_withdrawn > 0
    assert snap.p50 is not None
    assert snap.p95 is not None
    assert snap.p50 <= snap.p95


async def test_the_same_seed_replays_the_same_run() -> None:
    first = await run_virtual(seed=7)
    registry.clear()
    second = await run_virtual(seed=7)
    assert first == second


def test_phases_follow_the_schedule_scaled_to_the_duration() -> None:
    sim = DemoSimulation(duration=10, seed=1, clock=ManualClock())
    names = [sim.downstream.phase_at(t)[0].name for t in (0, 2.5, 5, 7, 9, 50)]
    assert names == ["healthy", "degrading", "outage", "recovery", "healthy", "healthy"]
    assert sim.downstream.phase_at(3)[1] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"duration": 0}, "duration"),
        ({"duration": -1}, "duration"),
        ({"rate": 0}, "rate"),
        ({"rate": 1e6}, "rate"),
        ({"history": 0}, "history"),
        ({"clock": "now"}, "clock"),
    ],
)
def test_bad_parameters_are_refused_by_name(kwargs: dict[str, object], parameter: str) -> None:
    with pytest.raises(ConfigError, match=parameter):
        DemoSimulation(**kwargs)  # type: ignore[arg-type]


def test_its_primitives_are_registered_and_a_new_run_replaces_them() -> None:
    clock = ManualClock()
    old = DemoSimulation(duration=5, seed=1, clock=clock)
    sim = DemoSimulation(duration=20, seed=1, clock=clock)
    assert sim.breaker is not old.breaker
    assert registry.get("circuit_breaker", "demo.downstream") is sim.breaker
    assert registry.get("retry", "demo.retry") is sim.retry
    assert registry.get("retry_budget", "demo.retry_budget") is sim.budget
    assert registry.get("pipeline", "demo.pipeline") is sim.pipeline
    kinds = {entry["kind"] for entry in registry.snapshot()}
    assert {"circuit_breaker", "retry", "fallback", "timeout", "pipeline"} <= kinds


async def test_cancelling_a_run_counts_its_unfinished_calls() -> None:
    clock = ManualClock(auto_advance=False)
    sim = DemoSimulation(duration=10, rate=100, seed=3, clock=clock)
    task = asyncio.create_task(sim.run())
    for _ in range(50):
        await clock.advance_async(0.002, settle=10)
    assert sim.snapshot().in_flight > 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    snap = sim.snapshot()
    assert snap.cancelled > 0
    assert snap.offered == sum(snap.outcomes.values()) + snap.cancelled


async def test_plain_line_and_summary_show_state_counts_and_transitions() -> None:
    snap = await run_virtual()
    line = format_line(snap)
    for part in ("phase=healthy", "breaker=CLOSED", f"offered={snap.offered}", "p95="):
        assert part in line
    summary = format_summary(snap)
    assert "Demo summary" in summary
    assert f"{snap.transition_count} transitions seen" in summary
    assert "CLOSED -> OPEN" in summary or "OPEN -> HALF_OPEN" in summary
    for name in OUTCOMES:
        assert f"{name} " in summary
    assert "(interrupted)" in format_summary(snap, interrupted=True)


async def test_the_summary_can_list_every_transition_not_only_the_recent_ones() -> None:
    clock = ManualClock(auto_advance=False)
    sim = DemoSimulation(duration=10, rate=30, seed=2, clock=clock, history=2)
    await drive(sim, clock)
    assert len(sim.snapshot().transitions) == 2
    full = sim.snapshot(all_transitions=True)
    assert len(full.transitions) == full.transition_count > 2


async def test_live_view_renders_breaker_state_and_transitions() -> None:
    from rich.console import Console

    snap = await run_virtual()
    out = io.StringIO()
    Console(file=out, width=140).print(_render(snap))
    text = out.getvalue()
    for part in ("phase", "CLOSED", "HALF_OPEN", "rejected", "budget used", "p95"):
        assert part in text


@pytest.mark.e2e
async def test_live_view_runs_in_real_time_and_ends_by_itself() -> None:
    sim = DemoSimulation(duration=0.5, rate=50, seed=1)
    out = io.StringIO()
    await asyncio.wait_for(run_live(sim, out), 5)
    assert sim.snapshot().offered == 25
    assert "rebellion demo" in out.getvalue()
