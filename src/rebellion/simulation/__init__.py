"""Deterministic simulation testing: seeded fault schedules, invariants after every step.

In the manner of FoundationDB's simulator and TigerBeetle's VOPR, one seed decides a
whole schedule -- which component runs, its settings, the callers' arrivals, the
dependency's errors, latency and hangs, Redis lost and back, process crashes -- and the
components run on virtual time (:class:`~rebellion.testing.ManualClock` driving an
event loop that jumps to the next timer when every task waits). The same seed gives
the same interleaving, the same trace and the same verdict, so a failing seed is a
reproduction: ``python -m rebellion.simulation --seed S --verbose`` prints its schedule.

>>> result = run_schedule(11, scenarios=["queue"])
>>> result.scenario, result.violations
('queue', ())
>>> summary = run_many(range(3), scenarios=["pipeline", "limiter"])
>>> summary.line()
'simulation: 3 schedules, 0 violations'
"""

from ._runner import SCENARIOS, Summary, run_many, run_schedule
from ._world import KNOWN_BUGS, ScheduleResult, Violation, World

__all__ = [
    "KNOWN_BUGS",
    "SCENARIOS",
    "ScheduleResult",
    "Summary",
    "Violation",
    "World",
    "run_many",
    "run_schedule",
]
