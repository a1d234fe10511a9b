"""Health checks: ``HealthCheck`` subclasses answer ``check_health()`` with a ``HealthStatus``.

A check reports one of three levels: ``"ok"``, ``"degraded"`` or ``"critical"``, with a
message and free-form details. :class:`HealthRegistry` (``registry.py``) runs checks
on an interval with timeouts. Any circuit breaker is a ready-made check
(:class:`BreakerHealthCheck`), and so is a plain function (:class:`FunctionHealthCheck`).

>>> import asyncio
>>> class Disk(HealthCheck):
...     def __init__(self):
...         super().__init__("disk", "storage")
...     async def check_health(self):
...         return HealthStatus(status="ok", message="plenty of space", details={"free": 0.7})
>>> asyncio.run(Disk().check_health()).status
'ok'
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from inspect import isawaitable
from typing import Any, ClassVar, Final, final

from .._validate import check_choice, check_name, check_optional_number
from ..errors import ConfigError
from ..policies.circuit_breaker import CircuitBreaker, CircuitState

__all__ = [
    "CRITICAL",
    "DEGRADED",
    "OK",
    "STATUS_LEVELS",
    "BreakerHealthCheck",
    "FunctionHealthCheck",
    "HealthCheck",
    "HealthStatus",
    "worst",
]

OK: Final = "ok"
DEGRADED: Final = "degraded"
CRITICAL: Final = "critical"
STATUS_LEVELS: Final[tuple[str, ...]] = (OK, DEGRADED, CRITICAL)
"""The accepted statuses, from best to worst."""
_RANK: Final = {OK: 0, DEGRADED: 1, CRITICAL: 2}


def worst(statuses: Any) -> str:
    """Return the worst of ``statuses`` (``"ok"`` when there are none).

    >>> worst(["ok", "critical", "degraded"]), worst([])
    ('critical', 'ok')
    """
    rank = 0
    for status in statuses:
        level = _RANK[status]
        if level > rank:
            rank = level
    return STATUS_LEVELS[rank]


@final
@dataclass(frozen=True, slots=True)
class HealthStatus:
    """The answer of one health check.

    Args:
        status: ``"ok" | "degraded" | "critical"``.
        message: a short human-readable explanation.
        details: anything that helps an operator (counts, latencies, states).

    Raises:
        ConfigError: ``status`` is not one of the three levels.
    """

    OK: ClassVar[str] = OK
    DEGRADED: ClassVar[str] = DEGRADED
    CRITICAL: ClassVar[str] = CRITICAL

    status: str
    message: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_choice("status", self.status, STATUS_LEVELS)
        if not isinstance(self.message, str):
            raise ConfigError("message", "a string", self.message)
        if not isinstance(self.details, Mapping):
            raise ConfigError("details", "a mapping", self.details)

    @property
    def ok(self) -> bool:
        """Whether the status is ``"ok"``."""
        return self.status == OK

    @property
    def rank(self) -> int:
        """0 for ok, 1 for degraded, 2 for critical (for comparisons)."""
        return _RANK[self.status]

    def as_dict(self) -> dict[str, Any]:
        """Return the status as a JSON-friendly dict."""
        return {"status": self.status, "message": self.message, "details": dict(self.details)}


class HealthCheck(ABC):
    """Base class of every health check: subclass it and implement :meth:`check_health`.

    Args:
        name: unique name of the check within its registry (also the component name
            reported to an operation mode).
        component_type: a free label grouping checks (``"database"``, ``"llm_provider"``).
        timeout: seconds this check may take (``None``: the registry's default).
        critical: whether a ``"critical"`` answer makes the whole system critical.
            A non-critical check counts at most as ``"degraded"`` in the aggregate.

    Raises:
        ConfigError: a parameter is out of range; the message names it.
    """

    def __init__(
        self,
        name: str,
        component_type: str = "generic",
        *,
        timeout: float | None = None,
        critical: bool = True,
    ) -> None:
        self.name = check_name("name", name)
        self.component_type = check_name("component_type", component_type)
        self.timeout = check_optional_number(
            "timeout", timeout, minimum=0.0, exclusive_minimum=True
        )
        if not isinstance(critical, bool):
            raise ConfigError("critical", "True or False", critical)
        self.critical = critical

    @abstractmethod
    async def check_health(self) -> HealthStatus:
        """Probe the component and return its :class:`HealthStatus`.

        Raising counts as ``"critical"`` (the registry records the error in details);
        taking longer than the timeout counts as ``"critical"`` too.
        """

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, critical={self.critical})"


_CheckFn = Callable[[], "HealthStatus | bool | Awaitable[HealthStatus | bool]"]


@final
class FunctionHealthCheck(HealthCheck):
    """A health check made from a function (sync or async).

    The function returns a :class:`HealthStatus`, or a bool (``True`` is ``"ok"``,
    ``False`` is ``"critical"``).

    Args:
        name: the check's name.
        fn: the probe, called with no arguments.
        component_type: see :class:`HealthCheck`.
        timeout: see :class:`HealthCheck`.
        critical: see :class:`HealthCheck`.

    Raises:
        ConfigError: ``fn`` is not callable, or another parameter is invalid.
    """

    def __init__(
        self,
        name: str,
        fn: _CheckFn,
        component_type: str = "generic",
        *,
        timeout: float | None = None,
        critical: bool = True,
    ) -> None:
        super().__init__(name, component_type, timeout=timeout, critical=critical)
        if not callable(fn):
            raise ConfigError("fn", "a callable returning a HealthStatus or a bool", fn)
        self._fn = fn

    async def check_health(self) -> HealthStatus:
        outcome: object = self._fn()
        if isawaitable(outcome):
            outcome = await outcome
        if isinstance(outcome, HealthStatus):
            return outcome
        if outcome is True:
            return _HEALTHY
        if outcome is False:
            return HealthStatus(CRITICAL, f"{self.name} reported failure")
        raise TypeError(f"health check {self.name!r} returned {outcome!r}, not a HealthStatus")


_HEALTHY = HealthStatus(OK)

_BREAKER_LEVELS: Final = {
    CircuitState.CLOSED: OK,
    CircuitState.DISABLED: OK,
    CircuitState.METRICS_ONLY: OK,
    CircuitState.HALF_OPEN: DEGRADED,
    CircuitState.DEGRADED: DEGRADED,
    CircuitState.OPEN: CRITICAL,
    CircuitState.FORCED_OPEN: CRITICAL,
    CircuitState.ISOLATED: CRITICAL,
}


@final
class BreakerHealthCheck(HealthCheck):
    """Expose a :class:`~rebellion.CircuitBreaker` as a health check.

    OPEN, FORCED_OPEN and ISOLATED are ``"critical"``; HALF_OPEN and DEGRADED are
    ``"degraded"``; CLOSED, DISABLED and METRICS_ONLY are ``"ok"``. The details are the
    breaker's :meth:`~rebellion.CircuitBreaker.get_health_status`.

    Args:
        breaker: the breaker to watch.
        name: the check's name (default ``"breaker:<breaker name>"``).
        critical: see :class:`HealthCheck`.

    Raises:
        ConfigError: ``breaker`` is not a CircuitBreaker, or ``name`` is invalid.
    """

    def __init__(
        self, breaker: CircuitBreaker, *, name: str | None = None, critical: bool = True
    ) -> None:
        if not isinstance(breaker, CircuitBreaker):
            raise ConfigError("breaker", "a CircuitBreaker", breaker)
        super().__init__(
            f"breaker:{breaker.name}" if name is None else name,
            "circuit_breaker",
            critical=critical,
        )
        self.breaker = breaker

    async def check_health(self) -> HealthStatus:
        details = self.breaker.get_health_status()
        state = CircuitState(details["state"])
        level = _BREAKER_LEVELS[state]
        message = f"circuit breaker {self.breaker.name!r} is {state.value}"
        return HealthStatus(level, message, details)
