"""Typed statistics of the in-process policies (retry, timeout, bulkhead, limiters, ...).

Every field is declared a counter, gauge, ratio, duration (seconds) or info (a label or
setting), in the vocabulary all policies share: ``calls``, ``successes``, ``failures``,
``rejections``, ``in_flight``... Older dict keys still read (``snap["active"]``).

>>> from rebellion.policies.bulkhead import Bulkhead
>>> snap = Bulkhead("db", max_concurrent=2).stats()
>>> snap.in_flight, snap.rejections, snap["active"], BulkheadSnapshot.measure("admitted")
(0, 0, 0, 'counter')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, final

from .._snapshot import Snapshot, counter, gauge, info, seconds
from .circuit_breaker._snapshot import BreakerSnapshot

__all__ = [
    "AdaptiveLimiterSnapshot",
    "BreakerSnapshot",
    "BulkheadSnapshot",
    "FallbackSnapshot",
    "HedgeSnapshot",
    "KeyedRateLimiterSnapshot",
    "PartitionSnapshot",
    "RateLimiterSnapshot",
    "RedisRateLimiterSnapshot",
    "RetryBudgetSnapshot",
    "RetrySnapshot",
    "TimeoutSnapshot",
]


@final
@dataclass(frozen=True, slots=True)
class RetrySnapshot(Snapshot):
    """Completed calls (``calls == successes + failures``), extra attempts, give-ups."""

    kind: str = info()
    name: str = info()
    calls: int = counter()
    successes: int = counter()
    failures: int = counter()
    retries: int = counter()
    gave_up: Mapping[str, int] = counter()
    suspended: bool = gauge()
    max_attempts: int = info()
    initial_delay: float = info()
    max_delay: float = info()
    backoff_factor: float = info()
    jitter: str = info()
    deadline: float | None = info()
    budget: Mapping[str, Any] | None = info()


@final
@dataclass(frozen=True, slots=True, eq=False)
class RetryBudgetSnapshot(Snapshot):
    """A retry budget's window (requests, retries, what is left) and lifetime totals."""

    kind: str = info()
    name: str = info()
    ratio: float = info()
    min_retries_per_second: float = info()
    ttl: float = info()
    window_requests: int = gauge()
    window_retries: int = gauge()
    available: int = gauge()
    withdrawn: int = counter()
    refused: int = counter()


@final
@dataclass(frozen=True, slots=True)
class TimeoutSnapshot(Snapshot):
    """Calls started, timeouts, refusals for want of a thread, and thread use."""

    kind: str = info()
    name: str = info()
    seconds: float = info()
    mode: str = info()
    max_threads: int = info()
    calls: int = counter()
    timeouts: int = counter()
    rejections: int = counter()
    threads: int = gauge()
    in_flight: int = gauge()
    abandoned: int = gauge()

    legacy: ClassVar[Mapping[str, str]] = {"rejected": "rejections", "busy": "in_flight"}


@final
@dataclass(frozen=True, slots=True)
class BulkheadSnapshot(Snapshot):
    """Limits, running and queued calls, and lifetime counters."""

    kind: str = info()
    name: str = info()
    max_concurrent: int = info()
    max_queue: int = info()
    max_wait: float | None = info()
    in_flight: int = gauge()
    queued: int = gauge()
    available: int = gauge()
    admitted: int = counter()
    rejections: int = counter()
    rejected_queue_full: int = counter()
    rejected_timeout: int = counter()
    cancelled: int = counter()
    mean_duration: float | None = seconds()

    legacy: ClassVar[Mapping[str, str]] = {"active": "in_flight", "rejected": "rejections"}


@final
@dataclass(frozen=True, slots=True)
class RateLimiterSnapshot(Snapshot):
    """Limits, tokens available now, and lifetime counters."""

    kind: str = info()
    name: str = info()
    rate: float = info()
    per: float = info()
    burst: float = info()
    max_wait: float = info()
    available: float = gauge()
    admitted: int = counter()
    rejections: int = counter()
    waited: int = counter()
    cancelled: int = counter()

    legacy: ClassVar[Mapping[str, str]] = {"rejected": "rejections"}


