"""The template of policies that bound an awaited call in the caller's own task.

A timeout (a cancel scope) and a hedge (attempt 1 inline, hedges as tasks) do their
work in ``_wrap_async``, a closure built once per callee, because a per-call set-up would
cost most of their price. :class:`Scoped` derives ``execute`` / ``call`` from it: the
closure built for the last callee is reused, and a plain callable first goes through
:meth:`~rebellion._policy.Policy.offload_sync` when the policy needs it off the loop.

>>> import asyncio
>>> from rebellion.policies.timeout import Timeout
>>> limit = Timeout(5)
>>> async def answer():
...     return 42
>>> asyncio.run(limit.execute(answer)), limit._last_wrapped[0] is answer
(42, True)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from .._policy import Policy, is_async_callable

__all__ = ["Scoped"]


async def _unset() -> None: ...


class Scoped(Policy):
    """A policy whose async driver is its ``_wrap_async`` closure, cached per callee."""

    _last_wrapped: tuple[object, Callable[..., Awaitable[Any]]] = (None, _unset)

    async def _async(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        last_fn, guarded = self._last_wrapped
        if last_fn is not fn:
            offloaded = None if is_async_callable(fn) else self.offload_sync(fn)
            guarded = self._wrap_async(fn if offloaded is None else offloaded)
            self._last_wrapped = (fn, guarded)
        return await guarded(*args, **kwargs)
