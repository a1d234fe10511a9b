"""Predictive breaker group: the per-call price of watching the trend.

* ``breaker_predictive_call``: a closed breaker with a 30 s time window around ``inc``,
  plain against predictive (the same breaker inside, plus one clock reading, one
  locked count per call and, once a second, the detector and forecaster on the
  closed bucket). What the predictive breaker buys is measured by
  ``predictive_breaker_bench.py``; this group measures what it costs.

>>> [g.name for g in groups()]
['breaker_predictive_call']
"""

from __future__ import annotations

from typing import Any

from _common import Contender, Group, inc
from _harness import Op, Runner
from _targets import at_most_times

__all__ = ["TARGETS", "groups"]

_PLAIN = "rebellion CircuitBreaker (time window) call"
_PREDICTIVE = "rebellion PredictiveCircuitBreaker call"
_WINDOW: dict[str, Any] = {
    "window_type": "time",
    "window_size": 30.0,
    "failure_rate_threshold": 0.5,
}


def _bare(runner: Runner) -> Op:
    return Op(fn=inc, args=(1,), returns=2)


def _plain(runner: Runner) -> Op:
    from rebellion.policies.circuit_breaker import CircuitBreaker

    cb = CircuitBreaker("bench-plain-window", **_WINDOW)
    call = cb.call

    def op(x: int) -> int:
        return call(inc, x)

    return Op(fn=op, args=(1,), returns=2)


def _predictive(runner: Runner) -> Op:
    from rebellion.policies.circuit_breaker import PredictiveCircuitBreaker

    cb = PredictiveCircuitBreaker("bench-predictive", **_WINDOW)
    call = cb.call

    def op(x: int) -> int:
        return call(inc, x)

    return Op(fn=op, args=(1,), returns=2)


def groups() -> list[Group]:
    """Return the predictive breaker group."""
    return [
        Group(
            "breaker_predictive_call",
            "Closed breaker, time window, callee returns: plain against predictive",
            [
                Contender("bare call", "python", _bare),
                Contender(_PLAIN, "rebellion", _plain),
                Contender(_PREDICTIVE, "rebellion", _predictive),
            ],
        )
    ]


TARGETS = [at_most_times("breaker_predictive_call", _PREDICTIVE, _PLAIN, 3.0)]
