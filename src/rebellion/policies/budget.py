"""A retry budget: retries may add only a bounded share of recent traffic.

As in Finagle and Envoy, the cure for retry storms: when a dependency fails hard, every
caller retrying ``max_attempts`` times multiplies its load. A budget caps retries at
a ``ratio`` of the requests seen in the last ``ttl`` seconds, plus a floor of
``min_retries_per_second * ttl`` so low-traffic callers can still retry. One budget can
be shared by several :class:`~rebellion.policies.retry.Retry` policies.

>>> from rebellion.testing import ManualClock
>>> budget = RetryBudget(ratio=0.1, min_retries_per_second=0, ttl=10, clock=ManualClock())
>>> for _ in range(20):
...     budget.record_request()
>>> [budget.try_withdraw() for _ in range(3)]
[True, True, False]

Time is split into ``buckets`` slots of ``ttl / buckets`` seconds; running totals make
every operation O(1). :meth:`record_request` takes no lock: one clock read, a compare and
one atomic increment (a lock is taken only when a slot boundary is crossed).
"""

from __future__ import annotations

import itertools
import math
import threading
from typing import ClassVar, final

from .._clock import Clock
from .._registry import registry
from .._validate import check_clock, check_duration, check_int, check_name, check_number
from ..config import setting
from ..errors import ConfigError
from .snapshots import RetryBudgetSnapshot

__all__ = ["RetryBudget"]


@final
class RetryBudget:
    """Allow retries up to a ``ratio`` of recent requests plus a per-second floor.

    Args:
        ratio: retries allowed per request seen in the window, a fraction in [0, 1]
            (0.2: one retry per five requests); default
            ``REBELLION_RETRY_BUDGET_PERCENT`` / 100, or 0.2.
        min_retries_per_second: floor that holds even without traffic (>= 0); the window
            always allows ``min_retries_per_second * ttl`` retries. Default
            ``REBELLION_RETRY_BUDGET_MIN_PER_SECOND`` or 10.
        ttl: length of the sliding window in seconds (> 0).
        name: name shown in statistics and the registry.
        clock: time source (default: the system clock).
        buckets: slots the window is divided into (2..1000); more is finer, not slower.
        percent: the same limit in percent (``ratio * 100``), for code written against
            earlier versions; give one of the two.

    Raises:
        ConfigError: a parameter is out of range; the message names it.
    """

    kind: ClassVar[str] = "retry_budget"

    def __init__(
        self,
        ratio: float | None = None,
        min_retries_per_second: float | None = None,
        ttl: float = 10.0,
        *,
        name: str = "retry_budget",
        clock: Clock | None = None,
        buckets: int = 10,
        percent: float | None = None,
    ) -> None:
        if percent is not None:
            if ratio is not None:
                raise ConfigError("percent", "left out when ratio is given", percent)
            ratio = check_number("percent", percent, minimum=0.0, maximum=100.0) / 100.0
        if ratio is None:
            ratio = setting("retry.budget_percent") / 100.0
        self.ratio = check_number("ratio", ratio, minimum=0.0, maximum=1.0)
        if min_retries_per_second is None:
            min_retries_per_second = setting("retry.budget_min_per_second")
        self.min_retries_per_second = check_number(
            "min_retries_per_second", min_retries_per_second, minimum=0.0, maximum=1e9
        )
        self.ttl = check_duration("ttl", ttl, exclusive_minimum=True)
        self.name = check_name("name", name)
        self._clock = clock = check_clock(clock)
        self._monotonic = clock.monotonic
        self._slots = check_int("buckets", buckets, minimum=2, maximum=1000)
        # Slots per second: now * rate is exact for common ttls (4 // 0.4 is 9.0, not 10).
        self._rate = self._slots / self.ttl
        self._reserve = self.min_retries_per_second * self.ttl

        self._lock = threading.Lock()
        # Requests ever recorded: next() on itertools.count is one atomic C call.
        self._requests = itertools.count()
        self._request_tick = self._requests.__next__
        self._request_reads = 0
        # Per slot: request count when the slot began, and retries withdrawn in it.
        self._slot_start = [0] * self._slots
        self._slot_retries = [0] * self._slots
        self._window_retries = 0
        self._index = 0
        self._epoch = math.floor(clock.monotonic() * self._rate)
        self._slot_end = (self._epoch + 1) / self._rate
        self._withdrawn = 0
        self._refused = 0
        registry.track(self)

    # -- hot path --------------------------------------------------------------------

    def record_request(self) -> None:
        """Count one first attempt (call it once per request, never for retries)."""
        if self._monotonic() >= self._slot_end:
            with self._lock:
                self._rotate(self._monotonic())
        self._request_tick()

    def try_withdraw(self) -> bool:
        """Take one retry from the budget if it allows one.

        Returns:
            ``True`` (and the retry is counted) if allowed, ``False`` if exhausted.
        """
        now = self._clock.monotonic()
        with self._lock:
            self._rotate(now)
            if self._window_retries + 1 > self._allowance():
                self._refused += 1
                return False
            self._slot_retries[self._index] += 1
            self._window_retries += 1
            self._withdrawn += 1
            return True

    # -- internals (callers hold the lock) --------------------------------------------

    def _request_total(self) -> int:
        total = self._request_tick() - self._request_reads
        self._request_reads += 1
        return total

    def _window_requests(self) -> int:
        oldest = (self._index + 1) % self._slots
        return self._request_total() - self._slot_start[oldest]

    def _allowance(self) -> float:
        # Multiply before dividing: 30 * 10 / 100 is exactly 3, 30 * 0.1 is not.
        return self._window_requests() * self.ratio + self._reserve

    def _rotate(self, now: float) -> None:
        epoch = math.floor(now * self._rate)
        if epoch <= self._epoch:
            return
        steps = min(epoch - self._epoch, self._slots)
        total = self._request_total()
        index = self._index
        for _ in range(steps):
            index = (index + 1) % self._slots
            self._window_retries -= self._slot_retries[index]
            self._slot_retries[index] = 0
            self._slot_start[index] = total
        self._index = index
        self._epoch = epoch
        self._slot_end = (epoch + 1) / self._rate

    # -- observation -----------------------------------------------------------------

    @property
    def available(self) -> int:
        """How many retries the budget would allow right now."""
        with self._lock:
            self._rotate(self._clock.monotonic())
            return max(0, int(self._allowance() - self._window_retries))

    def stats(self) -> RetryBudgetSnapshot:
        """Return a snapshot: window requests/retries, what is available, totals."""
        with self._lock:
            self._rotate(self._clock.monotonic())
            requests = self._window_requests()
            allowance = requests * self.ratio + self._reserve
            return RetryBudgetSnapshot(
                kind=self.kind,
                name=self.name,
                ratio=self.ratio,
                min_retries_per_second=self.min_retries_per_second,
                ttl=self.ttl,
                window_requests=requests,
                window_retries=self._window_retries,
                available=max(0, int(allowance - self._window_retries)),
                withdrawn=self._withdrawn,
                refused=self._refused,
            )

    def __repr__(self) -> str:
        return (
            f"RetryBudget(name={self.name!r}, ratio={self.ratio:g}, "
            f"min_retries_per_second={self.min_retries_per_second:g}, ttl={self.ttl:g})"
        )
