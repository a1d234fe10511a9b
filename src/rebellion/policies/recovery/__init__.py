"""Autonomous error recovery: strategies per error kind, component and operation.

>>> import asyncio
>>> from rebellion.testing import FlakyCallable, ManualClock
>>> recovery = ErrorRecovery(clock=ManualClock())
>>> flaky = FlakyCallable([ConnectionError()], then="connected")
>>> @with_error_recovery(component="websocket", operation="connect", recovery=recovery)
... async def connect(url):
...     return await flaky.async_call(url)
>>> asyncio.run(connect("ws://x")), recovery.get_error_statistics()["recovered"]
('connected', 1)
"""

from ._decorator import error_recovery, with_error_recovery
from ._model import (
    ErrorHandled,
    ErrorRecord,
    ErrorSeverity,
    RecoveryConfig,
    RecoveryContext,
    RecoveryFailed,
    RecoveryStrategy,
)
from .by_type import AutonomousErrorRecovery, ErrorTypeRecord, ErrorTypeRecovery
from .engine import ErrorRecovery

__all__ = [
    "AutonomousErrorRecovery",
    "ErrorHandled",
    "ErrorRecord",
    "ErrorRecovery",
    "ErrorSeverity",
    "ErrorTypeRecord",
    "ErrorTypeRecovery",
    "RecoveryConfig",
    "RecoveryContext",
    "RecoveryFailed",
    "RecoveryStrategy",
    "error_recovery",
    "with_error_recovery",
]
