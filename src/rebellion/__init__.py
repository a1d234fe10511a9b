"""System Rebellion: resilience policies for Python services, and a monitor that understands.

The public names live in small private modules and are re-exported here; ``__all__`` is
the contract (``tests/test_exports.py`` guards it).
"""

from __future__ import annotations

from ._clock import SYSTEM_CLOCK, Clock, SystemClock
from ._events import Event, EventStream, subscribe_all, unsubscribe_all
from ._registry import Registry, registry
from .cache import (
    CacheTierFailed,
    CacheTierRecovered,
    DistributedCache,
    SerializationError,
    StaleValueServed,
)
from .durable import PersistentRequestQueue, RedisRequestQueue, RetryableRequest
from .errors import (
    BulkheadFullError,
    CircuitOpenError,
    CircuitOpenException,
    ConfigError,
    LimitExceededError,
    QueueFullError,
    RateLimitedError,
    RebellionError,
    RejectedError,
    RetryExhaustedError,
    TimeoutExceededError,
)
from .flow import (
    BackpressureHandler,
    BatchCompleted,
    BatchConfig,
    BatchFailed,
    BatchPriority,
    BatchProcessor,
    BatchResult,
    BatchStrategy,
    DeadLetter,
    DropReason,
    ItemsDeadLettered,
    ItemsDropped,
    PressureChanged,
    SamplingStrategy,
    get_backpressure_handler,
)
from .policies.adaptive import (
    AdaptiveLimiter,
    AIMDLimit,
    CallShed,
    Gradient2Limit,
    LimitAlgorithm,
    LimitChanged,
    VegasLimit,
    get_adaptive_limiter,
)
from .policies.budget import RetryBudget
from .policies.bulkhead import Bulkhead, BulkheadRejected, BulkheadResized, get_bulkhead
from .policies.chaos import Chaos, FaultInjected
from .policies.circuit_breaker import (
    CallRejected,
    CircuitBreaker,
    CircuitFailureRecorded,
    CircuitState,
    CircuitStateChanged,
    get_circuit_breaker,
)
from .policies.circuit_breaker.shared import (
    SharedCircuitBreaker,
    SharedStateRestored,
    SharedStateUnavailable,
)
from .policies.classify import Classification, FailureClassifier, FailureKind, default_classifier
from .policies.fallback import Fallback, FallbackUsed
from .policies.hedge import Hedge, HedgeStarted, HedgeWon
from .policies.pipeline import Pipeline, PipelineWarning
from .policies.ratelimit import (
    KeyedRateLimiter,
    RateChanged,
    RateLimiter,
    RateLimiterDegraded,
    RateLimiterRecovered,
    RateLimitExceeded,
    RedisRateLimiter,
    get_rate_limiter,
)
from .policies.recovery import (
    ErrorHandled,
    ErrorRecord,
    ErrorRecovery,
    ErrorSeverity,
    RecoveryContext,
    RecoveryFailed,
    error_recovery,
    with_error_recovery,
)
from .policies.retry import (
    Retry,
    RetryGaveUp,
    RetryScheduled,
    RetryState,
    RetrySucceeded,
    get_retry_policy,
)
from .policies.timeout import Timeout, TimeoutOccurred

__version__ = "0.1.0"

__all__ = [
    "AIMDLimit",
    "AdaptiveLimiter",
    "BackpressureHandler",
    "BatchCompleted",
    "BatchConfig",
    "BatchFailed",
    "BatchPriority",
    "BatchProcessor",
    "BatchResult",
    "BatchStrategy",
    "Bulkhead",
    "BulkheadFullError",
    "BulkheadRejected",
    "BulkheadResized",
    "CacheTierFailed",
    "CacheTierRecovered",
    "CallRejected",
    "CallShed",
    "Chaos",
    "CircuitBreaker",
    "CircuitFailureRecorded",
    "CircuitOpenError",
    "CircuitOpenException",
    "CircuitState",
    "CircuitStateChanged",
    "Classification",
    "Clock",
    "ConfigError",
    "DeadLetter",
    "DistributedCache",
    "DropReason",
    "ErrorHandled",
    "ErrorRecord",
    "ErrorRecovery",
    "ErrorSeverity",
    "Event",
    "EventStream",
    "FailureClassifier",
    "FailureKind",
    "Fallback",
    "FallbackUsed",
    "FaultInjected",
    "Gradient2Limit",
    "Hedge",
    "HedgeStarted",
    "HedgeWon",
    "ItemsDeadLettered",
    "ItemsDropped",
    "KeyedRateLimiter",
    "LimitAlgorithm",
    "LimitChanged",
    "LimitExceededError",
    "PersistentRequestQueue",
    "Pipeline",
    "PipelineWarning",
    "PressureChanged",
    "QueueFullError",
    "RateChanged",
    "RateLimitExceeded",
    "RateLimitedError",
    "RateLimiter",
    "RateLimiterDegraded",
    "RateLimiterRecovered",
    "RebellionError",
    "RecoveryContext",
    "RecoveryFailed",
    "RedisRateLimiter",
    "RedisRequestQueue",
    "Registry",
    "RejectedError",
    "Retry",
    "RetryBudget",
    "RetryExhaustedError",
    "RetryGaveUp",
    "RetryScheduled",
    "RetryState",
    "RetrySucceeded",
    "RetryableRequest",
    "SYSTEM_CLOCK",
    "SamplingStrategy",
    "SerializationError",
    "SharedCircuitBreaker",
    "SharedStateRestored",
    "SharedStateUnavailable",
    "StaleValueServed",
    "SystemClock",
    "Timeout",
    "TimeoutExceededError",
    "TimeoutOccurred",
    "VegasLimit",
    "__version__",
    "default_classifier",
    "error_recovery",
    "get_adaptive_limiter",
    "get_backpressure_handler",
    "get_bulkhead",
    "get_circuit_breaker",
    "get_rate_limiter",
    "get_retry_policy",
    "registry",
    "subscribe_all",
    "unsubscribe_all",
    "with_error_recovery",
]
