"""How ``rebellion demo`` shows itself: plain periodic lines, a rich live view, a summary.

>>> from rebellion.demo import DemoSimulation
>>> from rebellion.testing import ManualClock
>>> line = format_line(DemoSimulation(duration=5, seed=1, clock=ManualClock()).snapshot())
>>> line.split()[:3]
['[', '0.0s/5s]', 'phase=healthy']
"""

from __future__ import annotations

import asyncio
from typing import IO, Any

from .demo import OUTCOMES, DemoSimulation, DemoSnapshot

__all__ = ["STATE_STYLES", "format_line", "format_summary", "run_live", "run_plain"]

STATE_STYLES = {
    "CLOSED": "bold green",
    "HALF_OPEN": "bold yellow",
    "OPEN": "bold red",
    "DEGRADED": "bold magenta",
}
"""Rich styles for the breaker's states (others are shown bold)."""


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.1f}ms"


def _wait(snap: DemoSnapshot) -> str:
    if snap.breaker_state != "OPEN" or snap.time_until_half_open is None:
        return ""
    return f" (half-open in {snap.time_until_half_open:.1f}s)"


def format_line(snap: DemoSnapshot) -> str:
    """Return one line of progress for ``--no-live`` output."""
    counts = " ".join(f"{name}={snap.outcomes[name]}" for name in OUTCOMES)
    return (
        f"[{snap.elapsed:5.1f}s/{snap.duration:g}s] phase={snap.phase} "
        f"breaker={snap.breaker_state}{_wait(snap)} offered={snap.offered} {counts} "
        f"retries={snap.retries} budget_refused={snap.budget_refused} "
        f"p50={_ms(snap.p50)} p95={_ms(snap.p95)}"
    )


def format_summary(snap: DemoSnapshot, *, interrupted: bool = False) -> str:
    """Return the final report: outcomes, retries, latency and every transition seen."""
    done = sum(snap.outcomes.values())
    lines = [
        "Demo summary" + (" (interrupted)" if interrupted else ""),
        f"  ran {snap.elapsed:.1f}s of {snap.duration:g}s; "
        f"offered {snap.offered} calls, {done} completed",
    ]
    for name in OUTCOMES:
        count = snap.outcomes[name]
        share = 100.0 * count / snap.offered if snap.offered else 0.0
        lines.append(f"  {name:<9} {count:>7}  ({share:5.1f}%)")
    if snap.cancelled or snap.in_flight:
        lines.append(f"  cancelled {snap.cancelled:>7}  (unfinished at exit)")
    lines.append(
        f"  retries {snap.retries}; retry budget withdrawn {snap.budget_withdrawn}, "
        f"refused {snap.budget_refused}"
    )
    lines.append(f"  latency p50 {_ms(snap.p50)}, p95 {_ms(snap.p95)} (recent calls)")
    lines.append(f"  breaker ended {snap.breaker_state}; {snap.transition_count} transitions seen")
    for t in snap.transitions:
        lines.append(f"    {t.elapsed:6.2f}s  {t.old_state} -> {t.new_state}  ({t.reason})")
    return "\n".join(lines)


async def _tick_until_done(run: asyncio.Task[None], interval: float) -> None:
    try:
        await asyncio.wait_for(asyncio.shield(run), interval)
    except TimeoutError:
        pass


async def run_plain(sim: DemoSimulation, out: IO[str], interval: float = 1.0) -> None:
    """Run ``sim``, writing a progress line every ``interval`` real seconds."""
    run = asyncio.create_task(sim.run())
    try:
        while not run.done():
            await _tick_until_done(run, interval)
            print(format_line(sim.snapshot()), file=out, flush=True)
        await run
    finally:
        run.cancel()


def _render(snap: DemoSnapshot) -> Any:
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    style = STATE_STYLES.get(snap.breaker_state, "bold")
    head = Text.assemble(
        ("System Rebellion demo  ", "bold"),
        (f"{snap.elapsed:5.1f}s / {snap.duration:g}s   ", "dim"),
        ("phase ", "dim"),
        (f"{snap.phase:<10}", "bold cyan"),
        ("breaker ", "dim"),
        (snap.breaker_state, style),
        (_wait(snap), "yellow"),
    )
    counts = Table(title="Outcomes", expand=True)
    counts.add_column("offered", justify="right")
    for name in OUTCOMES:
        counts.add_column(name, justify="right")
    counts.add_column("in flight", justify="right")
    counts.add_row(
        str(snap.offered), *(str(snap.outcomes[n]) for n in OUTCOMES), str(snap.in_flight)
    )
    calls = Table(title="Retries and latency", expand=True)
    for column in ("retries", "budget used", "budget refused", "budget left", "p50", "p95"):
        calls.add_column(column, justify="right")
    calls.add_row(
        str(snap.retries),
        str(snap.budget_withdrawn),
        str(snap.budget_refused),
        str(snap.budget_available),
        _ms(snap.p50),
        _ms(snap.p95),
    )
    history = Table(title=f"Breaker transitions ({snap.transition_count} seen)", expand=True)
    history.add_column("at", justify="right")
    history.add_column("from")
    history.add_column("to")
    history.add_column("reason")
    for t in reversed(snap.transitions):
        history.add_row(
            f"{t.elapsed:.2f}s",
            Text(t.old_state, STATE_STYLES.get(t.old_state, "bold")),
            Text(t.new_state, STATE_STYLES.get(t.new_state, "bold")),
            t.reason,
        )
    return Panel(Group(head, counts, calls, history), title="rebellion demo")


async def run_live(sim: DemoSimulation, out: IO[str], refresh_per_second: float = 4.0) -> None:
    """Run ``sim`` under a rich live view refreshed ``refresh_per_second`` times a second."""
    # Imported here: rich comes with the `cli` extra, the core package must not need it.
    from rich.console import Console
    from rich.live import Live

    console = Console(file=out)
    run = asyncio.create_task(sim.run())
    try:
        with Live(_render(sim.snapshot()), console=console, auto_refresh=False) as live:
            while not run.done():
                await _tick_until_done(run, 1.0 / refresh_per_second)
                live.update(_render(sim.snapshot()), refresh=True)
        await run
    finally:
        run.cancel()
