"""Operation modes, degraded-component states and the rules that map one to the other.

>>> rule = ModeRule.degraded(EMERGENCY, count=2)
>>> rule.description
'2+ component(s) degraded at low+'
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final, final

from .._validate import check_callable, check_int
from ..errors import ConfigError
from ..policies.recovery import ErrorSeverity

__all__ = [
    "DEFAULT_RULES",
    "DEGRADED",
    "EMERGENCY",
    "MODES",
    "MODE_RANK",
    "NORMAL",
    "ComponentState",
    "ModeListener",
    "ModeRule",
    "check_choice_mode",
]

NORMAL: Final = "NORMAL"
DEGRADED: Final = "DEGRADED"
EMERGENCY: Final = "EMERGENCY"
MODES: Final[tuple[str, ...]] = (NORMAL, DEGRADED, EMERGENCY)
"""The modes, from best to worst."""
MODE_RANK: Final = {mode: rank for rank, mode in enumerate(MODES)}
_SEVERITY_RANK: Final = {severity: rank for rank, severity in enumerate(ErrorSeverity)}

ModeListener = Callable[[str, str, list[dict[str, Any]]], object]
"""``fn(old_mode, new_mode, reasons)``; may be ``async def``."""


@final
@dataclass(frozen=True, slots=True)
class ComponentState:
    """A degraded component: why, how badly, since when (monotonic and wall seconds)."""

    component: str
    reason: str
    severity: ErrorSeverity
    since: float
    at: float


@final
@dataclass(frozen=True, slots=True)
class ModeRule:
    """``mode`` holds while ``when(degraded_components)`` is true.

    Rules are evaluated under the mode's lock on every change: keep them pure and fast.

    Args:
        mode: ``"DEGRADED"`` or ``"EMERGENCY"``.
        when: predicate over ``{component: ComponentState}`` (degraded ones only).
        description: shown in statistics and reasons.
    """

    mode: str
    when: Callable[[Mapping[str, ComponentState]], bool]
    description: str = "custom rule"

    def __post_init__(self) -> None:
        check_choice_mode(self.mode)
        check_callable("when", self.when)

    @classmethod
    def degraded(
        cls,
        mode: str,
        *,
        count: int = 1,
        severity: str | ErrorSeverity = ErrorSeverity.LOW,
        components: Iterable[str] | None = None,
    ) -> ModeRule:
        """Return a rule: ``count``+ components degraded at ``severity`` or worse.

        Args:
            mode: the mode the rule selects.
            count: how many components must match (>= 1).
            severity: the least severity that counts.
            components: only these components count (default: all).

        Raises:
            ConfigError: a parameter is out of range; the message names it.
        """
        check_int("count", count, minimum=1)
        floor = _SEVERITY_RANK[ErrorSeverity.coerce(severity)]
        only = None if components is None else frozenset(components)

        def when(states: Mapping[str, ComponentState]) -> bool:
            matching = 0
            for name, state in states.items():
                if _SEVERITY_RANK[state.severity] >= floor and (only is None or name in only):
                    matching += 1
            return matching >= count

        scope = "" if only is None else f" among {sorted(only)}"
        label = ErrorSeverity.coerce(severity).value
        return cls(mode, when, f"{count}+ component(s){scope} degraded at {label}+")


def check_choice_mode(mode: object, parameter: str = "mode") -> str:
    """Return ``mode`` if it is DEGRADED or EMERGENCY, else raise naming ``parameter``."""
    if mode not in (DEGRADED, EMERGENCY):
        raise ConfigError(parameter, "'DEGRADED' | 'EMERGENCY'", mode)
    return str(mode)


DEFAULT_RULES: Final = (
    ModeRule.degraded(EMERGENCY, severity=ErrorSeverity.CRITICAL),
    ModeRule.degraded(DEGRADED),
)
