"""Circuit-breaker groups: closed success path (sync, async), failure path, open rejection.

Each peer is used the way its documentation shows (its decorator first, its
``call`` method where it has one), configured like rebellion's breaker: the same
callee, a threshold of 5 and a 60 s reset timeout on the success path, a threshold no
run reaches on the failure path, and a breaker tripped by one failure with an hour-long
reset timeout for the open-state rejection.

>>> [g.name for g in groups()]
['breaker_sync_success', 'breaker_async_success', 'breaker_failure_path', \
'breaker_open_rejection']
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from _common import (
    HUGE,
    LONG,
    BenchError,
    Contender,
    Counter,
    Group,
    ainc,
    araise,
    async_passthrough,
    baseline_contenders,
    inc,
    passthrough,
    raise_,
)
from _harness import Op, Runner

__all__ = ["groups"]

_OK: dict[str, Any] = {"args": (1,), "returns": 2}
_FAIL: dict[str, Any] = {"args": (1,), "raises": BenchError}
_names = iter(range(1_000_000))


def _name(prefix: str) -> str:
    return f"bench-{prefix}-{next(_names)}"


# -- constructors, one per library ------------------------------------------------------


def _rebellion(threshold: int, reset: float = 60.0) -> Any:
    from rebellion import CircuitBreaker

    return CircuitBreaker(name=_name("rebellion"), failure_threshold=threshold, reset_timeout=reset)


def _circuitbreaker(threshold: int, reset: float = 60.0) -> Any:
    from circuitbreaker import CircuitBreaker

    return CircuitBreaker(
        failure_threshold=threshold, recovery_timeout=reset, name=_name("circuitbreaker")
    )


def _pybreaker(threshold: int, reset: float = 60.0) -> Any:
    import pybreaker

    return pybreaker.CircuitBreaker(fail_max=threshold, reset_timeout=reset)


def _aiobreaker(threshold: int, reset: float = 60.0) -> Any:
    import aiobreaker

    return aiobreaker.CircuitBreaker(fail_max=threshold, timeout_duration=timedelta(seconds=reset))


def _purgatory_sync(threshold: int, reset: float = 60.0) -> Any:
    from purgatory import SyncCircuitBreakerFactory

    factory = SyncCircuitBreakerFactory(default_threshold=threshold, default_ttl=reset)
    return _PurgatoryCircuit(factory, _name("purgatory"))


def _purgatory_async(threshold: int, reset: float = 60.0) -> Any:
    from purgatory import AsyncCircuitBreakerFactory

    factory = AsyncCircuitBreakerFactory(default_threshold=threshold, default_ttl=reset)
    return _PurgatoryCircuit(factory, _name("purgatory"))


class _PurgatoryCircuit:
    """``factory(name)`` as a decorator, keeping the factory to reach the circuit's state."""

    def __init__(self, factory: Any, name: str) -> None:
        self.factory, self.name = factory, name
        self._decorate = factory(name)

    def __call__(self, fn: Callable[..., Any]) -> Any:
        return self._decorate(fn)

    def tidy(self) -> None:
        """Drop the traceback purgatory's shared OpenedState accumulates (outside timing)."""
        context = self.factory.uow.contexts.breakers.get(self.name)
        state = getattr(context, "_state", None)
        if isinstance(state, BaseException):
            state.__traceback__ = None


def _decorated(make: Callable[[int], Any], fn: Callable[..., Any], **op: Any) -> Any:
    """Build a contender whose operation is ``make(threshold)(fn)(*args)``."""
    threshold = HUGE if op.get("raises") is BenchError else 5
    is_async = inspect.iscoroutinefunction(fn)

    def build(runner: Runner) -> Op:
        return Op(fn=make(threshold)(fn), is_async=is_async, **op)

    return build


def _via_call(make: Callable[[int], Any], method: str, fn: Callable[..., Any]) -> Any:
    """Build a contender whose operation is ``breaker.<method>(fn, 1)``."""

    def build(runner: Runner) -> Op:
        breaker = make(5)
        return Op(
            fn=getattr(breaker, method),
            args=(fn, 1),
            is_async=inspect.iscoroutinefunction(fn),
            returns=2,
        )

    return build


