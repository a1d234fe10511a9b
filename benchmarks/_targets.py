"""The core policies' performance targets, evaluated against measured medians.

A target is *met*, *missed* (with the actual ratio) or *n/a* when a contender it
needs was not measured. Ratios are of medians, so one noisy round cannot flip them.

>>> medians = {("g", "ours"): 100.0, ("g", "peer"): 450.0}
>>> faster_by("g", "ours", "peer", 4.0).evaluate(medians)
('met', '4.50x faster (needs >= 4x)')
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["TARGETS", "Target", "absolute", "at_most_times", "cheapest", "faster_by"]

Medians = dict[tuple[str, str], float]
"""``(group, contender) -> median ns/op`` of everything measured in this run."""


@dataclass(frozen=True, slots=True)
class Target:
    """One target: its wording and how to judge it from the medians."""

    text: str
    judge: Callable[[Medians], tuple[str, str]]

    def evaluate(self, medians: Medians) -> tuple[str, str]:
        """Return ``(status, detail)``; status is ``met``, ``MISSED`` or ``n/a``."""
        return self.judge(medians)


def _missing(medians: Medians, group: str, names: list[str]) -> tuple[str, str] | None:
    absent = [n for n in names if (group, n) not in medians]
    if absent:
        return "n/a", "not measured: " + ", ".join(absent)
    return None


def at_most_times(group: str, subject: str, reference: str, limit: float) -> Target:
    """``subject`` costs at most ``limit`` times ``reference``."""

    def judge(medians: Medians) -> tuple[str, str]:
        if gap := _missing(medians, group, [subject, reference]):
            return gap
        ratio = medians[group, subject] / medians[group, reference]
        return ("met" if ratio <= limit else "MISSED"), f"{ratio:.2f}x (needs <= {limit:g}x)"

    return Target(f"{group}: {subject} <= {limit:g}x {reference}", judge)


def faster_by(group: str, subject: str, peer: str, factor: float) -> Target:
    """``subject`` is at least ``factor`` times faster than ``peer``."""

    def judge(medians: Medians) -> tuple[str, str]:
        if gap := _missing(medians, group, [subject, peer]):
            return gap
        ratio = medians[group, peer] / medians[group, subject]
        status = "met" if ratio >= factor else "MISSED"
        return status, f"{ratio:.2f}x faster (needs >= {factor:g}x)"

    return Target(f"{group}: {subject} >= {factor:g}x faster than {peer}", judge)


def cheapest(group: str, subjects: list[str], peers: list[str]) -> Target:
    """The slowest of ``subjects`` is cheaper than the fastest of ``peers``."""

    def judge(medians: Medians) -> tuple[str, str]:
        if gap := _missing(medians, group, subjects + peers):
            return gap
        ours = max(medians[group, s] for s in subjects)
        best_peer = min(peers, key=lambda p: medians[group, p])
        ratio = medians[group, best_peer] / ours
        status = "met" if ratio > 1.0 else "MISSED"
        return status, f"{ratio:.2f}x cheaper than the cheapest peer ({best_peer})"

    wording = " / ".join(subjects)
    return Target(f"{group}: {wording} cheaper than every peer", judge)


def absolute(group: str, subject: str, limit_ns: float) -> Target:
    """``subject`` takes at most ``limit_ns`` per operation."""

    def judge(medians: Medians) -> tuple[str, str]:
        if gap := _missing(medians, group, [subject]):
            return gap
        value = medians[group, subject]
        status = "met" if value <= limit_ns else "MISSED"
        return status, f"{value:,.0f} ns (needs <= {limit_ns:,.0f} ns)"

    return Target(f"{group}: {subject} <= {limit_ns:,.0f} ns", judge)


_OPEN = "breaker_open_rejection"
TARGETS = [
    at_most_times("breaker_sync_success", "rebellion @breaker", "pass-through decorator", 2.5),
    faster_by("breaker_sync_success", "rebellion @breaker", "circuitbreaker @circuit", 2.0),
    faster_by("breaker_sync_success", "rebellion @breaker", "pybreaker @breaker", 5.0),
    faster_by(
        "breaker_async_success", "rebellion @breaker (async)", "aiobreaker @breaker (async)", 4.0
    ),
    faster_by("retry_success", "rebellion @Retry", "tenacity @retry", 20.0),
    faster_by("retry_success", "rebellion @Retry (async)", "tenacity @retry (async)", 20.0),
    cheapest(
        _OPEN,
        ["rebellion @breaker (tripped)", "rebellion @breaker (forced)"],
        [
            "circuitbreaker @circuit",
            "pybreaker @breaker",
            "aiobreaker @breaker (sync)",
            "purgatory @breaker (sync)",
        ],
    ),
    cheapest(
        _OPEN,
        ["rebellion @breaker (async, tripped)", "rebellion @breaker (async, forced)"],
        [
            "circuitbreaker @circuit (async)",
            "aiobreaker @breaker (async)",
            "purgatory @breaker (async)",
        ],
    ),
    absolute("pipeline_async", "rebellion @Pipeline(4 policies) (async)", 2000.0),
]
"""Every core policy target, in a fixed order."""
