"""Bulkhead: cap concurrent calls, queue a bounded number, refuse the rest.

One bulkhead has **one capacity shared by both faces**: sync calls from threads and
async calls from tasks take slots from the same count and wait in the same FIFO queue
(a dependency does not care which kind of caller overloads it). Refusals raise
:class:`~rebellion.errors.BulkheadFullError` with ``retry_after`` estimated from the
mean duration of calls sampled while the bulkhead was full.

>>> import asyncio
>>> bulkhead = Bulkhead("db", max_concurrent=2, max_queue=10, max_wait=1.0)
>>> @bulkhead
... async def query(sql):
...     return f"rows for {sql}"
>>> asyncio.run(query("select 1"))
'rows for select 1'
>>> bulkhead.stats()["admitted"], bulkhead.stats()["active"]
(1, 0)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, final

from .._clock import Clock
from .._driver import Held
from .._events import Event, EventStream, Listener
from .._registry import registry
from .._validate import check_clock, check_int, check_name, check_optional_duration
from ._bulkhead_core import BulkheadCore
from .snapshots import BulkheadSnapshot

__all__ = ["Bulkhead", "BulkheadRejected", "BulkheadResized", "get_bulkhead"]


@final
@dataclass(frozen=True, slots=True)
class BulkheadRejected(Event):
    """A call was refused: ``reason`` is ``"queue_full"`` or ``"timeout"``."""

    policy_kind: ClassVar[str] = "bulkhead"

    reason: str
    active: int
    queued: int
    retry_after: float | None


@final
@dataclass(frozen=True, slots=True)
class BulkheadResized(Event):
    """The limits changed at run time (an operation mode shrinking caps, say)."""

    policy_kind: ClassVar[str] = "bulkhead"

    old_max_concurrent: int
    max_concurrent: int
    old_max_queue: int
    max_queue: int


@final
class Bulkhead(Held):
    """Run at most ``max_concurrent`` calls at once; queue up to ``max_queue`` more.

    A queued call waits at most ``max_wait`` seconds (``None``: until a slot frees),
    cancellably: a cancelled waiting task leaves the queue, and a task cancelled just
    after being handed a slot passes it on. The uncontended path takes no lock.

    Args:
        name: shown in errors, events, statistics and the dashboard.
        max_concurrent: calls allowed to run at the same time (>= 1).
        max_queue: calls allowed to wait for a slot (0: refuse at once when full).
        max_wait: seconds a queued call waits before it is refused (``None``: no limit,
            ``0``: never wait).
        clock: time source (``ManualClock`` in tests). Under a virtual clock a waiting
            *thread* times out when the clock is advanced past its deadline.
        listeners: callables receiving :class:`BulkheadRejected` / :class:`BulkheadResized`.

    Raises:
        ConfigError: a parameter is out of range.
    """

    kind: ClassVar[str] = "bulkhead"

    def __init__(
        self,
        name: str = "bulkhead",
        *,
        max_concurrent: int = 10,
        max_queue: int = 0,
        max_wait: float | None = None,
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.name = check_name("name", name)
        limit = check_int("max_concurrent", max_concurrent, minimum=1)
        queue = check_int("max_queue", max_queue, minimum=0)
        wait = check_optional_duration("max_wait", max_wait)
        self._clock = check_clock(clock)
        self.events = EventStream(self.name, listeners)
        self._core = self._slots = BulkheadCore(
            self.name, limit, queue, wait, self._clock, self._rejected
        )
        registry.track(self)

    # -- limits --------------------------------------------------------------------------

    @property
    def max_concurrent(self) -> int:
        return self._core.limit

    @property
    def max_queue(self) -> int:
        return self._core.max_queue

    @property
    def max_wait(self) -> float | None:
        return self._core.max_wait

    def resize(self, max_concurrent: int, max_queue: int | None = None) -> None:
        """Change the limits now; shrinking never interrupts running or queued calls.

        Growing hands the new slots to queued callers at once. Shrinking below the
        running count lets the excess finish; new calls wait until the count is under
        the new limit.

        Args:
            max_concurrent: the new concurrency cap (>= 1).
            max_queue: the new queue cap (``None``: unchanged).

        Raises:
            ConfigError: a limit is out of range.
        """
        limit = check_int("max_concurrent", max_concurrent, minimum=1)
        core = self._core
        queue = (
            core.max_queue if max_queue is None else check_int("max_queue", max_queue, minimum=0)
        )
        old_limit, old_queue = core.limit, core.max_queue
        core.resize(limit, queue)
        if self.events.active and (old_limit, old_queue) != (limit, queue):
            event = BulkheadResized(
                self.name, self._clock.wall(), old_limit, limit, old_queue, queue
            )
            self.events.emit(event)

    def _rejected(self, reason: str, retry_after: float | None) -> None:
        if self.events.active:
            core = self._core
            self.events.emit(
                BulkheadRejected(
                    self.name,
                    self._clock.wall(),
                    reason,
                    core.active,
                    len(core.waiters),
                    retry_after,
                )
            )

    # -- observation ---------------------------------------------------------------------

    def stats(self) -> BulkheadSnapshot:
        """Return a snapshot: limits, running and queued calls, lifetime counters."""
        core = self._core
        return BulkheadSnapshot(
            kind=self.kind,
            name=self.name,
            max_concurrent=core.limit,
            max_queue=core.max_queue,
            max_wait=core.max_wait,
            in_flight=core.active,
            queued=len(core.waiters),
            available=max(0, core.limit - core.active),
            admitted=core.admitted,
            rejections=core.rejected_full + core.rejected_timeout,
            rejected_queue_full=core.rejected_full,
            rejected_timeout=core.rejected_timeout,
            cancelled=core.cancelled,
            mean_duration=core.mean_duration,
        )

    def __repr__(self) -> str:
        core = self._core
        return f"Bulkhead(name={self.name!r}, active={core.active}/{core.limit})"


def get_bulkhead(name: str, **settings: Any) -> Bulkhead:
    """Return the bulkhead registered as ``name``, creating it with ``settings`` first.

    >>> from rebellion import registry
    >>> a = get_bulkhead("payments", max_concurrent=5)
    >>> get_bulkhead("payments") is a, get_bulkhead("payments", max_concurrent=5) is a
    (True, True)
    >>> registry.unregister("bulkhead", "payments")

    Raises:
        ConfigError: ``name`` is registered with different settings.
    """
    comparable = {k: v for k, v in settings.items() if k not in ("clock", "listeners")}
    return registry.get_or_create(
        Bulkhead.kind, name, lambda: Bulkhead(name, **settings), comparable
    )
