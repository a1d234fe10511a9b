"""The state of one error being handled, and helpers shared by the two drivers.

>>> run = Run(ValueError("x"), "db", "query", None, (), {})
>>> run.replay_sync()
Traceback (most recent call last):
...
ValueError: x
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from inspect import isawaitable
from types import TracebackType
from typing import Any, final

from ...policies.circuit_breaker import CircuitBreaker
from ._model import ErrorSeverity, RecoveryConfig

__all__ = ["NOT_RECOVERED", "SKIPPED", "Misuse", "Run", "await_sync"]

NOT_RECOVERED: Any = object()
"""A strategy ran but produced no result."""

SKIPPED: Any = object()
"""A strategy did not apply (nothing configured, no function to call, circuit open)."""


class Misuse(TypeError):
    """An awaitable met sync handling inside a running event loop; never swallowed."""


@final
class Run:
    """One handling of one error: what failed, the plan, and what happened so far."""

    __slots__ = (
        "applied",
        "args",
        "attempts",
        "breaker",
        "circuit_open",
        "component",
        "config",
        "error",
        "final",
        "fn",
        "kind",
        "kwargs",
        "operation",
        "plan",
        "replayed",
        "severity",
        "traceback",
        "track_breaker",
    )

    def __init__(
        self,
        error: BaseException,
        component: str,
        operation: str,
        fn: Callable[..., Any] | None,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.error = error
        self.traceback: TracebackType | None = error.__traceback__
        self.final: BaseException = error
        self.component = component
        self.operation = operation
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.severity = ErrorSeverity.MEDIUM
        self.kind = "transient"
        self.config = RecoveryConfig()
        self.plan: tuple[str, ...] = ()
        self.applied: list[str] = []
        self.attempts = 0
        self.replayed = False
        self.breaker: CircuitBreaker | None = None
        self.circuit_open = False
        self.track_breaker = False

    def _replay_first(self) -> None:
        # The failure already happened: the retry policy's "first attempt" reports it
        # instead of calling again, so its backoff and classification apply from here.
        if not self.replayed:
            self.replayed = True
            raise self.error

    def replay_sync(self, *args: Any, **kwargs: Any) -> Any:
        """Raise the original error once, then call the original function (sync)."""
        self._replay_first()
        assert self.fn is not None
        self.attempts += 1
        result = self.fn(*args, **kwargs)
        return await_sync(result) if isawaitable(result) else result

    def replay_async(self, *args: Any, **kwargs: Any) -> Any:
        """Raise the original error once, then call the original function (may be async)."""
        self._replay_first()
        assert self.fn is not None
        self.attempts += 1
        return self.fn(*args, **kwargs)

    def raised(self) -> BaseException:
        """Return the error to give back, without the frames recovery added to it."""
        if self.final is self.error:
            return self.error.with_traceback(self.traceback)
        return self.final


def await_sync(awaitable: Awaitable[Any]) -> Any:
    """Run ``awaitable`` to completion from sync code that has no running event loop.

    Raises:
        Misuse: called inside a running loop, where blocking on it would deadlock.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_as_coroutine(awaitable))
    close = getattr(awaitable, "close", None)
    if close is not None:
        close()
    raise Misuse(
        "an async callable was given to sync error handling inside a running event loop; "
        "use `await error_recovery.handle_error(...)` instead"
    )


async def _as_coroutine(awaitable: Awaitable[Any]) -> Any:
    return await awaitable
