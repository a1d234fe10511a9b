"""Shared pieces of the benchmark groups: callees, baselines and the group model.

Every group compares contenders that run the *same* callee: ``inc(x) -> x + 1``
(sync or async), a callee that always raises :class:`BenchError`, or a flaky one that
fails every other call. ``BenchError`` is a ``ConnectionError`` so that every library
(including rebellion's default classifier) treats it as a transient, countable failure.

>>> inc(1), passthrough(inc)(1)
(2, 2)
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from _harness import Op, Runner

__all__ = [
    "BASELINES",
    "HUGE",
    "LONG",
    "BenchError",
    "Contender",
    "Counter",
    "Flaky",
    "Group",
    "ainc",
    "araise",
    "async_passthrough",
    "baseline_contenders",
    "fallback_value",
    "inc",
    "passthrough",
    "raise_",
]

T = TypeVar("T")
HUGE = 1_000_000_000
"""A failure threshold no benchmark reaches: the breaker stays closed."""
LONG = 3600.0
"""A reset timeout no benchmark outlives: the breaker stays open."""


class BenchError(ConnectionError):
    """The callee's own failure (transient for every library's defaults)."""


def inc(x: int) -> int:
    """Return ``x + 1``: the sync callee."""
    return x + 1


async def ainc(x: int) -> int:
    """Return ``x + 1``: the async callee."""
    return x + 1


def raise_(x: int) -> int:
    """Raise :class:`BenchError`: the failing sync callee."""
    raise BenchError(x)


async def araise(x: int) -> int:
    """Raise :class:`BenchError`: the failing async callee."""
    raise BenchError(x)


def fallback_value(*args: object, **kwargs: object) -> int:
    """Return ``-1``: a fallback that is never reached on a success path."""
    return -1


class Counter:
    """Counting callees (``inc`` and ``ainc`` twins) and their ``probe``.

    The callees are plain functions, not bound methods: some decorators only accept
    functions (aiobreaker checks ``inspect.isfunction``).
    """

    __slots__ = ("ainc", "calls", "inc")

    def __init__(self) -> None:
        self.calls = 0

        def inc(x: int) -> int:
            self.calls += 1
            return x + 1

        async def ainc(x: int) -> int:
            self.calls += 1
            return x + 1

        self.inc = inc
        self.ainc = ainc

    def probe(self) -> int:
        """Return how many times a callee ran."""
        return self.calls


class Flaky:
    """A callee that fails every other call, starting with a failure (``call``/``acall``)."""

    __slots__ = ("acall", "call", "calls")

    def __init__(self) -> None:
        self.calls = 0

        def call(x: int) -> int:
            self.calls += 1
            if self.calls & 1:
                raise BenchError(x)
            return x + 1

        async def acall(x: int) -> int:
            self.calls += 1
            if self.calls & 1:
                raise BenchError(x)
            return x + 1

        self.call = call
        self.acall = acall

    def probe(self) -> int:
        """Return how many times the callee ran."""
        return self.calls

    def reset(self) -> None:
        """Make the next call fail again (calls come in fail/succeed pairs)."""
        self.calls -= self.calls % 2


def passthrough(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorate ``fn`` with a wrapper that only forwards the call (the floor of a decorator)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return fn(*args, **kwargs)

    return wrapper


def async_passthrough(fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    """Decorate an ``async def`` with an ``async def`` wrapper that only forwards."""

    @functools.wraps(fn)
    async def wrapper(*args: Any, **kwargs: Any) -> T:
        return await fn(*args, **kwargs)

    return wrapper


Build = Callable[[Runner], Op]


@dataclass(frozen=True, slots=True)
class Contender:
    """One way of running a group's operation.

    Attributes:
        name: display name (unique within the group).
        library: ``"python"`` for baselines, ``"rebellion"``, or a PyPI distribution.
        build: returns the :class:`Op`; may raise ``ImportError`` or ``Unavailable``.
        optional: a rebellion contender whose absence is not an error (a mode that
            the API may legitimately not support).
    """

    name: str
    library: str
    build: Build
    optional: bool = False


@dataclass(frozen=True, slots=True)
class Group:
    """A set of contenders measured against each other in interleaved rounds."""

    name: str
    title: str
    contenders: list[Contender]
    notes: list[str] = field(default_factory=list)


BASELINES: dict[str, tuple[str, str]] = {
    "sync": ("bare call", "pass-through decorator"),
    "async": ("bare await", "pass-through async decorator"),
}
"""The two reference contenders of each mode; ratios are relative to them."""


def baseline_contenders(
    sync: tuple[Callable[..., Any], Callable[..., Any], dict[str, Any]] | None,
    async_: tuple[Callable[..., Any], Callable[..., Any], dict[str, Any]] | None,
) -> list[Contender]:
    """Return the bare and pass-through contenders of each mode.

    Args:
        sync: ``(callee, passthrough-wrapped callee, Op keyword arguments)`` or None.
        async_: the same for the async mode, or None.

    Returns:
        Up to four baseline contenders named after :data:`BASELINES`.
    """
    out: list[Contender] = []
    for mode, spec in (("sync", sync), ("async", async_)):
        if spec is None:
            continue
        bare, wrapped, kwargs = spec
        is_async = mode == "async"
        for name, fn in zip(BASELINES[mode], (bare, wrapped), strict=True):
            out.append(Contender(name, "python", _fixed(Op(fn=fn, is_async=is_async, **kwargs))))
    return out


def _fixed(op: Op) -> Build:
    def build(runner: Runner) -> Op:
        return op

    return build
