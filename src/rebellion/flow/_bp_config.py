"""Names and checks shared by the backpressure handler: strategies, drop reasons, levels.

>>> check_thresholds([(0.5, 2), (0.9, 8)])
((0.5, 2), (0.9, 8))
>>> SamplingStrategy("latest") is SamplingStrategy.LATEST
True
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from ..errors import ConfigError

__all__ = ["DEFAULT_THRESHOLDS", "EVICTIONS", "DropReason", "SamplingStrategy", "check_thresholds"]


class SamplingStrategy(enum.StrEnum):
    """What a full buffer gives up; compares equal to its lower-case name."""

    LATEST = "latest"
    OLDEST = "oldest"
    PRIORITY = "priority"
    SAMPLE = "sample"
    BLOCK = "block"


class DropReason(enum.StrEnum):
    """Why an item was lost (the keys of ``stats()["dropped_by_reason"]``)."""

    OVERFLOW_OLDEST = "overflow_oldest"  # evicted: a newer item took its place
    OVERFLOW_NEWEST = "overflow_newest"  # rejected: buffer full ("oldest")
    EVICTED_LOW_PRIORITY = "evicted_low_priority"  # evicted by a higher priority
    REJECTED_LOW_PRIORITY = "rejected_low_priority"  # rejected: below everything buffered
    SAMPLED_OUT = "sampled_out"  # rejected by adaptive or reservoir sampling
    REPLACED_BY_SAMPLE = "replaced_by_sample"  # evicted by a reservoir replacement
    REJECTED_FULL = "rejected_full"  # rejected: "block" buffer full (QueueFullError)


EVICTIONS = frozenset(
    {DropReason.OVERFLOW_OLDEST, DropReason.EVICTED_LOW_PRIORITY, DropReason.REPLACED_BY_SAMPLE}
)

DEFAULT_THRESHOLDS: tuple[tuple[float, int], ...] = ((0.5, 2), (0.75, 4), (0.9, 8))
"""Adaptive sampling: at fill ratio >= threshold keep every ``stride``-th item."""


def check_thresholds(value: object) -> tuple[tuple[float, int], ...]:
    """Return adaptive-sampling levels checked to ascend in fill ratio and stride."""
    rule = "a list of (fill ratio in (0, 1], stride >= 2) pairs with ascending fill and stride"
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ConfigError("thresholds", rule, value)
    pairs: list[tuple[float, int]] = []
    for pair in value:
        if not isinstance(pair, tuple | list) or len(pair) != 2:
            raise ConfigError("thresholds", rule, value)
        fill, stride = pair
        if isinstance(fill, bool) or not isinstance(fill, int | float) or not 0 < fill <= 1:
            raise ConfigError("thresholds", rule, value)
        if isinstance(stride, bool) or not isinstance(stride, int) or stride < 2:
            raise ConfigError("thresholds", rule, value)
        if pairs and (fill <= pairs[-1][0] or stride < pairs[-1][1]):
            raise ConfigError("thresholds", rule, value)
        pairs.append((float(fill), stride))
    return tuple(pairs)
