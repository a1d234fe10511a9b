"""Fail-fast parameter checks that quote the parameter, the rule and the bad value."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TypeVar

from ._clock import SYSTEM_CLOCK, Clock
from .errors import ConfigError

__all__ = [
    "check_callable",
    "check_choice",
    "check_clock",
    "check_exception_types",
    "check_fraction",
    "check_int",
    "check_name",
    "check_number",
    "check_optional_number",
]

T = TypeVar("T")


def check_number(
    name: str,
    value: object,
    *,
    minimum: float | None = None,
    maximum: float | None = None,
    exclusive_minimum: bool = False,
    allow_inf: bool = False,
) -> float:
    """Return ``value`` as a float after checking it is a finite real number in range."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(name, _rule(minimum, maximum, exclusive_minimum, "a number"), value)
    number = float(value)
    if math.isnan(number) or (math.isinf(number) and not allow_inf):
        raise ConfigError(
            name, _rule(minimum, maximum, exclusive_minimum, "a finite number"), value
        )
    if minimum is not None and (number < minimum or (exclusive_minimum and number == minimum)):
        raise ConfigError(name, _rule(minimum, maximum, exclusive_minimum, "a number"), value)
    if maximum is not None and number > maximum:
        raise ConfigError(name, _rule(minimum, maximum, exclusive_minimum, "a number"), value)
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
    name: str, value: object, *, minimum: int | None = None, maximum: int | None = None
) -> int:
    """Return ``value`` after checking it is an ``int`` (not a bool) in range."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(name, _rule(minimum, maximum, False, "an integer"), value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ConfigError(name, _rule(minimum, maximum, False, "an integer"), value)
    return value


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


def _rule(minimum: float | None, maximum: float | None, exclusive: bool, kind: str) -> str:
    if minimum is not None and maximum is not None:
        low = "(" if exclusive else "["
        return f"{kind} in {low}{minimum:g}, {maximum:g}]"
    if minimum is not None:
        return f"{kind} {'>' if exclusive else '>='} {minimum:g}"
    if maximum is not None:
        return f"{kind} <= {maximum:g}"
    return kind
