"""A few hundred seeded schedules per CI run; the same seed always tells the same story."""

from __future__ import annotations

import pytest

from _redis import require_redis
from rebellion.simulation import KNOWN_BUGS, SCENARIOS, run_many, run_schedule

# Seeds per scenario in the default run: about 300 schedules, a few seconds of CPU.
SEEDS = {"pipeline": 120, "queue": 40, "cache": 40, "limiter": 60, "shared-breaker": 40}


def _verdict(summary_failed: list[object]) -> str:
    return "\n".join(
        f"seed {r.seed} ({r.scenario}): {[(v.invariant, v.detail) for v in r.violations]}"  # type: ignore[attr-defined]
        for r in summary_failed
    )


@pytest.mark.parametrize("scenario", sorted(SEEDS))
def test_every_invariant_holds_on_seeded_schedules(scenario: str, known_bugs: bool) -> None:
    if SCENARIOS[scenario].needs_redis:
        require_redis()
    summary = run_many(range(SEEDS[scenario]), scenarios=[scenario], known_bugs=known_bugs)
    assert summary.schedules == SEEDS[scenario]
    assert summary.violations == 0, _verdict(list(summary.failed))


@pytest.mark.parametrize("scenario", ["pipeline", "queue", "cache", "limiter", "shared-breaker"])
def test_a_seed_replays_the_same_schedule(scenario: str) -> None:
    if SCENARIOS[scenario].needs_redis:
        require_redis()
    for seed in (1, 17, 123):
        first = run_schedule(seed, scenarios=[scenario], known_bugs=True)
        again = run_schedule(seed, scenarios=[scenario], known_bugs=True)
        assert first.scenario == again.scenario == scenario
        assert first.violations == again.violations
        assert first.trace == again.trace


def test_known_bug_families_stay_out_of_the_default_run() -> None:
    for seed in range(60):
        result = run_schedule(seed)
        assert not set(result.families) & set(KNOWN_BUGS), (seed, result.families)


def test_known_bug_families_are_drawn_when_included() -> None:
    drawn: set[str] = set()
    for seed in range(200):
        drawn.update(
            run_schedule(seed, scenarios=["pipeline", "limiter"], known_bugs=True).families
        )
    assert {"hung-probe", "retry-rejections", "cancelled-waiters"} <= drawn


def test_scenario_names_are_checked() -> None:
    from rebellion.errors import ConfigError

    with pytest.raises(ConfigError, match="scenarios"):
        run_schedule(1, scenarios=["nope"])
