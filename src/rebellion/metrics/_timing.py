"""Timing a block or a function into a timer metric: ``with``, ``async with``, decorator.

>>> from rebellion.testing import ManualClock
>>> from rebellion.metrics._instruments import HistogramChild, WindowSettings
>>> clock = ManualClock()
>>> child = HistogramChild((), (0.1, 1.0), clock, WindowSettings())
>>> with Timing(child, clock):
...     clock.advance(0.25)
>>> child.count, child.sum
(1, 0.25)
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import ParamSpec, TypeVar, final, overload

from .._clock import Clock
from ._instruments import HistogramChild

__all__ = ["Timing"]

P = ParamSpec("P")
R = TypeVar("R")


@final
class Timing:
    """Record elapsed seconds (by the collector's clock) into a timer, failures included.

    One ``Timing`` times one block at a time: ask ``collector.time(...)`` again for each
    ``with`` block. As a decorator it times every call independently (sync or async).
    """

    __slots__ = ("_child", "_now", "_start")

    def __init__(self, child: HistogramChild, clock: Clock) -> None:
        self._child = child
        self._now = clock.monotonic
        self._start: float | None = None

    def __enter__(self) -> Timing:
        if self._start is not None:
            raise RuntimeError("this Timing is already timing a block; call time() again")
        self._start = self._now()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        start, self._start = self._start, None
        if start is not None:
            self._child.observe(max(0.0, self._now() - start))

    async def __aenter__(self) -> Timing:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    @overload
    def __call__(self, fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]: ...
    @overload
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]: ...
    def __call__(self, fn: Callable[P, object]) -> Callable[P, object]:
        """Decorate ``fn`` (``def`` or ``async def``) so each call's duration is recorded."""
        observe, now = self._child.observe, self._now
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def timed_async(*args: P.args, **kwargs: P.kwargs) -> object:
                start = now()
                try:
                    return await fn(*args, **kwargs)
                finally:
                    observe(max(0.0, now() - start))

            return timed_async

        @functools.wraps(fn)
        def timed(*args: P.args, **kwargs: P.kwargs) -> object:
            start = now()
            try:
                return fn(*args, **kwargs)
            finally:
                observe(max(0.0, now() - start))

        return timed
