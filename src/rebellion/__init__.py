"""System Rebellion: resilience policies for Python services, and a monitor that understands.

``__all__`` is the curated surface most programs need (``tests/test_exports.py`` guards
it). Every other public name lives in its subpackage (``rebellion.policies.hedge``,
``rebellion.health``, ...) and still resolves here on first use, so older imports keep
working without loading NumPy, Redis, the cache, the queue or the health package early:

>>> import rebellion
>>> rebellion.SystemOperationMode.__module__
'rebellion.health.mode'
>>> "CircuitBreaker" in rebellion.__all__, "SystemOperationMode" in rebellion.__all__
(True, False)
"""

import functools as _functools
import importlib as _importlib
import typing as _typing

from ._events import Event, subscribe_all, unsubscribe_all
from ._registry import registry
from .errors import (
    BulkheadFullError,
    CircuitOpenError,
    ConfigError,
    QueueFullError,
    RateLimitedError,
    RebellionError,
    RejectedError,
    RetryExhaustedError,
    TimeoutExceededError,
)

if _typing.TYPE_CHECKING:
    __version__: str
    from ._clock import SYSTEM_CLOCK as SYSTEM_CLOCK
    from ._clock import Clock as Clock
    from ._clock import SystemClock as SystemClock
    from ._events import EventStream as EventStream
    from ._registry import Registry as Registry
    from .cache import CacheOptimizer as CacheOptimizer
    from .cache import CacheOptimizerConfig as CacheOptimizerConfig
    from .cache import CacheTierFailed as CacheTierFailed
    from .cache import CacheTierRecovered as CacheTierRecovered
    from .cache import DistributedCache as DistributedCache
    from .cache import StaleValueServed as StaleValueServed
    from .config import get_adaptive_limiter as get_adaptive_limiter
    from .config import get_backpressure_handler as get_backpressure_handler
    from .config import get_bulkhead as get_bulkhead
    from .config import get_circuit_breaker as get_circuit_breaker
    from .config import get_metric_transformer as get_metric_transformer
    from .config import get_rate_limiter as get_rate_limiter
    from .config import get_retry_policy as get_retry_policy
    from .config import load_config as load_config
    from .config import reload_config as reload_config
    from .durable import PersistentRequestQueue as PersistentRequestQueue
    from .durable import RedisRequestQueue as RedisRequestQueue
    from .durable import RequestQueue as RequestQueue
    from .durable import RetryableRequest as RetryableRequest
    from .errors import BackendUnavailableError as BackendUnavailableError
    from .errors import CircuitOpenException as CircuitOpenException
    from .errors import ConnectionUnavailableError as ConnectionUnavailableError
    from .errors import LimitExceededError as LimitExceededError
    from .errors import PoolExhaustedError as PoolExhaustedError
    from .errors import SerializationError as SerializationError
    from .errors import StorageError as StorageError
    from .errors import StorageFullError as StorageFullError
    from .errors import StoreCorruptError as StoreCorruptError
    from .flow import BackpressureHandler as BackpressureHandler
    from .flow import BatchCompleted as BatchCompleted
    from .flow import BatchConfig as BatchConfig
    from .flow import BatchFailed as BatchFailed
    from .flow import BatchPriority as BatchPriority
    from .flow import BatchProcessor as BatchProcessor
    from .flow import BatchResult as BatchResult
    from .flow import BatchStrategy as BatchStrategy
    from .flow import DeadLetter as DeadLetter
    from .flow import DropReason as DropReason
    from .flow import ItemsDeadLettered as ItemsDeadLettered
    from .flow import ItemsDropped as ItemsDropped
    from .flow import PressureChanged as PressureChanged
    from .flow import SamplingStrategy as SamplingStrategy
    from .health import Adjustment as Adjustment
    from .health import BreakerHealthCheck as BreakerHealthCheck
    from .health import CheckResult as CheckResult
    from .health import ComponentDegraded as ComponentDegraded
    from .health import ComponentRecovered as ComponentRecovered
    from .health import ConnectionManager as ConnectionManager
    from .health import ConnectionPool as ConnectionPool
    from .health import ConnectionState as ConnectionState
    from .health import ConnectionStateChanged as ConnectionStateChanged
    from .health import FunctionHealthCheck as FunctionHealthCheck
    from .health import HealthCheck as HealthCheck
    from .health import HealthCheckChanged as HealthCheckChanged
    from .health import HealthRegistry as HealthRegistry
    from .health import HealthReport as HealthReport
    from .health import HealthStatus as HealthStatus
    from .health import ModeAdjustment as ModeAdjustment
    from .health import ModeRule as ModeRule
    from .health import OperationModeChanged as OperationModeChanged
    from .health import PhiAccrualFailureDetector as PhiAccrualFailureDetector
    from .health import PoolConnectionClosed as PoolConnectionClosed
    from .health import PoolConnectionOpened as PoolConnectionOpened
    from .health import PoolTargetResized as PoolTargetResized
    from .health import ReconnectScheduled as ReconnectScheduled
    from .health import RetryOff as RetryOff
    from .health import ScaleCap as ScaleCap
    from .health import SystemHealthChanged as SystemHealthChanged
    from .health import SystemOperationMode as SystemOperationMode
    from .metrics import AlertSeverity as AlertSeverity
    from .metrics import AnomalyDetector as AnomalyDetector
    from .metrics import MetricsCollector as MetricsCollector
    from .metrics import MetricsConfig as MetricsConfig
    from .policies.adaptive import AdaptiveLimiter as AdaptiveLimiter
    from .policies.adaptive import AIMDLimit as AIMDLimit
    from .policies.adaptive import CallShed as CallShed
    from .policies.adaptive import Gradient2Limit as Gradient2Limit
    from .policies.adaptive import LimitAlgorithm as LimitAlgorithm
    from .policies.adaptive import LimitChanged as LimitChanged
    from .policies.adaptive import VegasLimit as VegasLimit
    from .policies.budget import RetryBudget as RetryBudget
    from .policies.bulkhead import Bulkhead as Bulkhead
    from .policies.bulkhead import BulkheadRejected as BulkheadRejected
    from .policies.bulkhead import BulkheadResized as BulkheadResized
    from .policies.chaos import Chaos as Chaos
    from .policies.chaos import FaultInjected as FaultInjected
    from .policies.circuit_breaker import CallRejected as CallRejected
    from .policies.circuit_breaker import CircuitBreaker as CircuitBreaker
    from .policies.circuit_breaker import CircuitFailureRecorded as CircuitFailureRecorded
    from .policies.circuit_breaker import CircuitState as CircuitState
    from .policies.circuit_breaker import CircuitStateChanged as CircuitStateChanged
    from .policies.circuit_breaker.shared import SharedCircuitBreaker as SharedCircuitBreaker
    from .policies.circuit_breaker.shared import SharedStateRestored as SharedStateRestored
    from .policies.circuit_breaker.shared import SharedStateUnavailable as SharedStateUnavailable
    from .policies.classify import Classification as Classification
    from .policies.classify import FailureClassifier as FailureClassifier
    from .policies.classify import FailureKind as FailureKind
    from .policies.classify import default_classifier as default_classifier
    from .policies.fallback import Fallback as Fallback
    from .policies.fallback import FallbackUsed as FallbackUsed
    from .policies.hedge import Hedge as Hedge
    from .policies.hedge import HedgeStarted as HedgeStarted
    from .policies.hedge import HedgeWon as HedgeWon
    from .policies.pipeline import Pipeline as Pipeline
    from .policies.pipeline import PipelineWarning as PipelineWarning
    from .policies.ratelimit import KeyedRateLimiter as KeyedRateLimiter
    from .policies.ratelimit import RateChanged as RateChanged
    from .policies.ratelimit import RateLimiter as RateLimiter
    from .policies.ratelimit import RateLimiterDegraded as RateLimiterDegraded
    from .policies.ratelimit import RateLimiterRecovered as RateLimiterRecovered
    from .policies.ratelimit import RateLimitExceeded as RateLimitExceeded
    from .policies.ratelimit import RedisRateLimiter as RedisRateLimiter
    from .policies.recovery import AutonomousErrorRecovery as AutonomousErrorRecovery
    from .policies.recovery import ErrorHandled as ErrorHandled
    from .policies.recovery import ErrorRecord as ErrorRecord
    from .policies.recovery import ErrorRecovery as ErrorRecovery
    from .policies.recovery import ErrorSeverity as ErrorSeverity
    from .policies.recovery import ErrorTypeRecovery as ErrorTypeRecovery
    from .policies.recovery import RecoveryContext as RecoveryContext
    from .policies.recovery import RecoveryFailed as RecoveryFailed
    from .policies.recovery import error_recovery as error_recovery
    from .policies.recovery import with_error_recovery as with_error_recovery
    from .policies.retry import Retry as Retry
    from .policies.retry import RetryGaveUp as RetryGaveUp
    from .policies.retry import RetryScheduled as RetryScheduled
    from .policies.retry import RetryState as RetryState
    from .policies.retry import RetrySucceeded as RetrySucceeded
    from .policies.timeout import Timeout as Timeout
    from .policies.timeout import TimeoutOccurred as TimeoutOccurred

