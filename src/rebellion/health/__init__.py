"""Health and self-healing: checks, operation mode, failure detection, connections, pools.

>>> from rebellion.health import SystemOperationMode
>>> SystemOperationMode().current_mode == SystemOperationMode.NORMAL
True
"""

from ._events import (
    ComponentDegraded,
    ComponentRecovered,
    ConnectionStateChanged,
    HealthCheckChanged,
    OperationModeChanged,
    PoolConnectionClosed,
    PoolConnectionOpened,
    PoolTargetResized,
    ReconnectScheduled,
    SystemHealthChanged,
)
from .adjust import Adjustment, ModeAdjustment, RetryOff, ScaleCap
from .checks import BreakerHealthCheck, FunctionHealthCheck, HealthCheck, HealthStatus
from .connections import ConnectionManager, ConnectionState, ConnectionUnavailableError
from .mode import ComponentState, ModeRule, SystemOperationMode
from .phi import PhiAccrualFailureDetector
from .pool import ConnectionPool, PoolExhaustedError
from .registry import CheckResult, HealthRegistry, HealthReport

__all__ = [
    "Adjustment",
    "BreakerHealthCheck",
    "CheckResult",
    "ComponentDegraded",
    "ComponentRecovered",
    "ComponentState",
    "ConnectionManager",
    "ConnectionState",
    "ConnectionStateChanged",
    "ConnectionUnavailableError",
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
    "ConnectionPool",
    "PoolExhaustedError",
    "PoolConnectionOpened",
    "PoolTargetResized",
    "ReconnectScheduled",
    "RetryOff",
    "ScaleCap",
    "SystemHealthChanged",
    "SystemOperationMode",
]
