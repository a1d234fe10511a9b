"""The calling conventions every policy (and the pipeline) shares.

A policy implements two drivers over its core:

* ``_sync(fn, args, kwargs)`` runs a plain callable on the calling thread;
* ``_async(fn, args, kwargs)`` runs in a task; ``fn`` may return an awaitable or a
  plain value (``execute`` accepts both).

From those, this base class derives the public surface: ``call`` (in the callee's
mode), ``execute`` (always async) and ``@policy`` for ``def`` and ``async def``.
A policy may override ``_wrap_sync`` / ``_wrap_async`` with a specialised closure
when its hot path deserves it. Other code composes policies only through the public
seam: :meth:`Policy.guard_sync`, :meth:`Policy.guard_async`, :meth:`Policy.run_sync`,
:meth:`Policy.run_async` and :meth:`Policy.offload_sync`.
"""

from __future__ import annotations

import functools
import inspect
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from types import CoroutineType
from typing import Any, ClassVar, ParamSpec, TypeVar, overload

from ._validate import check_callable

__all__ = ["Policy", "is_async_callable", "resolve"]

P = ParamSpec("P")
T = TypeVar("T")

_CoroType = CoroutineType
_CO_COROUTINE = inspect.CO_COROUTINE


def is_async_callable(fn: object) -> bool:
    """Return whether calling ``fn`` produces a coroutine (sees through partials)."""
    # Functions and bound methods expose __code__: one flag test, far cheaper than
    # inspect.iscoroutinefunction on the per-call ``call(fn, ...)`` path.
    code = getattr(fn, "__code__", None)
    if code is not None:
        return bool(code.co_flags & _CO_COROUTINE)
    while isinstance(fn, functools.partial):
        fn = fn.func
    if inspect.iscoroutinefunction(fn):
        return True
    call = getattr(fn, "__call__", None)  # noqa: B004 - a callable object's method
    return call is not None and not inspect.isfunction(fn) and inspect.iscoroutinefunction(call)


async def resolve(value: Any) -> Any:
    """Await ``value`` if it is awaitable, else return it (for sync callees in async code)."""
    if type(value) is _CoroType or inspect.isawaitable(value):
        return await value
    return value


class Policy(ABC):
    """Base of every resilience policy: one core, a sync and an async driver."""

    kind: ClassVar[str] = "policy"
    name: str

    @abstractmethod
    def _sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        """Run ``fn(*args, **kwargs)`` under this policy on the calling thread."""

    @abstractmethod
    async def _async(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Run ``fn(*args, **kwargs)`` under this policy in the current task."""

    @abstractmethod
    def stats(self) -> Mapping[str, Any]:
        """Return a snapshot of this policy's counters and state."""

    # -- the composition seam: what pipelines, transports and wrappers call ------------

    def guard_sync(self, fn: Callable[..., T]) -> Callable[..., T]:
        """Return ``fn`` guarded by this policy, for sync callers (composes per callee).

        Pipelines and integrations build their chains with this and :meth:`guard_async`
        once per callee, instead of going through ``call`` on every request.
        """
        return self._wrap_sync(fn)

    def guard_async(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        """Return the coroutine function ``fn`` guarded by this policy."""
        return self._wrap_async(fn)

    def run_sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        """Run ``fn(*args, **kwargs)`` under this policy now (a wrapper's entry point)."""
        return self._sync(fn, args, kwargs)

    async def run_async(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        """Run ``fn`` (sync or async) under this policy in the current task."""
        return await self._async(fn, args, kwargs)

    # -- composition hooks: a specialised policy overrides these for speed ------------

    def offload_sync(self, fn: Callable[..., T]) -> Callable[..., Awaitable[T]] | None:
        """Return how a blocking ``fn`` must run when awaited under this policy.

        ``None`` (the default) runs it inline; a policy that must stay able to expire
        while the callee blocks (a timeout) returns an async function that runs it off
        the event loop. A pipeline asks its policies this for a sync callee.
        """
        return None

    def _wrap_sync(self, fn: Callable[..., T]) -> Callable[..., T]:
        run = self._sync

        def guarded(*args: Any, **kwargs: Any) -> T:
            return run(fn, args, kwargs)

        return guarded

    def _wrap_async(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        run = self._async

        async def guarded(*args: Any, **kwargs: Any) -> T:
            result: T = await run(fn, args, kwargs)
            return result

        return guarded

    # -- public conventions ---------------------------------------------------------

    @overload
    def call(
        self,
        fn: Callable[P, Coroutine[Any, Any, T]],
        /,
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> Coroutine[Any, Any, T]: ...

    @overload
    def call(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T: ...

    def call(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        """Run ``fn`` under this policy in the callee's own mode.

        A plain function runs now and its result is returned; a coroutine function
        gives an awaitable (the same as :meth:`execute`).
        """
        code = getattr(fn, "__code__", None)
        if code is not None:
            if code.co_flags & _CO_COROUTINE:
                return self._async(fn, args, kwargs)
            return self._sync(fn, args, kwargs)
        if is_async_callable(fn):
            return self._async(fn, args, kwargs)
        return self._sync(fn, args, kwargs)

    async def execute(
        self, fn: Callable[P, Awaitable[T]] | Callable[P, T], /, *args: P.args, **kwargs: P.kwargs
    ) -> T:
        """Run ``fn`` under this policy from async code; ``fn`` may be sync or async."""
        result: T = await self._async(fn, args, kwargs)
        return result

    @overload
    def __call__(
        self, fn: Callable[P, Coroutine[Any, Any, T]]
    ) -> Callable[P, Coroutine[Any, Any, T]]: ...

    @overload
    def __call__(self, fn: Callable[P, T]) -> Callable[P, T]: ...

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """Decorate ``fn`` (``def`` or ``async def``) so every call runs under this policy."""
        check_callable("fn", fn, "a callable to decorate")
        if is_async_callable(fn):
            wrapped_async = self._wrap_async(fn)

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                return await wrapped_async(*args, **kwargs)

            # Decorating must stay cheap per call: reuse the specialised closure when
            # it is already a coroutine function, only copying the metadata.
            if (
                wrapped_async is not fn
                and inspect.iscoroutinefunction(wrapped_async)
                and not hasattr(wrapped_async, "__wrapped__")
            ):
                functools.update_wrapper(wrapped_async, fn)
                return wrapped_async
            return async_wrapper
        wrapped = self._wrap_sync(fn)
        if (
            wrapped is not fn
            and inspect.isfunction(wrapped)
            and not hasattr(wrapped, "__wrapped__")
        ):
            functools.update_wrapper(wrapped, fn)
            return wrapped

        @functools.wraps(fn)
        def sync_wrapper(*args: Any, **kwargs: Any) -> Any:
            return wrapped(*args, **kwargs)

        return sync_wrapper