# -- open state: trip with one failure, then call a counting callee ----------------------


def _open(
    make: Callable[..., Any],
    is_async: bool,
    rejects: Callable[[], type[BaseException]],
    force: bool = False,
) -> Any:
    def build(runner: Runner) -> Op:
        breaker = make(1, LONG)
        if force:
            breaker.force_open("benchmark")
        else:
            failing = breaker(araise if is_async else raise_)
            for _ in range(2):
                try:
                    if is_async:
                        runner.run(failing(1))
                    else:
                        failing(1)
                except Exception:  # the callee's error, or the trip's own error
                    pass
        counter = Counter()
        guarded = breaker(counter.ainc if is_async else counter.inc)
        return Op(
            fn=guarded,
            args=(1,),
            is_async=is_async,
            raises=rejects(),
            probe=counter.probe,
            calls_per_op=0,
            tidy=getattr(breaker, "tidy", None),
        )

    return build


def _rebellion_open_error() -> type[BaseException]:
    from rebellion import CircuitOpenError

    return CircuitOpenError


def _circuitbreaker_open_error() -> type[BaseException]:
    from circuitbreaker import CircuitBreakerError

    error: type[BaseException] = CircuitBreakerError
    return error


def _pybreaker_open_error() -> type[BaseException]:
    from pybreaker import CircuitBreakerError

    return CircuitBreakerError


def _aiobreaker_open_error() -> type[BaseException]:
    from aiobreaker import CircuitBreakerError

    error: type[BaseException] = CircuitBreakerError
    return error


def _purgatory_open_error() -> type[BaseException]:
    from purgatory.domain.model import OpenedState

    return OpenedState


# -- groups -----------------------------------------------------------------------------