@final
@dataclass(frozen=True, slots=True)
class RedisRateLimiterSnapshot(Snapshot):
    """A shared limit: settings, the backend in use, and this process's counters."""

    kind: str = info()
    name: str = info()
    key: str = info()
    rate: float = info()
    per: float = info()
    burst: float = info()
    max_wait: float = info()
    backend: str = info()
    degraded: bool = gauge()
    local_rate: float = info()
    processes: int = info()
    degradations: int = counter()
    admitted: int = counter()
    rejections: int = counter()
    cancelled: int = counter()

    legacy: ClassVar[Mapping[str, str]] = {"rejected": "rejections"}


@final
@dataclass(frozen=True, slots=True)
class KeyedRateLimiterSnapshot(Snapshot):
    """Limits per key, keys remembered, and lifetime counters over every key."""

    kind: str = info()
    name: str = info()
    rate: float = info()
    per: float = info()
    burst: float = info()
    max_wait: float = info()
    key_count: int = gauge()  # not ``keys``: that is the mapping method
    max_keys: int = info()
    admitted: int = counter()
    rejections: int = counter()
    cancelled: int = counter()
    evicted: int = counter()
    evicted_in_debt: int = counter()

    legacy: ClassVar[Mapping[str, str]] = {"rejected": "rejections", "keys": "key_count"}


# Compared as mappings (eq=False keeps Mapping.__eq__): a snapshot equals the dict of
# its fields, as the dict form it replaces did.
@final
@dataclass(frozen=True, slots=True, eq=False)
class FallbackSnapshot(Snapshot):
    """Completed calls: ``calls == successes + fallbacks + failures``."""

    kind: str = info()
    name: str = info()
    calls: int = counter()
    successes: int = counter()
    fallbacks: int = counter()
    failures: int = counter()
    by_error: Mapping[str, int] = counter()
    on_result: int = counter()


@final
@dataclass(frozen=True, slots=True, eq=False)
class HedgeSnapshot(Snapshot):
    """Calls, attempts (first ones and hedges), wins by attempt index, current delay.

    Every finished call is a win (``wins_by_attempt``), a failure or ``cancelled`` (from
    outside, before any attempt won), so ``calls`` is their sum.
    """

    kind: str = info()
    name: str = info()
    calls: int = counter()
    attempts: int = counter()
    hedges: int = counter()
    failures: int = counter()
    cancelled: int = counter()
    wins_by_attempt: Sequence[int] = info()  # a list, as the dict form gave
    hedge_wins: int = counter()
    current_delay: float = seconds()
    samples: int = gauge()


@final
@dataclass(frozen=True, slots=True, eq=False)
class PartitionSnapshot(Snapshot):
    """One traffic class of an adaptive limiter: its share (percent) and figures."""

    kind: str = info()
    name: str = info()
    share: float = info()
    limit: int = gauge()
    in_flight: int = gauge()
    admitted: int = counter()
    rejections: int = counter()

    legacy: ClassVar[Mapping[str, str]] = {"inflight": "in_flight", "rejected": "rejections"}


@final
@dataclass(frozen=True, slots=True, eq=False)
class AdaptiveLimiterSnapshot(Snapshot):
    """The limit, calls in flight and queued, outcomes, and the algorithm's estimates.

    ``estimates`` holds what the algorithm keeps of its own (``long_rtt``,
    ``rtt_noload``, ``backoff_ratio``...); each also reads as ``snap["long_rtt"]``.
    """

    kind: str = info()
    name: str = info()
    algorithm: str = info()
    min_limit: int = info()
    max_limit: int = info()
    limit: int = gauge()
    in_flight: int = gauge()
    backlog: int = gauge()
    admitted: int = counter()
    rejections: int = counter()
    rejected_at_limit: int = counter()
    shed_from_backlog: int = counter()
    expired_in_backlog: int = counter()
    queued: int = counter()
    successes: int = counter()
    dropped: int = counter()
    failures: int = counter()
    ignored: int = counter()
    estimates: Mapping[str, float | None] = gauge()
    partitions: Mapping[str, Mapping[str, float]] = info()

    legacy: ClassVar[Mapping[str, str]] = {
        "inflight": "in_flight",
        "rejected": "rejections",
        "succeeded": "successes",
        "failed": "failures",
    }

    def __getitem__(self, key: str) -> Any:
        try:
            return Snapshot.__getitem__(self, key)
        except KeyError:
            if key in self.estimates:
                return self.estimates[key]
            raise
