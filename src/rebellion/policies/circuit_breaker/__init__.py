"""Circuit breaker: CLOSED / OPEN / HALF_OPEN / DEGRADED and operator states.

:class:`PredictiveCircuitBreaker` (opt-in, needs NumPy) wraps one and opens it early
when the trend of its failure rate or latency heads for the threshold.

>>> cb = CircuitBreaker(name="openai", failure_threshold=5, reset_timeout=60)
>>> @cb
... def ping():
...     return "pong"
>>> ping(), cb.state == CircuitBreaker.CLOSED, cb.failure_count
('pong', True, 0)
"""

from ._config import CircuitState
from ._events import CallRejected, CircuitFailureRecorded, CircuitStateChanged
from ._predictive_types import CircuitTripPredicted, PredictiveBreakerSnapshot
from .breaker import CircuitBreaker, get_circuit_breaker
from .predictive import PredictiveCircuitBreaker

__all__ = [
    "CallRejected",
    "CircuitBreaker",
    "CircuitFailureRecorded",
    "CircuitState",
    "CircuitStateChanged",
    "CircuitTripPredicted",
    "PredictiveBreakerSnapshot",
    "PredictiveCircuitBreaker",
    "get_circuit_breaker",
]