__all__ = [
    "AdaptiveLimiter",
    "BackpressureHandler",
    "BatchProcessor",
    "Bulkhead",
    "BulkheadFullError",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "ConfigError",
    "DistributedCache",
    "ErrorRecovery",
    "Event",
    "Fallback",
    "HealthRegistry",
    "Hedge",
    "Pipeline",
    "QueueFullError",
    "RateLimitedError",
    "RateLimiter",
    "RebellionError",
    "RejectedError",
    "Retry",
    "RetryBudget",
    "RetryExhaustedError",
    "Timeout",
    "TimeoutExceededError",
    "__version__",
    "get_adaptive_limiter",
    "get_backpressure_handler",
    "get_bulkhead",
    "get_circuit_breaker",
    "get_rate_limiter",
    "get_retry_policy",
    "load_config",
    "registry",
    "subscribe_all",
    "unsubscribe_all",
    "with_error_recovery",
]

# Defining module -> names it lends to the root, imported on first access (PEP 562).
_LAZY_BY_MODULE: dict[str, tuple[str, ...]] = {
    "_clock": ("Clock", "SYSTEM_CLOCK", "SystemClock"),
    "_events": ("EventStream",),
    "_registry": ("Registry",),
    "cache": (
        "CacheOptimizer",
        "CacheOptimizerConfig",
        "CacheTierFailed",
        "CacheTierRecovered",
        "DistributedCache",
        "StaleValueServed",
    ),
    "config": (
        "get_adaptive_limiter",
        "get_backpressure_handler",
        "get_bulkhead",
        "get_circuit_breaker",
        "get_metric_transformer",
        "get_rate_limiter",
        "get_retry_policy",
        "load_config",
        "reload_config",
    ),
    "durable": ("PersistentRequestQueue", "RedisRequestQueue", "RequestQueue", "RetryableRequest"),
    "errors": (
        "BackendUnavailableError",
        "CircuitOpenException",
        "ConnectionUnavailableError",
        "LimitExceededError",
        "PoolExhaustedError",
        "SerializationError",
        "StorageError",
        "StorageFullError",
        "StoreCorruptError",
    ),
    "flow": (
        "BackpressureHandler",
        "BatchCompleted",
        "BatchConfig",
        "BatchFailed",
        "BatchPriority",
        "BatchProcessor",
        "BatchResult",
        "BatchStrategy",
        "DeadLetter",
        "DropReason",
        "ItemsDeadLettered",
        "ItemsDropped",
        "PressureChanged",
        "SamplingStrategy",
    ),
    "health": (
        "Adjustment",
        "BreakerHealthCheck",
        "CheckResult",
        "ComponentDegraded",
        "ComponentRecovered",
        "ConnectionManager",
        "ConnectionPool",
        "ConnectionState",
        "ConnectionStateChanged",
        "FunctionHealthCheck",
        "HealthCheck",
        "HealthCheckChanged",
        "HealthRegistry",
        "HealthReport",
        "HealthStatus",
        "ModeAdjustment",
        "ModeRule",
        "OperationModeChanged",
        "PhiAccrualFailureDetector",
        "PoolConnectionClosed",
        "PoolConnectionOpened",
        "PoolTargetResized",
        "ReconnectScheduled",
        "RetryOff",
        "ScaleCap",
        "SystemHealthChanged",
        "SystemOperationMode",
    ),
    "metrics": (
        "AlertSeverity",
        "AnomalyDetector",
        "MetricsCollector",
        "MetricsConfig",
    ),
    "policies.adaptive": (
        "AIMDLimit",
        "AdaptiveLimiter",
        "CallShed",
        "Gradient2Limit",
        "LimitAlgorithm",
        "LimitChanged",
        "VegasLimit",
    ),
    "policies.budget": ("RetryBudget",),
    "policies.bulkhead": ("Bulkhead", "BulkheadRejected", "BulkheadResized"),
    "policies.chaos": ("Chaos", "FaultInjected"),
    "policies.circuit_breaker": (
        "CallRejected",
        "CircuitBreaker",
        "CircuitFailureRecorded",
        "CircuitState",
        "CircuitStateChanged",
    ),
    "policies.circuit_breaker.shared": (
        "SharedCircuitBreaker",
        "SharedStateRestored",
        "SharedStateUnavailable",
    ),
    "policies.classify": (
        "Classification",
        "FailureClassifier",
        "FailureKind",
        "default_classifier",
    ),
    "policies.fallback": ("Fallback", "FallbackUsed"),
    "policies.hedge": ("Hedge", "HedgeStarted", "HedgeWon"),
    "policies.pipeline": ("Pipeline", "PipelineWarning"),
    "policies.ratelimit": (
        "KeyedRateLimiter",
        "RateChanged",
        "RateLimitExceeded",
        "RateLimiter",
        "RateLimiterDegraded",
        "RateLimiterRecovered",
        "RedisRateLimiter",
    ),
    "policies.recovery": (
        "AutonomousErrorRecovery",
        "ErrorHandled",
        "ErrorRecord",
        "ErrorRecovery",
        "ErrorSeverity",
        "ErrorTypeRecovery",
        "RecoveryContext",
        "RecoveryFailed",
        "error_recovery",
        "with_error_recovery",
    ),
    "policies.retry": (
        "Retry",
        "RetryGaveUp",
        "RetryScheduled",
        "RetryState",
        "RetrySucceeded",
    ),
    "policies.timeout": ("Timeout", "TimeoutOccurred"),
}
_LAZY = {name: module for module, names in _LAZY_BY_MODULE.items() for name in names}

_DISTRIBUTION = "system-rebellion"


@_functools.cache
def _version() -> str:
    # The package metadata (pyproject.toml) is the one place the version is written.
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(_DISTRIBUTION)
    except PackageNotFoundError:  # pragma: no cover - running from an uninstalled tree
        return "0+unknown"


def __getattr__(name: str) -> object:
    if name == "__version__":
        return _version()
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'rebellion' has no attribute {name!r}")
    return getattr(_importlib.import_module(f"{__name__}.{module}"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
