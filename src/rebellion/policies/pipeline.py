"""Compose policies in a declared order, outermost first.

>>> from rebellion.policies.circuit_breaker import CircuitBreaker
>>> from rebellion.policies.fallback import Fallback
>>> from rebellion.policies.retry import Retry
>>> from rebellion.policies.timeout import Timeout
>>> pipeline = Pipeline(
...     Fallback(lambda order_id: "cached"),
...     Retry(max_attempts=3, initial_delay=0),
...     CircuitBreaker(name="orders", failure_threshold=5),
...     Timeout(2.0),
... )
>>> @pipeline
... async def fetch(order_id):
...     return f"order {order_id}"
>>> import asyncio
>>> asyncio.run(fetch(7))
'order 7'

The same pipeline object works for sync and async callables, is reusable and
thread-safe: it holds no per-call state. Decorating composes the policies' own
specialised wrappers once; ``call``/``execute`` cache that composition per callee.

At construction the pipeline warns (:class:`PipelineWarning`) about orders that are
almost always a mistake:

* fault injection placed outside a retry, breaker or fallback that it should exercise;
* a retry *inside* a circuit breaker: the breaker then sees one outcome per group of
  attempts, so it counts failures far too slowly (put the retry outside);
* a fallback inside a retry or breaker: they never see the failure it hides;
* a timeout inside a retry that is as long as the retry's whole deadline: it limits
  each attempt, not the total — put it outside the retry if a total was meant.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, ClassVar, TypeVar, final

from .._policy import Policy, is_async_callable
from .._registry import registry
from .._validate import check_name
from ..errors import ConfigError

__all__ = ["Pipeline", "PipelineWarning"]

T = TypeVar("T")

_CACHE_SIZE = 256


class PipelineWarning(UserWarning):
    """A pipeline's order is probably not what was meant."""


@final
class Pipeline(Policy):
    """Run a callable through several policies, the first one outermost.

    Args:
        *policies: the policies, outermost first (a pipeline may contain pipelines).
        name: shown in statistics and the dashboard.
        warn: set to ``False`` to silence the order warnings for a deliberate design.

    Raises:
        ConfigError: no policies, or something that is not a policy.
    """

    kind: ClassVar[str] = "pipeline"

    def __init__(self, *policies: Policy, name: str = "pipeline", warn: bool = True) -> None:
        self.name = check_name("name", name)
        if not policies:
            raise ConfigError("policies", "at least one policy", policies)
        for index, policy in enumerate(policies):
            if not isinstance(policy, Policy):
                raise ConfigError(f"policies[{index}]", "a resilience policy", policy)
        if len({id(p) for p in policies}) != len(policies):
            raise ConfigError("policies", "distinct policy objects (one appears twice)", policies)
        self.policies: tuple[Policy, ...] = tuple(policies)
        if warn:
            for message in order_problems(self.policies):
                warnings.warn(message, PipelineWarning, stacklevel=2)
        self._lock = threading.Lock()
        self._sync_cache: OrderedDict[Callable[..., Any], Callable[..., Any]] = OrderedDict()
        self._async_cache: OrderedDict[Callable[..., Any], Callable[..., Any]] = OrderedDict()
        registry.track(self)

    def _wrap_sync(self, fn: Callable[..., T]) -> Callable[..., T]:
        for policy in reversed(self.policies):
            fn = policy.guard_sync(fn)
        return fn

    def _wrap_async(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        for policy in reversed(self.policies):
            fn = policy.guard_async(fn)
        return fn

    def _compiled(
        self,
        cache: OrderedDict[Callable[..., Any], Callable[..., Any]],
        fn: Callable[..., Any],
        build: Callable[[Callable[..., Any]], Callable[..., Any]],
    ) -> Callable[..., Any]:
        try:
            return cache[fn]
        except (KeyError, TypeError):
            pass
        composed = build(fn)
        try:
            with self._lock:
                cache[fn] = composed
                if len(cache) > _CACHE_SIZE:
                    cache.popitem(last=False)
        except TypeError:  # unhashable callable: compose per call
            pass
        return composed

    def _sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        composed = self._compiled(self._sync_cache, fn, self._wrap_sync)
        result: T = composed(*args, **kwargs)
        return result

    async def _async(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        composed = self._compiled(self._async_cache, fn, self._build_async)
        return await composed(*args, **kwargs)

    def offload_sync(self, fn: Callable[..., T]) -> Callable[..., Awaitable[T]] | None:
        """Return the innermost member's way of running a blocking ``fn``, if any."""
        for policy in reversed(self.policies):
            offloaded = policy.offload_sync(fn)
            if offloaded is not None:
                return offloaded
        return None

    def _build_async(self, fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        if is_async_callable(fn):
            return self._wrap_async(fn)
        # A blocking callee must leave the loop free if a member (a timeout) must expire.
        adapter = self.offload_sync(fn)
        if adapter is None:
            sync_fn = fn

            async def adapter(*args: Any, **kwargs: Any) -> Any:
                return sync_fn(*args, **kwargs)

        return self._wrap_async(adapter)

    def stats(self) -> dict[str, Any]:
        """Return the pipeline's shape and each policy's own snapshot."""
        return {
            "kind": self.kind,
            "name": self.name,
            "policies": [dict(p.stats()) for p in self.policies],
        }

    def __repr__(self) -> str:
        inner = ", ".join(f"{p.kind}:{p.name}" for p in self.policies)
        return f"Pipeline({inner})"


def order_problems(policies: Sequence[Policy]) -> list[str]:
    """Return a message for each known anti-pattern in ``policies`` (outermost first)."""
    # Every breaker (plain, shared across processes, predictive) counts and rejects alike.
    kinds = ["circuit_breaker" if p.kind.endswith("circuit_breaker") else p.kind for p in policies]
    problems: list[str] = []

    def positions(kind: str) -> list[int]:
        return [i for i, k in enumerate(kinds) if k == kind]

    for chaos in positions("chaos"):
        missed = [k for k in kinds[chaos + 1 :] if k in ("retry", "circuit_breaker", "fallback")]
        if missed:
            problems.append(
                f"fault injection at position {chaos} is outside {', '.join(missed)}: "
                "the faults it injects never reach them; put it innermost"
            )
    for breaker in positions("circuit_breaker"):
        for retry in positions("retry"):
            if retry > breaker:
                problems.append(
                    f"retry at position {retry} is inside the circuit breaker at position "
                    f"{breaker}: the breaker counts one failure per group of attempts; "
                    "put the retry outside the breaker"
                )
    for fallback in positions("fallback"):
        outer = [k for k in kinds[:fallback] if k in ("retry", "circuit_breaker")]
        if outer:
            problems.append(
                f"fallback at position {fallback} is inside {', '.join(outer)}: they never "
                "see the failures it hides; put the fallback outermost"
            )
    for timeout in positions("timeout"):
        seconds = getattr(policies[timeout], "seconds", None)
        for retry in positions("retry"):
            deadline = getattr(policies[retry], "deadline", None)
            if (
                retry < timeout
                and isinstance(seconds, int | float)
                and isinstance(deadline, int | float)
                and seconds >= deadline
            ):
                problems.append(
                    f"timeout of {seconds:g}s at position {timeout} is inside the retry at "
                    f"position {retry} whose deadline is {deadline:g}s: it limits each "
                    "attempt, not the total; put it outside the retry if a total was meant"
                )
    return problems
