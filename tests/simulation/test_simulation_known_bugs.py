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
    "cancelled-waiters": 990,  # limiter: a waiter cancelled mid-queue keeps its slot a while
    "cache-outage-writes": 1776,  # cache: a write while Redis is lost leaves the old value
}

# Seeds that found a bug which is now fixed: they run by default, as regressions.
FIXED = {
    "hedge-cancel-counts": 203,  # Hedge.stats() missed a hedged call a Timeout cancelled
    "hung-probe": 2009,  # a probe that never returned kept the breaker HALF_OPEN forever
    "retry-rejections": 1465,  # retry slept after a CircuitOpenError, then retried
    "timeout-starvation": 295,  # hung calls of one sync Timeout starved another
}


@pytest.mark.parametrize(("family", "seed"), sorted(FIXED.items()))
def test_seed_of_a_fixed_bug_holds_every_invariant(family: str, seed: int) -> None:
    result = run_schedule(seed)
    assert family in result.families
    assert result.violations == (), "\n".join(result.trace)


def test_every_known_bug_family_has_a_seed() -> None:
    assert set(SEEDS) == set(KNOWN_BUGS)


@pytest.mark.parametrize(("family", "seed"), sorted(SEEDS.items()))
def test_known_bug_seed_holds_every_invariant(family: str, seed: int, known_bugs: bool) -> None:
    if not known_bugs:
        pytest.skip(f"{family}: {KNOWN_BUGS[family]} (run with --include known-bugs)")
    result = run_schedule(seed, known_bugs=True)
    assert family in result.families
    assert result.violations == (), "\n".join(result.trace)
