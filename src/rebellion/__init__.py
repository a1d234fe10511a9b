"""System Rebellion: resilience policies for Python services, and a monitor that understands.

The public names live in small private modules and are re-exported here; ``__all__`` is
the contract (``tests/test_exports.py`` guards it).
"""

from __future__ import annotations

from ._clock import SYSTEM_CLOCK, Clock, SystemClock
from ._events import Event, EventStream, subscribe_all, unsubscribe_all
from ._registry import Registry, registry
from .errors import (
    BulkheadFullError,
    CircuitOpenError,
    CircuitOpenException,
    ConfigError,
    QueueFullError,
    RateLimitedError,
    RebellionError,
    RejectedError,
    RetryExhaustedError,
    TimeoutExceededError,
)
from .policies.classify import Classification, FailureClassifier, FailureKind, default_classifier

__version__ = "0.1.0"

__all__ = [
    "SYSTEM_CLOCK",
    "BulkheadFullError",
    "CircuitOpenError",
    "CircuitOpenException",
    "Classification",
    "Clock",
    "ConfigError",
    "Event",
    "EventStream",
    "FailureClassifier",
    "FailureKind",
    "QueueFullError",
    "RateLimitedError",
    "RebellionError",
    "Registry",
    "RejectedError",
    "RetryExhaustedError",
    "SystemClock",
    "TimeoutExceededError",
    "__version__",
    "default_classifier",
    "registry",
    "subscribe_all",
    "unsubscribe_all",
]
