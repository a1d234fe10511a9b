"""Fail-fast parameter checks that quote the parameter, the rule and the bad value.

Every range is one the code can honour. Durations stop at :data:`MAX_DURATION` (about
31.7 years) and integers at :data:`MAX_INT`, so a value accepted here never overflows
later in a wait, a deadline, a numpy array or a bounded deque.

>>> check_duration("max_wait", 2.5)
2.5
>>> check_duration("max_wait", 1e308)
Traceback (most recent call last):
...
rebellion.errors.ConfigError: max_wait must be a number of seconds in [0, 1e+09], got 1e+308
>>> check_int("history", 10**100)
Traceback (most recent call last):
...
rebellion.errors.ConfigError: history must be an integer in [..., 9007199254740992], got 1000...
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TypeVar

from ._clock import SYSTEM_CLOCK, Clock
from .errors import ConfigError

__all__ = [
    "MAX_DURATION",
    "MAX_INT",
    "MIN_DURATION",
    "check_callable",
    "check_choice",
    "check_clock",
    "check_duration",
    "check_exception_types",
    "check_fraction",
    "check_int",
    "check_name",
    "check_number",
    "check_optional_duration",
    "check_optional_number",
    "check_seed",
]

T = TypeVar("T")

MAX_DURATION = 1e9
"""Longest duration, in seconds, that any parameter accepts (about 31.7 years).

