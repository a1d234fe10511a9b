"""Backoff delays: capped exponential growth with optional jitter.

Pure and reusable (retry, reconnecting clients): nothing here sleeps or reads a clock.
The delay before retry ``n`` (``n = 1`` after the first failed attempt) starts from
``initial_delay * backoff_factor ** (n - 1)``, capped at ``max_delay``, then jittered:

* ``"none"`` - the capped exponential delay ``d`` itself;
* ``"full"`` - uniform in ``[0, d]``;
* ``"equal"`` - ``d / 2`` plus uniform in ``[0, d / 2]``;
* ``"decorrelated"`` - AWS's ``min(max_delay, uniform(initial_delay, previous * 3))``,
  where ``previous`` is the last delay (``initial_delay`` at first).

Randomness comes from a :class:`random.Random` you pass in, so tests can seed it.

>>> backoff = Backoff(initial_delay=0.1, max_delay=1.0, backoff_factor=2.0, jitter="none")
>>> [round(backoff.delay(n), 3) for n in range(1, 7)]
[0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
>>> import random
>>> delays = Backoff(0.1, 1.0, jitter="full").delays(random.Random(7))
>>> all(0.0 <= next(delays) <= 1.0 for _ in range(100))
True
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, final

from .._validate import check_choice, check_duration, check_number
from ..errors import ConfigError

__all__ = ["JITTER_KINDS", "Backoff", "Jitter"]

Jitter = Literal["none", "full", "equal", "decorrelated"]
JITTER_KINDS: tuple[Jitter, ...] = ("none", "full", "equal", "decorrelated")
"""The accepted ``jitter`` names."""

_DEFAULT_RNG = random.Random()


@final
@dataclass(frozen=True, slots=True)
class Backoff:
    """A validated backoff schedule.

    Args:
        initial_delay: seconds before the first retry (>= 0).
        max_delay: cap on any delay (>= ``initial_delay``).
        backoff_factor: growth per retry (>= 1).
        jitter: one of ``"none" | "full" | "equal" | "decorrelated"``.

    Raises:
        ConfigError: a parameter is out of range; the message names it.
    """

    initial_delay: float
    max_delay: float
    backoff_factor: float = 2.0
    jitter: Jitter = "full"

    def __post_init__(self) -> None:
        initial = check_duration("initial_delay", self.initial_delay)
        cap = check_duration("max_delay", self.max_delay)
        factor = check_number("backoff_factor", self.backoff_factor, minimum=1.0)
        jitter = check_choice("jitter", self.jitter, JITTER_KINDS)
        if initial > cap:
            raise ConfigError(
                "initial_delay", f"a number <= max_delay ({cap:g})", self.initial_delay
            )
        object.__setattr__(self, "initial_delay", initial)
        object.__setattr__(self, "max_delay", cap)
        object.__setattr__(self, "backoff_factor", factor)
        object.__setattr__(self, "jitter", jitter)

    def base_delay(self, attempt: int) -> float:
        """Return the capped exponential delay before retry ``attempt`` (no jitter).

        Args:
            attempt: 1 for the first retry, 2 for the second, ...
        """
        if attempt < 1:
            raise ConfigError("attempt", "an integer >= 1", attempt)
        if self.initial_delay == 0.0:
            return 0.0
        try:
            delay = self.initial_delay * self.backoff_factor ** (attempt - 1)
        except OverflowError:
            # factor ** n left the float range long after it passed max_delay.
            return self.max_delay
        return delay if delay < self.max_delay else self.max_delay

    def delay(
        self, attempt: int, previous: float | None = None, rng: random.Random | None = None
    ) -> float:
        """Return the jittered delay before retry ``attempt``.

        Args:
            attempt: 1 for the first retry, 2 for the second, ...
            previous: the delay returned for the previous retry (used by
                ``"decorrelated"``; ``None`` means ``initial_delay``).
            rng: source of randomness; a private shared one if ``None``.

        Returns:
            Seconds to wait, always within ``[0, max_delay]``.
        """
        jitter = self.jitter
        if jitter == "decorrelated":
            source = _DEFAULT_RNG if rng is None else rng
            last = self.initial_delay if previous is None else previous
            value = source.uniform(self.initial_delay, last * 3.0)
            return min(self.max_delay, max(0.0, value))
        base = self.base_delay(attempt)
        if jitter == "none" or base == 0.0:
            return base
        source = _DEFAULT_RNG if rng is None else rng
        if jitter == "full":
            return min(base, source.uniform(0.0, base))
        half = base / 2.0
        return min(base, half + source.uniform(0.0, half))

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """Yield the delay before retry 1, 2, 3, ... forever."""
        previous: float | None = None
        attempt = 1
        while True:
            previous = self.delay(attempt, previous, rng)
            yield previous
            attempt += 1
