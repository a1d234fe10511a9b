"""Command line: ``python -m rebellion.simulation --seeds N`` or ``--seed S --verbose``.

Runs seeded schedules and ends with exactly one line,
``simulation: N schedules, V violations``; the exit status is 1 when V > 0. Each
failing seed is printed with its violations and the command that replays it.

>>> main(["--seeds", "2", "--scenario", "limiter"])
simulation: 2 schedules, 0 violations
0
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._runner import SCENARIOS, Summary, run_many
from ._world import KNOWN_BUGS, ScheduleResult
from .shared_breaker import redis_url

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rebellion.simulation",
        description="Run seeded fault schedules against the policies, queue, cache and "
        "shared breaker, checking invariants after every step.",
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--seeds", type=int, default=200, help="run seeds FIRST..FIRST+N-1")
    which.add_argument("--seed", type=int, help="run this one seed")
    parser.add_argument("--first", type=int, default=0, help="first seed of --seeds")
    parser.add_argument("--verbose", action="store_true", help="print the schedule (trace)")
    parser.add_argument(
        "--include",
        action="append",
        default=[],
        choices=["known-bugs"],
        help="known-bugs: also run the fault families that hit bugs being fixed",
    )
    parser.add_argument(
        "--scenario", action="append", choices=sorted(SCENARIOS), help="restrict to these"
    )
    return parser


def _report(result: ScheduleResult, *, verbose: bool, known_bugs: bool) -> None:
    if verbose:
        print(f"seed {result.seed}: {result.scenario}, families {list(result.families)}")
        for line in result.trace:
            print(line)
    if not result.violations:
        return
    print(f"seed {result.seed} ({result.scenario}): {len(result.violations)} violation(s)")
    for violation in result.violations:
        print(f"  step {violation.step} t={violation.at:.3f} {violation.invariant}")
        print(f"    {violation.detail}")
    flag = " --include known-bugs" if known_bugs else ""
    print(f"  reproduce: python -m rebellion.simulation --seed {result.seed} --verbose{flag}")


def _footer(summary: Summary, known_bugs: bool) -> None:
    counts = ", ".join(f"{name} {n}" for name, n in sorted(summary.by_scenario.items()))
    print(f"scenarios: {counts}")
    if any(name.startswith("shared-breaker") for name in summary.by_scenario):
        if summary.skipped:
            print(f"shared breaker: no Redis at {redis_url()}: {summary.skipped} schedules skipped")
        else:
            print(f"shared breaker: real Redis at {redis_url()}")
    if known_bugs:
        print(f"known-bug families included: {', '.join(KNOWN_BUGS)}")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the simulation from the command line; return the exit status."""
    args = _parser().parse_args(argv)
    known_bugs = "known-bugs" in args.include
    seeds = [args.seed] if args.seed is not None else range(args.first, args.first + args.seeds)
    if args.seed is None and args.seeds < 0:
        _parser().error("--seeds must be >= 0")
    single = args.seed is not None

    def show(result: ScheduleResult) -> None:
        _report(
            result,
            verbose=args.verbose and (single or bool(result.violations)),
            known_bugs=known_bugs,
        )

    summary = run_many(seeds, known_bugs=known_bugs, scenarios=args.scenario, on_result=show)
    if len(summary.by_scenario) > 1 or summary.skipped or known_bugs:
        _footer(summary, known_bugs)
    print(summary.line())
    return 1 if summary.violations else 0


if __name__ == "__main__":
    sys.exit(main())
