"""Alert severities shared by the metrics collector and the alerting engine.

Severities are ordered, so ``min_severity`` filters compare with ``>=``:

>>> from rebellion.metrics.severity import AlertSeverity
>>> AlertSeverity.ERROR >= AlertSeverity.WARNING
True
>>> AlertSeverity.coerce("critical")
<AlertSeverity.CRITICAL: 'critical'>
>>> AlertSeverity.CRITICAL.rank
3
"""

from __future__ import annotations

import enum
from typing import final

from ..errors import ConfigError

__all__ = ["AlertSeverity"]

_ORDER = ("info", "warning", "error", "critical")


@final
class AlertSeverity(enum.Enum):
    """How urgent an alert is: ``INFO`` < ``WARNING`` < ``ERROR`` < ``CRITICAL``."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Return the position in the order (``INFO`` is 0, ``CRITICAL`` is 3)."""
        return _ORDER.index(self.value)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, AlertSeverity):
            return NotImplemented
        return self.rank < other.rank

    def __le__(self, other: object) -> bool:
        if not isinstance(other, AlertSeverity):
            return NotImplemented
        return self.rank <= other.rank

    def __gt__(self, other: object) -> bool:
        if not isinstance(other, AlertSeverity):
            return NotImplemented
        return self.rank > other.rank

    def __ge__(self, other: object) -> bool:
        if not isinstance(other, AlertSeverity):
            return NotImplemented
        return self.rank >= other.rank

    @classmethod
    def coerce(cls, value: object, parameter: str = "severity") -> AlertSeverity:
        """Return ``value`` as a severity; names and values are accepted in any case.

        Args:
            value: An ``AlertSeverity`` or a string such as ``"error"`` / ``"ERROR"``.
            parameter: The parameter name used in the error message.

        Returns:
            The matching ``AlertSeverity``.

        Raises:
            ConfigError: ``value`` names no severity; the message names ``parameter``.
        """
        if isinstance(value, AlertSeverity):
            return value
        if isinstance(value, str):
            key = value.strip().lower()
            if key in _ORDER:
                return cls(key)
        accepted = " | ".join(repr(s) for s in _ORDER)
        raise ConfigError(parameter, f"an AlertSeverity or one of {accepted}", value)
