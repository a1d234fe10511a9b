"""A simulated dependency: latency, errors and hangs drawn from the schedule's source.

Its health follows a fault plan of phases (healthy, erroring, slow, hanging); each
invocation draws its fate from the world's one random source and records who called,
when, and how many invocations were in flight, so invariants can be checked at entry.

>>> from rebellion.simulation._world import World
>>> world = World(seed=1, scenario="demo")
>>> dep = Dependency(world, hangs=False)
>>> dep.phase_at(0.0)
'healthy'
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import final

from ._world import World

__all__ = ["HANG", "CALLER", "Dependency", "DependencyError"]

HANG = 1e6
"""How long a hung invocation waits: for ever, as far as a schedule is concerned."""

CALLER: contextvars.ContextVar[int] = contextvars.ContextVar("rebellion_sim_caller", default=-1)
"""The simulated caller running in the current task (hedged attempts inherit it)."""

_PHASES = ("healthy", "errors", "slow", "hang", "down")


class DependencyError(ConnectionError):
    """The simulated dependency failed."""


@final
class Dependency:
    """An async callee whose behaviour follows a random fault plan.

    Args:
        world: the schedule's world (random source, clock, trace).
        hangs: whether the plan may contain hanging phases.
        horizon: virtual seconds the plan covers.
    """

    def __init__(self, world: World, *, hangs: bool, horizon: float = 60.0) -> None:
        self.world = world
        kinds = _PHASES if hangs else tuple(p for p in _PHASES if p != "hang")
        self.plan: list[tuple[float, str]] = [(0.0, "healthy")]
        t = 0.0
        while t < horizon:
            t += world.rng.uniform(1.0, 15.0)
            self.plan.append((t, world.rng.choice(kinds)))
        world.log("dependency plan: " + ", ".join(f"{s:.1f}s {k}" for s, k in self.plan))
        self.healed_at: float | None = None
        self.invocations = 0
        self.in_flight: dict[int, int] = {}  # invocation -> caller
        self.max_in_flight = 0
        self.on_enter: Callable[[int, int], None] | None = None

    def heal(self) -> None:
        """Make every later invocation healthy and fast."""
        self.healed_at = self.world.clock.monotonic()
        self.world.log("dependency healed")

    def phase_at(self, now: float) -> str:
        """Return the plan's phase at virtual time ``now``."""
        if self.healed_at is not None and now >= self.healed_at:
            return "healthy"
        phase = "healthy"
        for start, kind in self.plan:
            if start <= now:
                phase = kind
        return phase

    async def invoke(self) -> str:
        """Run one invocation: succeed, fail or hang as the plan and the draw say."""
        world = self.world
        now = world.clock.monotonic()
        phase = self.phase_at(now)
        rng = world.rng
        self.invocations += 1
        number = self.invocations
        caller = CALLER.get()
        latency = rng.uniform(0.005, 0.2)
        fails = rng.random() < 0.05
        if phase == "errors":
            fails = rng.random() < 0.7
        elif phase == "slow":
            latency = rng.uniform(0.5, 6.0)
        elif phase == "down":
            fails, latency = True, 0.0
        elif phase == "hang" and rng.random() < 0.6:
            latency = HANG
        self.in_flight[number] = caller
        self.max_in_flight = max(self.max_in_flight, len(self.in_flight))
        if self.on_enter is not None:
            self.on_enter(number, caller)
        fate = "fails" if fails else "hangs" if latency >= HANG else "succeeds"
        world.log(f"dependency #{number} (caller {caller}, {phase}) {fate} after {latency:.3f}s")
        try:
            await world.clock.sleep_async(latency)
        finally:
            del self.in_flight[number]
        if fails:
            raise DependencyError(f"invocation {number} failed")
        return f"ok {number}"
