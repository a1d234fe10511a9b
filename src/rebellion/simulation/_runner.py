"""Choose a scenario for a seed, run it, and summarise many seeds.

The seed's one random source first picks the scenario, then every decision inside it,
so ``run_schedule(s)`` gives the same schedule, trace and verdict every time.

>>> result = run_schedule(11, scenarios=["pipeline"])
>>> result.scenario, result.violations
('pipeline', ())
>>> run_schedule(11, scenarios=["pipeline"]).trace == result.trace
True
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import final

from ..errors import ConfigError
from ._world import ScheduleResult, World
from .cache import run_cache
from .limiter import run_limiter
from .pipeline import run_pipeline
from .queue import run_queue
from .shared_breaker import redis_available, run_shared_breaker
from .sync_timeout import run_sync_timeout

__all__ = ["SCENARIOS", "Summary", "run_many", "run_schedule"]


@final
@dataclass(frozen=True, slots=True)
class _Scenario:
    run: Callable[[World], None]
    weight: int
    needs_redis: bool = False
    known_bugs_only: bool = False


SCENARIOS: dict[str, _Scenario] = {
    "pipeline": _Scenario(run_pipeline, 8),
    "queue": _Scenario(run_queue, 3),
    "cache": _Scenario(run_cache, 3),
    "limiter": _Scenario(run_limiter, 3),
    "sync-timeout": _Scenario(run_sync_timeout, 1),
    "shared-breaker": _Scenario(run_shared_breaker, 2, needs_redis=True),
}
"""Every scenario, with its share of the seeds."""

_redis: bool | None = None


def _has_redis() -> bool:
    global _redis
    if _redis is None:
        _redis = redis_available()
    return _redis


def run_schedule(
    seed: int, *, known_bugs: bool = False, scenarios: Sequence[str] | None = None
) -> ScheduleResult:
    """Run the schedule of ``seed`` and return what it did and broke.

    Args:
        seed: the schedule's seed (any int).
        known_bugs: include the fault families of :data:`~._world.KNOWN_BUGS`.
        scenarios: restrict the choice to these scenario names (default: all).

    Raises:
        ConfigError: an unknown scenario name.
    """
    names = list(SCENARIOS) if scenarios is None else list(scenarios)
    for name in names:
        if name not in SCENARIOS:
            raise ConfigError("scenarios", f"names among {sorted(SCENARIOS)}", name)
    if not known_bugs:
        names = [n for n in names if not SCENARIOS[n].known_bugs_only] or names
    world = World(seed, "", known_bugs=known_bugs)
    name = world.rng.choices(names, [SCENARIOS[n].weight for n in names])[0]
    world.scenario = name
    scenario = SCENARIOS[name]
    if scenario.needs_redis and not _has_redis():
        world.log("skipped: no Redis server answers")
        world.scenario = name + " (skipped: no Redis)"
        return world.result()
    scenario.run(world)
    return world.result()


@final
@dataclass
class Summary:
    """Totals over many schedules, and the ones that failed."""

    schedules: int = 0
    violations: int = 0
    failed: list[ScheduleResult] = field(default_factory=list)
    by_scenario: dict[str, int] = field(default_factory=dict)
    skipped: int = 0

    def line(self) -> str:
        """Return the one-line verdict: ``simulation: N schedules, V violations``."""
        return f"simulation: {self.schedules} schedules, {self.violations} violations"


def run_many(
    seeds: Iterable[int],
    *,
    known_bugs: bool = False,
    scenarios: Sequence[str] | None = None,
    on_result: Callable[[ScheduleResult], None] | None = None,
) -> Summary:
    """Run the schedules of ``seeds``; return the totals."""
    summary = Summary()
    for seed in seeds:
        result = run_schedule(seed, known_bugs=known_bugs, scenarios=scenarios)
        summary.schedules += 1
        summary.by_scenario[result.scenario] = summary.by_scenario.get(result.scenario, 0) + 1
        if result.scenario.endswith("(skipped: no Redis)"):
            summary.skipped += 1
        if result.violations:
            summary.violations += len(result.violations)
            summary.failed.append(result)
        if on_result is not None:
            on_result(result)
        if summary.schedules % 200 == 0:
            gc.collect()  # closed loops and abandoned queues: reclaim their descriptors
    return summary
