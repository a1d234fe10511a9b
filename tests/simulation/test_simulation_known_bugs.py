"""Seeds that hit a known bug: skipped until ``pytest --include known-bugs``.

Each seed is the shortest schedule found (among the first 2,500) that breaks an
invariant through one fault family of ``rebellion.simulation.KNOWN_BUGS``. Once the fix
lands, run ``pytest tests/simulation --include known-bugs`` (and
``python -m rebellion.simulation --seeds 10000 --include known-bugs``): every seed must
then pass, and the family can join the default run.
"""

from __future__ import annotations

import pytest

from rebellion.simulation import KNOWN_BUGS, run_schedule

SEEDS = {
    "hung-probe": 2009,  # pipeline: a probe that never returns keeps the breaker HALF_OPEN
    "retry-rejections": 1465,  # pipeline: retry sleeps after a CircuitOpenError, then retries
    "cancelled-waiters": 990,  # limiter: reservations of cancelled waiters never come back
    "timeout-starvation": 295,  # sync Timeout: hung calls of one policy starve another
    "hedge-cancel-counts": 203,  # Hedge.stats() misses a hedged call a Timeout cancelled
    "cache-outage-writes": 1776,  # cache: a write while Redis is lost leaves the old value
}


def test_every_known_bug_family_has_a_seed() -> None:
    assert set(SEEDS) == set(KNOWN_BUGS)


@pytest.mark.parametrize(("family", "seed"), sorted(SEEDS.items()))
def test_known_bug_seed_holds_every_invariant(family: str, seed: int, known_bugs: bool) -> None:
    if not known_bugs:
        pytest.skip(f"{family}: {KNOWN_BUGS[family]} (run with --include known-bugs)")
    result = run_schedule(seed, known_bugs=True)
    assert family in result.families
    assert result.violations == (), "\n".join(result.trace)
