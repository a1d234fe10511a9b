"""GCRA (the generic cell rate algorithm): a token bucket kept as one timestamp.

A bucket of ``burst`` tokens refilled at ``rate`` tokens per ``per`` seconds is fully
described by its *theoretical arrival time* ``tat``: the instant at which the bucket
would be full again. With ``interval = per / rate`` (seconds per token), taking ``n``
tokens at ``now`` means::

    new = max(tat, now) + n * interval
    admitted  iff  new - now <= burst * interval       (then tat = new)
    otherwise retry after  new - now - burst * interval seconds

So the not-limited path is one comparison and one store. It is written call-free
(see :mod:`rebellion.policies._atomic`), so on a GIL build it needs no lock; the
waiting paths take the lock.

**Waiting** reserves: ``tat`` moves on at once and the caller sleeps until its
admission time, so waiters are served in the order they arrived. A waiter cancelled
before its time gives its reservation back: the last one rolls ``tat`` back, and on
through the holes of earlier cancelled reservations that it reaches, so once every
waiter behind a point is gone the bucket is as if they had never queued; an earlier one
leaves a *hole* (its admission instant), which the next waiter that fits takes instead
of queueing at the end. Admissions therefore never exceed ``rate * t + burst`` over any
window of ``t`` seconds.

>>> core = GcraCore(rate=2.0, per=1.0, burst=2.0)
>>> core.take(1, 0.0), core.take(1, 0.0), core.take(1, 0.0)
(0.0, 0.0, 0.5)
>>> core.take(1, 0.5)
0.0
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from typing import final

from ..._validate import MAX_DURATION, check_duration, check_int, check_number
from ...errors import ConfigError
from .._atomic import GIL_ATOMIC

__all__ = ["EPSILON", "GcraCore", "check_cost", "check_rate", "emission"]

EPSILON = 1e-9
"""Float slack (seconds) so that exact boundaries are not refused by rounding."""


def check_rate(rate: object, per: object, burst: object) -> tuple[float, float, float]:
    """Validate ``rate``, ``per`` and ``burst`` (``None``: one period's worth, at least 1).

    Raises:
        ConfigError: naming the parameter.
    """
    r = check_number("rate", rate, minimum=0.0, exclusive_minimum=True)
    p = check_duration("per", per, exclusive_minimum=True)
    if p / r > MAX_DURATION:  # one token per 31 years is no rate the clock can keep
        raise ConfigError("rate", f"a number >= per / {MAX_DURATION:g} ({p / MAX_DURATION:g})", r)
    b = check_number("burst", max(1.0, r) if burst is None else burst, minimum=1.0)
    return r, p, b


def check_cost(n: object, burst: float) -> int:
    """Validate a token count against the bucket size."""
    cost = check_int("n", n, minimum=1)
    if cost > burst:
        raise ConfigError("n", f"an integer in [1, burst={burst:g}] (more can never pass)", n)
    return cost


def emission(rate: float, per: float, burst: float) -> tuple[float, float]:
    """Return GCRA's two parameters: the emission interval and the burst tolerance.

    Both are in the unit of ``per``: ``interval = per / rate`` is the time one token
    takes to come back, ``tolerance = burst * interval`` how far ahead of now the
    bucket's ``tat`` may run. Every GCRA in the package (the in-process bucket, each key
    of the keyed limiter, the Redis script) is parameterised from here.

    >>> emission(rate=4.0, per=1.0, burst=2.0)
    (0.25, 0.5)
    """
    interval = per / rate
    return interval, burst * interval


@final
class GcraCore:
    """One bucket's state and counters; ``take`` and ``reserve`` decide admissions."""

    __slots__ = (
        "admitted",
        "bound",
        "burst",
        "cancelled",
        "fast",
        "holes",
        "interval",
        "limit",
        "lock",
        "per",
        "rate",
        "rejected",
        "tat",
        "waited",
    )

    def __init__(
        self,
        rate: float,
        per: float,
        burst: float,
        lock: AbstractContextManager[object] | None = None,
    ) -> None:
        """Args: ``lock``: what guards the bucket (default: a lock of its own; a keyed
        limiter, whose own lock already covers every bucket, passes a no-op)."""
        self.lock: AbstractContextManager[object] = threading.Lock() if lock is None else lock
        self.fast = GIL_ATOMIC
        self.tat = 0.0
        self.holes: list[list[float]] = []
        self.admitted = 0
        self.rejected = 0
        self.waited = 0
        self.cancelled = 0
        self.rate = self.per = self.burst = self.interval = self.limit = self.bound = 0.0
        self._configure(rate, per, burst)

    def clone(self) -> GcraCore:
        """Return a full bucket with this one's settings, lock and mode (sharing them).

        A keyed limiter makes each new key's bucket so: a few references, no new lock.
        """
        twin = GcraCore.__new__(GcraCore)
        twin.lock, twin.fast, twin.tat, twin.holes = self.lock, self.fast, 0.0, []
        twin.admitted = twin.rejected = twin.waited = twin.cancelled = 0
        twin.rate, twin.per, twin.burst = self.rate, self.per, self.burst
        twin.interval, twin.limit, twin.bound = self.interval, self.limit, self.bound
        return twin

    def _configure(self, rate: float, per: float, burst: float) -> None:
        self.rate, self.per, self.burst = rate, per, burst
        self.interval, self.limit = emission(rate, per, burst)
        self.bound = self.limit + EPSILON

    def take(self, n: int, now: float) -> float:
        """Take ``n`` tokens now if they are there: return 0.0, else seconds to wait."""
        if not self.fast:
            with self.lock:
                return self.take_held(n, now)
        return self.take_held(n, now)

    def take_held(self, n: int, now: float) -> float:
        """:meth:`take` for a caller that holds the lock (or may go lock-free)."""
        # Call-free from the read of tat to its write.
        tat = self.tat
        if tat < now:
            tat = now
        new = tat + n * self.interval
        if new - now <= self.bound:
            self.tat = new
            self.admitted += 1
            return 0.0
        self.rejected += 1
        return new - now - self.limit

    def reserve(self, n: int, now: float, max_wait: float) -> tuple[float, float, float]:
        """Reserve ``n`` tokens for the earliest instant within ``max_wait`` seconds.

        Returns:
            ``(wait, at, token)``: sleep ``wait`` seconds (admitted at ``at``); ``token``
            identifies the reservation for :meth:`give_back`. If the admission lies
            beyond ``max_wait``, nothing is reserved and ``wait`` is the time it would
            take, with ``token`` NaN.
        """
        with self.lock:
            if self.holes:
                hole = self._take_hole(n, now, max_wait)
                if hole is not None:
                    self.admitted += 1
                    self.waited += 1
                    return hole - now, hole, -1.0
            tat = self.tat
            if tat < now:
                tat = now
            new = tat + n * self.interval
            wait = new - now - self.limit
            if wait > max_wait + EPSILON:
                self.rejected += 1
                return wait, now + wait, float("nan")
            self.tat = new
            self.admitted += 1
            if wait <= EPSILON:
                return 0.0, now, new
            self.waited += 1
            return wait, now + wait, new

    def _take_hole(self, n: int, now: float, max_wait: float) -> float | None:
        holes = self.holes
        # A hole in the past is capacity that went unused: it cannot be spent later.
        holes[:] = [hole for hole in holes if hole[0] >= now]
        for hole in holes:
            if hole[1] >= n and hole[0] - now <= max_wait + EPSILON:
                hole[1] -= n
                if not hole[1]:
                    holes.remove(hole)
                return hole[0]
        return None

    def give_back(self, n: int, at: float, token: float, now: float) -> None:
        """Return a reservation whose holder stopped waiting before its admission time."""
        with self.lock:
            if at <= now:
                return  # its time has come: the tokens were used
            self.admitted -= 1
            self.cancelled += 1
            if self.tat == token:  # the last reservation: roll the bucket back
                rolled, absorbed = self._roll_back(token - n * self.interval)
                # Call-free check-and-set: a lock-free take may have moved tat meanwhile.
                if self.tat == token:
                    self.tat = rolled
                    for hole in absorbed:
                        self.holes.remove(hole)
                    return
            # [admission instant, tokens left, tat after the reservation, tokens reserved]
            self.holes.append([at, float(n), token, float(n)])

    def _roll_back(self, tat: float) -> tuple[float, list[list[float]]]:
        """Return ``tat`` rolled back through whole holes that end where it stands."""
        absorbed: list[list[float]] = []
        found = True
        while found:
            found = False
            for hole in self.holes:
                if hole[1] == hole[3] and abs(hole[2] - tat) <= EPSILON:
                    absorbed.append(hole)
                    tat = hole[2] - hole[3] * self.interval
                    found = True
                    break
        return tat, absorbed

    def charge(self, n: int, now: float, ahead: float) -> None:
        """Count ``n`` tokens admitted elsewhere (debt capped at ``ahead`` past a full wait).

        A shared limiter mirrors its remote admissions here, so its local fallback
        starts from what this process really took rather than from a full bucket.
        """
        with self.lock:
            tat = self.tat
            if tat < now:
                tat = now
            self.tat = min(tat + n * self.interval, now + self.limit + ahead)

    def debt(self, now: float) -> float:
        """Return seconds until the bucket is full again (0 when it is full)."""
        return max(0.0, self.tat - now)

    def set_rate(self, rate: float, per: float, burst: float, now: float) -> None:
        """Change the rate and burst, keeping the bucket's debt in tokens.

        Waiters already sleeping keep their admission instants.
        """
        with self.lock:
            interval, limit = emission(rate, per, burst)
            ratio = interval / self.interval
            # Call-free from the read of tat to the last store.
            tat = self.tat
            if tat > now:
                tat = now + (tat - now) * ratio
            self.tat = tat
            self.interval = interval
            self.limit = limit
            self.bound = limit + EPSILON
            self.rate, self.per, self.burst = rate, per, burst
            self.holes = []  # slots planned under the old rate are not valid under the new

    def available(self, now: float) -> float:
        """Return how many tokens could be taken right now."""
        debt = self.tat - now
        if debt <= 0:
            return self.burst
        return max(0.0, self.burst - debt / self.interval)
