"""Run rebellion's benchmarks against peer libraries and print (or write) the results.

Usage::

    python benchmarks/run.py                      # every group, ~25 ms x 15 rounds each
    python benchmarks/run.py --only retry_success --rounds 25
    python benchmarks/run.py --write benchmarks/RESULTS.md
    python benchmarks/run.py --smoke              # seconds: proves every contender runs

Figures are medians of ns per call across interleaved rounds, not assertions. In
``--smoke`` mode a rebellion contender that cannot be built is an error (exit 1); in
a full run it is reported as "not available yet" and the run continues. A contender
whose operation does not do what it claims (wrong result, no exception, no rejection)
is always an error.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

from _common import Contender, Group
from _harness import (
    Prepared,
    Runner,
    Settings,
    Unavailable,
    VerificationError,
    measure_group,
    verify,
)
from _report import (
    DISTRIBUTIONS,
    GroupResult,
    library_versions,
    machine_info,
    markdown_table,
    text_table,
)
from _targets import TARGETS as FOUNDATION_TARGETS
from _targets import Target

__all__ = ["all_groups", "all_targets", "main"]

_FIRST = ["_breakers", "_retries"]
"""Group modules reported first; every other ``_*.py`` with a ``groups()`` follows by name."""


def _group_modules() -> list[ModuleType]:
    here = Path(__file__).resolve().parent
    names = _FIRST + sorted(p.stem for p in here.glob("_*.py") if p.stem not in _FIRST)
    modules = [importlib.import_module(name) for name in names]
    return [m for m in modules if callable(getattr(m, "groups", None))]


def all_groups() -> list[Group]:
    """Return every benchmark group, in report order.

    A group module is any ``benchmarks/_*.py`` with a ``groups()`` function; it may also
    define ``TARGETS`` (a list of :class:`Target`) judged after the run.
    """
    return [group for module in _group_modules() for group in module.groups()]


def all_targets() -> list[Target]:
    """Return the core policies' targets followed by every group module's ``TARGETS``."""
    extra = [t for m in _group_modules() for t in getattr(m, "TARGETS", [])]
    return [*FOUNDATION_TARGETS, *extra]


def _build(contender: Contender, runner: Runner) -> tuple[Prepared | None, str]:
    """Build ``contender``; return it, or None and why it is skipped (or errs)."""
    ours = contender.library == "rebellion"
    try:
        op = contender.build(runner)
        prepared = Prepared(contender.name, contender.library, op)
        if contender.optional:
            verify(op, runner)
    except ImportError as error:
        reason = f"{type(error).__name__}: {error}"
        if ours:
            return None, f"not available yet: {reason}"
        return None, f"not installed: {reason}"
    except (Unavailable, VerificationError) as error:
        if contender.optional:
            return None, f"not supported: {type(error).__name__}: {error}"
        raise
    return prepared, ""


def run_group(group: Group, runner: Runner, settings: Settings) -> GroupResult:
    """Build, verify and measure one group; collect skips and errors."""
    result = GroupResult(group)
    prepared: list[Prepared] = []
    for contender in group.contenders:
        try:
            built, why = _build(contender, runner)
        except Exception as error:
            result.errors.append(f"{contender.name}: {type(error).__name__}: {error}")
            continue
        if built is None:
            required = contender.library == "rebellion" and not contender.optional
            if settings.smoke and required:
                result.errors.append(f"rebellion contender {contender.name!r} is {why}")
            else:
                result.skipped.append((contender.name, why))
            continue
        try:
            verify(built.op, runner)
        except VerificationError as error:
            result.errors.append(f"{contender.name} ({contender.library}): {error}")
            continue
        prepared.append(built)
    try:
        result.measurements = measure_group(prepared, runner, settings)
    except VerificationError as error:
        result.errors.append(f"after timing: {error}")
    return result


def _targets(results: list[GroupResult], smoke: bool = False) -> list[tuple[str, str, str]]:
    medians = {(r.group.name, m.name): m.median_ns for r in results for m in r.measurements}
    ran = {r.group.name for r in results}
    out = []
    for target in all_targets():
        group = target.text.split(":", 1)[0]
        if group not in ran:
            continue
        status, detail = target.evaluate(medians)
        if smoke and status != "n/a":
            status, detail = "smoke", f"{detail}; not judged in a smoke run"
        out.append((status, target.text, detail))
    return out


def _libraries(results: list[GroupResult]) -> list[str]:
    seen = {m.prepared.library for r in results for m in r.measurements}
    return [lib for lib in DISTRIBUTIONS if lib in seen or lib == "rebellion"]


def _markdown(results: list[GroupResult], settings: Settings, argv: list[str]) -> str:
    out = [
        "# Benchmark results",
        "",
        "Produced by `python benchmarks/run.py "
        + " ".join(argv)
        + "` (`make bench` runs it with `--write benchmarks/RESULTS.md`). "
        "Figures, not assertions: median ns per call across "
        f"{settings.rounds} interleaved rounds of ~{settings.round_ms:g} ms per contender, "
        "IQR across rounds, ratios against the same mode's bare call and pass-through "
        "decorator (loop overhead included in every figure). See `benchmarks/README.md`.",
        "",
        "## Machine",
        "",
        *[f"- {label}: {value}" for label, value in machine_info()],
        "",
        "## Libraries",
        "",
        *[f"- {lib} {version}" for lib, version in library_versions(_libraries(results))],
        "",
        "## Targets",
        "",
        "| status | target | measured |",
        "|:--|:--|:--|",
        *[f"| {s} | {t} | {d} |" for s, t, d in _targets(results, settings.smoke)],
        "",
        "## Groups",
        "",
    ]
    for result in results:
        out.append(markdown_table(result))
    return "\n".join(out).rstrip() + "\n"


def _json(results: list[GroupResult], smoke: bool) -> dict[str, Any]:
    return {
        "groups": {
            r.group.name: {
                "measured": [
                    {
                        "name": m.name,
                        "library": m.prepared.library,
                        "mode": m.mode,
                        "median_ns": m.median_ns,
                        "iqr_ns": m.iqr_ns,
                        "iterations": m.iterations,
                        "rounds": len(m.per_op_ns),
                    }
                    for m in r.measurements
                ],
                "skipped": [{"name": n, "reason": why} for n, why in r.skipped],
                "errors": r.errors,
            }
            for r in results
        },
        "targets": [
            {"status": s, "target": t, "detail": d} for s, t, d in _targets(results, smoke)
        ],
    }


def _parse(argv: list[str]) -> argparse.Namespace:
    names = [g.name for g in all_groups()]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--smoke", action="store_true", help="tiny run: prove every contender works"
    )
    parser.add_argument("--write", metavar="PATH", help="also write the results as Markdown")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--only",
        metavar="GROUP",
        action="append",
        choices=names,
        help="run only GROUP (repeatable)",
    )
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds per contender (15)")
    parser.add_argument("--round-ms", type=float, default=25.0, help="target ms per round (25)")
    parser.add_argument("--seed", type=int, default=2024, help="seed of the round shuffles")
    args = parser.parse_args(argv)
    if args.rounds < 1 or args.round_ms <= 0:
        parser.error("--rounds must be >= 1 and --round-ms > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run the selected groups; return 0, or 1 if any contender failed or is missing."""
    argv = sys.argv[1:] if argv is None else argv
    args = _parse(argv)
    settings = Settings(
        smoke=args.smoke, rounds=args.rounds, round_ms=args.round_ms, seed=args.seed
    )
    groups = [g for g in all_groups() if not args.only or g.name in args.only]
    # Peers' deprecation warnings (e.g. datetime.utcnow) must not disturb the timings.
    warnings.simplefilter("ignore")
    runner = Runner()
    results = []
    try:
        for group in groups:
            print(f"... {group.name}", file=sys.stderr, flush=True)
            result = run_group(group, runner, settings)
            results.append(result)
            print(text_table(result) + "\n", flush=True)
    finally:
        runner.close()
    if args.smoke:
        print("(smoke run: the figures above prove the contenders run, they measure nothing)")
    print("== TARGETS ==")
    for status, text, detail in _targets(results, settings.smoke):
        print(f"  [{status:^6}] {text}: {detail}")
    if args.write:
        Path(args.write).write_text(_markdown(results, settings, argv))
        print(f"wrote {args.write}")
    if args.json:
        Path(args.json).write_text(json.dumps(_json(results, settings.smoke), indent=2))
    errors = [f"{r.group.name}: {e}" for r in results for e in r.errors]
    for error in errors:
        print(f"ERROR {error}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
