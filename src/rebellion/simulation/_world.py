"""The simulated world of one schedule: its seed, clock, trace and violations.

Every decision a schedule makes is drawn from one ``random.Random(seed)`` and written
to the trace, so a failing seed replays exactly and prints what happened.

>>> world = World(seed=7, scenario="demo")
>>> world.log("dependency fails")
>>> world.check(1 + 1 == 3, "arithmetic", "one and one")
>>> [v.invariant for v in world.violations], world.trace[-1]
(['arithmetic'], '       0.000  VIOLATION arithmetic: one and one')
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field
from typing import final

from ..testing import ManualClock

__all__ = ["KNOWN_BUGS", "ScheduleResult", "Violation", "World"]

KNOWN_BUGS: dict[str, str] = {
    "cancelled-waiters": "a waiter cancelled in the middle of the rate limiter's queue keeps"
    " its slot until the queue drains (only trailing cancellations are handed back)",
    "cache-outage-writes": "a write or delete while Redis is lost, then a restart, leaves the"
    " old value in Redis",
}
"""Fault families that hit a known, unfixed bug; left out unless ``known-bugs`` is included."""


@final
@dataclass(frozen=True, slots=True)
class Violation:
    """An invariant that did not hold, with where and when."""

    invariant: str
    detail: str
    at: float
    step: int


@final
@dataclass(frozen=True, slots=True)
class ScheduleResult:
    """What one schedule did and which invariants it broke."""

    seed: int
    scenario: str
    families: tuple[str, ...]
    steps: int
    violations: tuple[Violation, ...]
    trace: tuple[str, ...] = field(repr=False)


@final
class World:
    """Shared state of one schedule: random source, clock, trace and checks.

    Args:
        seed: seeds the one random source every decision is drawn from.
        scenario: the scenario's name (for the report).
        known_bugs: allow fault families listed in :data:`KNOWN_BUGS`.
    """

    def __init__(self, seed: int, scenario: str, *, known_bugs: bool = False) -> None:
        self.seed = seed
        self.scenario = scenario
        self.known_bugs = known_bugs
        self.rng = random.Random(seed)
        self.clock = ManualClock(auto_advance=False)
        self.trace: list[str] = []
        self.violations: list[Violation] = []
        self.families: list[str] = []
        self.steps = 0
        self.threads_at_start = threading.active_count()

    def chance(self, p: float) -> bool:
        """Return true with probability ``p`` (one draw from the schedule's source)."""
        return self.rng.random() < p

    def family(self, name: str) -> bool:
        """Record that the schedule uses the fault family ``name``; False if not allowed."""
        if name in KNOWN_BUGS and not self.known_bugs:
            return False
        self.families.append(name)
        self.log(f"fault family {name}")
        return True

    def log(self, message: str) -> None:
        """Append a line to the schedule's trace, stamped with virtual time."""
        self.trace.append(f"{self.clock.monotonic():12.3f}  {message}")

    def step(self, message: str) -> None:
        """Count a step of the schedule and log it."""
        self.steps += 1
        self.log(f"#{self.steps} {message}")

    def check(self, ok: bool, invariant: str, detail: str) -> None:
        """Record a violation of ``invariant`` unless ``ok``."""
        if ok:
            return
        violation = Violation(invariant, detail, self.clock.monotonic(), self.steps)
        self.violations.append(violation)
        self.log(f"VIOLATION {invariant}: {detail}")

    def result(self) -> ScheduleResult:
        """Return the frozen outcome of the schedule."""
        return ScheduleResult(
            self.seed,
            self.scenario,
            tuple(self.families),
            self.steps,
            tuple(self.violations),
            tuple(self.trace),
        )
