"""Policy adjustments an operation mode applies on entry and reverts on exit.

An adjustment is anything with ``apply(mode)`` and ``revert()`` (:class:`Adjustment`).
Built-ins: :class:`RetryOff` suspends a :class:`~rebellion.Retry` (exactly one attempt
per call), :class:`ScaleCap` scales a capacity by a factor (a bulkhead's
``resize``, a rate limiter's ``set_rate``, an adaptive limiter's ``set_max_limit``,
whichever the target has) and restores it, and :class:`ModeAdjustment` wraps two
functions.

>>> from rebellion import Retry
>>> retry = Retry(max_attempts=3)
>>> off = RetryOff(retry)
>>> off.apply("EMERGENCY"); retry.suspended
True
>>> off.revert(); retry.suspended
False
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any, Protocol, final, runtime_checkable

from .._validate import check_callable, check_number
from ..errors import ConfigError
from ..policies.retry import Retry

__all__ = ["Adjustment", "ModeAdjustment", "RetryOff", "ScaleCap"]


@runtime_checkable
class Adjustment(Protocol):
    """What an operation mode needs from a policy adjustment."""

    def apply(self, mode: str) -> None:
        """Change the policy for ``mode`` (called when the mode is entered)."""
        ...

    def revert(self) -> None:
        """Undo :meth:`apply` (called when the mode is left)."""
        ...


@final
class ModeAdjustment:
    """An adjustment made of two functions.

    Args:
        apply: called with the new mode's name when the mode is entered.
        revert: called with no arguments when the mode is left.
        name: a label for statistics and logs.

    Raises:
        ConfigError: ``apply`` or ``revert`` is not callable.
    """

    def __init__(
        self,
        apply: Callable[[str], object],
        revert: Callable[[], object],
        *,
        name: str = "adjustment",
    ) -> None:
        check_callable("apply", apply)
        check_callable("revert", revert)
        self._apply = apply
        self._revert = revert
        self.name = name

    def apply(self, mode: str) -> None:
        self._apply(mode)

    def revert(self) -> None:
        self._revert()

    def __repr__(self) -> str:
        return f"ModeAdjustment(name={self.name!r})"


@final
class RetryOff:
    """Suspend a retry policy while the mode holds (see :meth:`Retry.suspend`).

    Args:
        retry: the policy to switch off.

    Raises:
        ConfigError: ``retry`` is not a :class:`~rebellion.Retry`.
    """

    def __init__(self, retry: Retry) -> None:
        if not isinstance(retry, Retry):
            raise ConfigError("retry", "a rebellion Retry policy", retry)
        self.retry = retry
        self._held = False
        self._lock = threading.Lock()

    def apply(self, mode: str) -> None:
        with self._lock:
            if self._held:
                return
            self._held = True
        self.retry.suspend()

    def revert(self) -> None:
        with self._lock:
            if not self._held:
                return
            self._held = False
        self.retry.resume()

    def __repr__(self) -> str:
        return f"RetryOff({self.retry.name!r}, active={self._held})"


# (setter method, attribute holding the current cap, whether the cap is an integer)
_SETTERS: tuple[tuple[str, str, bool], ...] = (
    ("resize", "max_concurrent", True),
    ("set_rate", "rate", False),
    ("set_max_limit", "max_limit", True),
)


@final
class ScaleCap:
    """Scale a capacity by ``factor`` while the mode holds, then restore it.

    The target is duck-typed: the first of ``resize(n)`` (bulkhead, reading
    ``max_concurrent``), ``set_rate(r)`` (rate limiter, reading ``rate``) and
    ``set_max_limit(n)`` (adaptive limiter, reading ``max_limit``) it has is used.
    Integer caps are rounded and never go below ``minimum`` (nor the target's
    ``min_limit``, if it has one). :meth:`revert` restores the value read at
    :meth:`apply`, even if someone changed the cap in between.

    Args:
        target: the bulkhead, rate limiter or adaptive limiter.
        factor: multiplier, > 0 (0.5 halves the cap; > 1 raises it).
        minimum: the smallest cap :meth:`apply` sets (> 0).

    Raises:
        ConfigError: ``target`` has none of the setters, or ``factor``/``minimum`` is
            out of range.
    """

    def __init__(self, target: object, factor: float, *, minimum: float = 1) -> None:
        self.factor = check_number("factor", factor, minimum=0.0, exclusive_minimum=True)
        self.minimum = check_number("minimum", minimum, minimum=0.0, exclusive_minimum=True)
        for setter, attribute, integral in _SETTERS:
            if callable(getattr(target, setter, None)):
                if not hasattr(target, attribute):
                    raise ConfigError(
                        "target", f"an object with {setter}() and a {attribute} attribute", target
                    )
                self._setter = setter
                self._attribute = attribute
                self._integral = integral
                break
        else:
            raise ConfigError(
                "target",
                "an object with resize(), set_rate() or set_max_limit() "
                "(a Bulkhead, RateLimiter or AdaptiveLimiter)",
                target,
            )
        self.target = target
        self._original: Any = None
        self._lock = threading.Lock()

    @property
    def active(self) -> bool:
        """Whether the cap is currently scaled."""
        return self._original is not None

    def apply(self, mode: str) -> None:
        with self._lock:
            if self._original is not None:
                return
            original = getattr(self.target, self._attribute)
            scaled: float = original * self.factor
            floor = max(self.minimum, _min_limit(self.target))
            scaled = max(math.ceil(floor), round(scaled)) if self._integral else max(floor, scaled)
            getattr(self.target, self._setter)(scaled)
            self._original = original

    def revert(self) -> None:
        with self._lock:
            original, self._original = self._original, None
            if original is not None:
                getattr(self.target, self._setter)(original)

    def __repr__(self) -> str:
        return f"ScaleCap({type(self.target).__name__}.{self._setter}, factor={self.factor:g})"


def _min_limit(target: object) -> float:
    # An adaptive limiter keeps its floor on its algorithm; scaling below it is refused.
    for holder in (target, getattr(target, "algorithm", None)):
        value = getattr(holder, "min_limit", None)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return 0.0
