"""The process-wide :data:`error_recovery` and the :func:`with_error_recovery` decorator.

>>> from rebellion.testing import ManualClock
>>> recovery = ErrorRecovery(clock=ManualClock())
>>> recovery.configure("prices", fallback=lambda item: 9.99)
>>> @with_error_recovery(component="prices", operation="fetch", recovery=recovery,
...                      strategies=["fallback"])
... def fetch(item):
...     raise ConnectionError(item)
>>> fetch("book")
9.99
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any, ParamSpec, TypeVar

from ..._policy import is_async_callable
from ..._validate import check_callable, check_name
from ...errors import ConfigError
from ._model import ErrorSeverity, check_strategies
from .engine import ErrorRecovery

__all__ = ["error_recovery", "with_error_recovery"]

P = ParamSpec("P")
T = TypeVar("T")

error_recovery = ErrorRecovery()
"""The shared instance the seeds' ``error_recovery.handle_error(...)`` calls use."""


def with_error_recovery(
    component: str,
    operation: str | None = None,
    severity: ErrorSeverity | str = ErrorSeverity.HIGH,
    recovery: ErrorRecovery | None = None,
    strategies: Iterable[str] | None = None,
) -> Callable[[Callable[P, T]], Callable[P, T]]:
    """Decorate a ``def`` or ``async def`` so its errors go through error recovery.

    On an exception the wrapper hands the error, the undecorated function and the call's
    arguments to ``recovery`` and returns what recovery returns (or lets its error out).

    Args:
        component: the component the function belongs to.
        operation: the operation's name (default: the function's ``__name__``).
        severity: the severity of its errors.
        recovery: the :class:`ErrorRecovery` to use (default: :data:`error_recovery`).
        strategies: an exact strategy list for this function, overriding the rules.

    Returns:
        A decorator keeping the function's signature and metadata.

    Raises:
        ConfigError: an argument is invalid; the message names it.
    """
    check_name("component", component)
    if operation is not None:
        check_name("operation", operation)
    level = ErrorSeverity.coerce(severity)
    if recovery is None:
        recovery = error_recovery
    elif not isinstance(recovery, ErrorRecovery):
        raise ConfigError("recovery", "an ErrorRecovery or None", recovery)
    plan = (
        None
        if strategies is None
        else check_strategies("strategies", strategies, recovery.strategies)
    )
    engine = recovery

    def decorate(fn: Callable[P, T]) -> Callable[P, T]:
        check_callable("fn", fn, "a callable to decorate")
        name = operation or getattr(fn, "__name__", None) or "call"
        if is_async_callable(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                try:
                    return await fn(*args, **kwargs)  # type: ignore[misc]
                except Exception as error:
                    return await engine.recover(
                        error,
                        component=component,
                        operation=name,
                        severity=level,
                        original_function=fn,
                        args=args,
                        kwargs=kwargs,
                        strategies=plan,
                    )

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def sync_wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
            try:
                return fn(*args, **kwargs)
            except Exception as error:
                result: T = engine.recover_sync(
                    error,
                    component=component,
                    operation=name,
                    severity=level,
                    original_function=fn,
                    args=args,
                    kwargs=kwargs,
                    strategies=plan,
                )
                return result

        return sync_wrapper

    return decorate