Real waits end near 9.2e9 s (``threading.TIMEOUT_MAX``; ``time.sleep`` and lock timeouts
raise ``OverflowError`` beyond), and ``monotonic() + duration`` must stay precise; no
real setting needs more. Use ``None`` where a parameter means "no limit"."""

MIN_DURATION = 1e-9
"""Shortest positive duration, in seconds (a nanosecond, the clocks' resolution).

A positive duration below it is refused: divided into a clock reading it would leave the
float range (``now // 1e-320`` is infinite)."""

MAX_INT = 2**53
"""Largest integer that any count or size parameter accepts: it fits numpy's int64 with
room for arithmetic, is exact as a float, and is far beyond any real count."""


def check_number(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    allow_inf: bool = False,
    kind: str = "a number",
) -> float:
    """Return ``value`` as a float after checking it is a finite real number in range."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(name, _rule(minimum, maximum, exclusive_minimum, kind), value)
    try:
        number = float(value)
    except OverflowError:  # an int beyond the float range
        raise ConfigError(name, _rule(minimum, maximum, exclusive_minimum, kind), value) from None
    if math.isnan(number) or (math.isinf(number) and not allow_inf):
        finite = "a finite number" if kind == "a number" else kind
        raise ConfigError(name, _rule(minimum, maximum, exclusive_minimum, finite), value)
    if minimum is not None and (number < minimum or (exclusive_minimum and number == minimum)):
        raise ConfigError(name, _rule(minimum, maximum, exclusive_minimum, kind), value)
    if maximum is not None and number > maximum:
        raise ConfigError(name, _rule(minimum, maximum, exclusive_minimum, kind), value)
    return number


def check_optional_number(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
) -> float | None:
    """Like :func:`check_number` but ``None`` passes through."""
    if value is None:
        return None
    return check_number(
        name, value, minimum=minimum, maximum=maximum, exclusive_minimum=exclusive_minimum
    )


def check_int(
    name: str,
    value: object,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    bound: str | None = None,
) -> int:
    """Return ``value`` after checking it is an ``int`` (not a bool) in range.

    ``maximum`` defaults to :data:`MAX_INT`; the rule quotes it only when it is passed.
    ``bound`` names the parameter that ``maximum`` comes from, for the message.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(name, _rule(minimum, maximum, False, "an integer", bound), value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ConfigError(name, _rule(minimum, maximum, False, "an integer", bound), value)
    if not -MAX_INT <= value <= MAX_INT:
        low = -MAX_INT if minimum is None else minimum
        raise ConfigError(name, _rule(low, MAX_INT, False, "an integer"), value)
    return value


def check_duration(
    name: str,
    value: object,
    *,
    minimum: float = 0.0,
    exclusive_minimum: bool = False,
    maximum: float = MAX_DURATION,
    allow_inf: bool = False,
) -> float:
    """Return ``value`` as seconds, checked to be a finite number in ``[minimum, maximum]``.

    ``maximum`` cannot exceed :data:`MAX_DURATION`, and a duration that must be positive
    (``exclusive_minimum`` at 0) is at least :data:`MIN_DURATION`. With ``allow_inf``,
    ``math.inf`` (meaning "no limit") passes too; finite values still stop at the maximum.
    """
    top = min(maximum, MAX_DURATION)
    if exclusive_minimum and minimum <= 0.0:
        minimum, exclusive_minimum = MIN_DURATION, False
    if allow_inf and value == math.inf:
        return math.inf
    return check_number(
        name,
        value,
        minimum=minimum,
        maximum=top,
        exclusive_minimum=exclusive_minimum,
        kind="a number of seconds",
    )


def check_optional_duration(
    name: str, value: object, *, minimum: float = 0.0, exclusive_minimum: bool = False
) -> float | None:
    """Like :func:`check_duration` but ``None`` (no limit) passes through."""
    if value is None:
        return None
    return check_duration(name, value, minimum=minimum, exclusive_minimum=exclusive_minimum)


def check_fraction(name: str, value: object, *, allow_zero: bool = True) -> float:
    """Return ``value`` checked to lie in [0, 1] (or (0, 1] without ``allow_zero``)."""
    return check_number(name, value, minimum=0.0, maximum=1.0, exclusive_minimum=not allow_zero)


def check_choice(name: str, value: object, choices: Iterable[T]) -> T:
    """Return ``value`` if it is one of ``choices``; otherwise list the accepted values."""
    options = tuple(choices)
    for option in options:
        if value == option:
            return option
    accepted = " | ".join(repr(option) for option in options)
    raise ConfigError(name, f"one of {accepted}", value)


def check_clock(value: object) -> Clock:
    """Return ``value`` as a clock: ``None`` means the real clock, anything else must be one."""
    if value is None:
        return SYSTEM_CLOCK
    if not isinstance(value, Clock):
        raise ConfigError(
            "clock", "a Clock (monotonic, wall, sleep, sleep_async, call_later)", value
        )
    return value


def check_callable(name: str, value: object, rule: str = "a callable") -> None:
    """Raise :class:`ConfigError` unless ``value`` is callable."""
    if not callable(value):
        raise ConfigError(name, rule, value)


def check_name(name: str, value: object) -> str:
    """Return ``value`` checked to be a non-empty string without surrounding spaces."""
    if not isinstance(value, str) or not value or value.strip() != value:
        raise ConfigError(name, "a non-empty string without leading/trailing spaces", value)
    return value


def check_seed(value: object) -> int | None:
    """Return ``value`` checked to be a random seed: an ``int`` (not a bool) or ``None``."""
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError("seed", "an integer or None", value)
    return value


def check_exception_types(name: str, value: object) -> tuple[type[BaseException], ...]:
    """Normalise an exception class or an iterable of them into a tuple."""
    if isinstance(value, type) and issubclass(value, BaseException):
        return (value,)
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ConfigError(name, "an exception class or a list of exception classes", value)
    items = tuple(value)
    for item in items:
        if not (isinstance(item, type) and issubclass(item, BaseException)):
            raise ConfigError(name, "an exception class or a list of exception classes", value)
    return items


def _rule(
    minimum: float | None,
    maximum: float | None,
    exclusive: bool,
    kind: str,
    bound: str | None = None,
) -> str:
    top = "" if maximum is None else _shown(maximum)
    if bound is not None:
        top = f"{bound} ({top})"
    if minimum is not None and maximum is not None:
        low = "(" if exclusive else "["
        return f"{kind} in {low}{_shown(minimum)}, {top}]"
    if minimum is not None:
        return f"{kind} {'>' if exclusive else '>='} {_shown(minimum)}"
    if maximum is not None:
        return f"{kind} <= {top}"
    return kind


def _shown(bound: float) -> str:
    return str(bound) if isinstance(bound, int) else f"{bound:g}"