def groups() -> list[Group]:
    """Return the four circuit-breaker groups."""
    sync_success = Group(
        "breaker_sync_success",
        "Circuit breaker, closed state, callee returns (sync)",
        [
            *baseline_contenders((inc, passthrough(inc), _OK), None),
            Contender("rebellion @breaker", "rebellion", _decorated(_rebellion, inc, **_OK)),
            Contender("rebellion cb.call(fn, x)", "rebellion", _via_call(_rebellion, "call", inc)),
            Contender(
                "circuitbreaker @circuit", "circuitbreaker", _decorated(_circuitbreaker, inc, **_OK)
            ),
            Contender("pybreaker @breaker", "pybreaker", _decorated(_pybreaker, inc, **_OK)),
            Contender("pybreaker breaker.call", "pybreaker", _via_call(_pybreaker, "call", inc)),
            Contender(
                "purgatory @breaker (sync)", "purgatory", _decorated(_purgatory_sync, inc, **_OK)
            ),
            Contender(
                "aiobreaker @breaker (sync)", "aiobreaker", _decorated(_aiobreaker, inc, **_OK)
            ),
        ],
    )
    async_success = Group(
        "breaker_async_success",
        "Circuit breaker, closed state, callee returns (async)",
        [
            *baseline_contenders(None, (ainc, async_passthrough(ainc), _OK)),
            Contender(
                "rebellion @breaker (async)", "rebellion", _decorated(_rebellion, ainc, **_OK)
            ),
            Contender(
                "rebellion await cb.execute(fn, x)",
                "rebellion",
                _via_call(_rebellion, "execute", ainc),
            ),
            Contender(
                "circuitbreaker @circuit (async)",
                "circuitbreaker",
                _decorated(_circuitbreaker, ainc, **_OK),
            ),
            Contender(
                "aiobreaker @breaker (async)", "aiobreaker", _decorated(_aiobreaker, ainc, **_OK)
            ),
            Contender(
                "purgatory @breaker (async)", "purgatory", _decorated(_purgatory_async, ainc, **_OK)
            ),
        ],
        notes=[
            "pybreaker has no asyncio path (its async support is Tornado-only): not in this group."
        ],
    )
    failure = Group(
        "breaker_failure_path",
        "Circuit breaker, closed state, callee raises a counted error (threshold never reached)",
        [
            *baseline_contenders(
                (raise_, passthrough(raise_), _FAIL), (araise, async_passthrough(araise), _FAIL)
            ),
            Contender("rebellion @breaker", "rebellion", _decorated(_rebellion, raise_, **_FAIL)),
            Contender(
                "rebellion @breaker (async)", "rebellion", _decorated(_rebellion, araise, **_FAIL)
            ),
            Contender(
                "circuitbreaker @circuit",
                "circuitbreaker",
                _decorated(_circuitbreaker, raise_, **_FAIL),
            ),
            Contender(
                "circuitbreaker @circuit (async)",
                "circuitbreaker",
                _decorated(_circuitbreaker, araise, **_FAIL),
            ),
            Contender("pybreaker @breaker", "pybreaker", _decorated(_pybreaker, raise_, **_FAIL)),
            Contender(
                "aiobreaker @breaker (sync)", "aiobreaker", _decorated(_aiobreaker, raise_, **_FAIL)
            ),
            Contender(
                "aiobreaker @breaker (async)",
                "aiobreaker",
                _decorated(_aiobreaker, araise, **_FAIL),
            ),
            Contender(
                "purgatory @breaker (sync)",
                "purgatory",
                _decorated(_purgatory_sync, raise_, **_FAIL),
            ),
            Contender(
                "purgatory @breaker (async)",
                "purgatory",
                _decorated(_purgatory_async, araise, **_FAIL),
            ),
        ],
        notes=["Baselines here call the raising callee and catch its error."],
    )
    rejection = Group(
        "breaker_open_rejection",
        "Circuit breaker, open state: the call is rejected without running the callee",
        [
            *baseline_contenders(
                (raise_, passthrough(raise_), _FAIL), (araise, async_passthrough(araise), _FAIL)
            ),
            Contender(
                "rebellion @breaker (tripped)",
                "rebellion",
                _open(_rebellion, False, _rebellion_open_error),
            ),
            Contender(
                "rebellion @breaker (forced)",
                "rebellion",
                _open(_rebellion, False, _rebellion_open_error, force=True),
            ),
            Contender(
                "rebellion @breaker (async, tripped)",
                "rebellion",
                _open(_rebellion, True, _rebellion_open_error),
            ),
            Contender(
                "rebellion @breaker (async, forced)",
                "rebellion",
                _open(_rebellion, True, _rebellion_open_error, force=True),
            ),
            Contender(
                "circuitbreaker @circuit",
                "circuitbreaker",
                _open(_circuitbreaker, False, _circuitbreaker_open_error),
            ),
            Contender(
                "circuitbreaker @circuit (async)",
                "circuitbreaker",
                _open(_circuitbreaker, True, _circuitbreaker_open_error),
            ),
            Contender(
                "pybreaker @breaker", "pybreaker", _open(_pybreaker, False, _pybreaker_open_error)
            ),
            Contender(
                "aiobreaker @breaker (sync)",
                "aiobreaker",
                _open(_aiobreaker, False, _aiobreaker_open_error),
            ),
            Contender(
                "aiobreaker @breaker (async)",
                "aiobreaker",
                _open(_aiobreaker, True, _aiobreaker_open_error),
            ),
            Contender(
                "purgatory @breaker (sync)",
                "purgatory",
                _open(_purgatory_sync, False, _purgatory_open_error),
            ),
            Contender(
                "purgatory @breaker (async)",
                "purgatory",
                _open(_purgatory_async, True, _purgatory_open_error),
            ),
        ],
        notes=[
            "Baselines here call a callee that raises and catch its error: the floor of "
            "'fail with an exception'.",
            "purgatory raises one shared OpenedState instance on every rejection, so its "
            "__traceback__ grows by a few frames per rejected call: unbounded memory while "
            "a circuit stays open. The harness clears it after each timed batch (outside "
            "the clock) so the leak cannot slow the rest of the run.",
        ],
    )
    return [sync_success, async_success, failure, rejection]
