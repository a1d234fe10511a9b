"""Backpressure: a bounded buffer between a fast producer and a slower consumer.

Memory stays bounded whatever the producer does; the strategy decides *what* is lost:

* ``"latest"`` - keep the newest items, drop the oldest (live views, metrics);
* ``"oldest"`` - keep the oldest items, refuse new ones while full;
* ``"priority"`` - evict the oldest item of the lowest priority first;
* ``"sample"`` - keep a uniform reservoir sample once full, and (adaptive sampling, on
  by default for this strategy) keep only every n-th item as the buffer fills;
* ``"block"`` - lose nothing: ``await add_item_async(...)`` waits for space; a sync
  ``add_item`` on a full buffer raises :class:`~rebellion.errors.QueueFullError`
  (a sync caller may be the event loop itself, which must never wait on its consumer).

Accounting is exact under any number of threads and tasks::

    received == accepted + rejected            (rejected: add_item returned False/raised)
    accepted == delivered + evicted + buffered (evicted: admitted, then pushed out)
    dropped  == rejected + evicted             (by reason in ``stats()["dropped_by_reason"]``)

>>> bp = get_backpressure_handler(name="doc_bp", max_buffer_size=3, sampling_strategy="latest")
>>> [bp.add_item(i) for i in range(5)]
[True, True, True, True, True]
>>> bp.get_batch(max_batch_size=10)
[2, 3, 4]
>>> bp.stats()["dropped_by_reason"]
{'overflow_oldest': 2}
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, Generic, TypeVar, final

from .._clock import Clock
from .._events import EventStream, Listener
from .._registry import registry
from .._validate import check_choice, check_clock, check_int, check_name, check_number
from ..errors import ConfigError, QueueFullError
from ._bp_config import (
    DEFAULT_THRESHOLDS,
    EVICTIONS,
    DropReason,
    SamplingStrategy,
    check_thresholds,
)
from ._bp_core import BufferCore
from ._events import ItemsDropped, PressureChanged
from ._rates import RateWindow
from ._waiters import Waiters

__all__ = [
    "DEFAULT_THRESHOLDS",
    "BackpressureHandler",
    "DropReason",
    "SamplingStrategy",
    "get_backpressure_handler",
]

T = TypeVar("T")


_HYSTERESIS = 0.05  # a level is left only once the fill falls this far below it


@final
class BackpressureHandler(Generic[T]):
    """A bounded, thread- and task-safe buffer with a drop strategy and statistics.

    Args:
        name: name in events, statistics and the registry.
        max_buffer_size: most items held at once (>= 1).
        sampling_strategy: ``"latest" | "oldest" | "priority" | "sample" | "block"``.
        adaptive_sampling: thin the input as the buffer fills (``None``: on for
            ``"sample"`` only).
        thresholds: ``(fill_ratio, stride)`` pairs, ascending: at that fill keep every
            ``stride``-th item. Leaving a level needs the fill to drop 5% below it.
        rate_window: seconds over which ``in_rate``/``out_rate`` are measured.
        event_interval: shortest gap between two :class:`ItemsDropped` reports.
        clock: time source (rates, event pacing, async timeouts).
        listeners: event listeners.
        rng: randomness for reservoir sampling (seed it in tests).

    Raises:
        ConfigError: a parameter is invalid; the message names it and the accepted values.
    """

    kind: ClassVar[str] = "backpressure"

    def __init__(
        self,
        name: str = "backpressure",
        max_buffer_size: int = 1000,
        sampling_strategy: str = "latest",
        *,
        adaptive_sampling: bool | None = None,
        thresholds: Sequence[tuple[float, int]] = DEFAULT_THRESHOLDS,
        rate_window: float = 10.0,
        event_interval: float = 1.0,
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
        rng: random.Random | None = None,
    ) -> None:
        self.name = check_name("name", name)
        self.max_buffer_size = check_int("max_buffer_size", max_buffer_size, minimum=1)
        choices = [s.value for s in SamplingStrategy]
        self.strategy = SamplingStrategy(
            check_choice("sampling_strategy", sampling_strategy, choices)
        )
        if adaptive_sampling is not None and not isinstance(adaptive_sampling, bool):
            raise ConfigError("adaptive_sampling", "True, False or None", adaptive_sampling)
        adaptive = adaptive_sampling
        if adaptive is None:
            adaptive = self.strategy is SamplingStrategy.SAMPLE
        levels = check_thresholds(thresholds)
        window = check_number("rate_window", rate_window, minimum=0.0, exclusive_minimum=True)
        self._event_interval = check_number("event_interval", event_interval, minimum=0.0)
        self._clock = check_clock(clock)
        if rng is not None and not isinstance(rng, random.Random):
            raise ConfigError("rng", "a random.Random or None", rng)
        self.events = EventStream(self.name, listeners)
        self._core: BufferCore[T] = BufferCore(
            self.strategy,
            self.max_buffer_size,
            adaptive=adaptive,
            thresholds=levels,
            rng=rng if rng is not None else random.Random(),
        )
        # The lock-free path needs: "latest", no sampling; listeners are checked per call.
        self._fast = self.strategy is SamplingStrategy.LATEST and not adaptive
        self._buffer = self._core.buffer
        self._admit = self._core.admit
        self._reported_overflow = 0  # "latest" evictions already sent as events
        self._last_report = self._clock.monotonic()
        self._rates = RateWindow(window)
        self._rates.sample(self._last_report, 0, 0)
        self._producers = Waiters(self._clock)
        self._consumers = Waiters(self._clock)
        registry.track(self)

    # -- producing -------------------------------------------------------------------

    def add_item(self, item: T, priority: float = 0) -> bool:
        """Offer ``item``; return whether it was admitted to the buffer.

        Args:
            item: anything; it is stored by reference.
            priority: used by the ``"priority"`` strategy (higher is kept longer).

        Returns:
            True if the item is now buffered (it may still be evicted later), False if it
            was dropped at the door (full ``"oldest"`` buffer, sampled out, too low a
            priority).

        Raises:
            QueueFullError: the ``"block"`` buffer is full (use :meth:`add_item_async`).
        """
        if self._fast and not self.events.active:
            # Hot path: deque.append evicts the oldest by itself; both calls are atomic.
            self._buffer.append(item)
            self._admit()
            if self._consumers:
                self._consumers.wake(1)
            return True
        admitted = self._offer(item, priority, count_full=True)
        if admitted is None:
            raise self._full_error()
        return admitted

    def add_metric(self, metric: T, priority: float = 0) -> bool:
        """Offer ``metric`` (the seed's name for :meth:`add_item`); return whether admitted."""
        return self.add_item(metric, priority)

    async def add_item_async(
        self,
        item: T,
        priority: float = 0,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - on the injectable clock
    ) -> bool:
        """Offer ``item``; with ``"block"``, wait for space instead of failing.

        Args:
            item: the item.
            priority: as for :meth:`add_item`.
            timeout: most seconds to wait for space (``None``: as long as it takes).

        Returns:
            Whether the item was admitted (always True for ``"block"``).

        Raises:
            QueueFullError: ``"block"`` and no space freed up within ``timeout``.
        """
        if self.strategy is not SamplingStrategy.BLOCK:
            return self.add_item(item, priority)
        deadline = None if timeout is None else self._clock.monotonic() + timeout
        while True:
            admitted = self._offer(item, priority, count_full=False)
            if admitted is not None:
                return admitted
            remaining = None if deadline is None else deadline - self._clock.monotonic()
            if remaining is not None and remaining <= 0:
                admitted = self._offer(item, priority, count_full=True)
                if admitted is None:
                    raise self._full_error()
                return admitted
            await self._producers.wait(remaining)

    def _full_error(self) -> QueueFullError:
        return QueueFullError(
            self.name, f"backpressure buffer {self.name!r} is full ({self.max_buffer_size} items)"
        )

    def _offer(self, item: T, priority: float, *, count_full: bool) -> bool | None:
        core = self._core
        core.track_pending = self.events.active
        admitted, stride = core.offer(item, priority, count_full=count_full)
        if admitted and self._consumers:
            self._consumers.wake(1)
        if stride and self.events.active:
            fill = len(core) / self.max_buffer_size
            self.events.emit(PressureChanged(self.name, self._clock.wall(), stride, fill))
        if core.pending:
            self._report(force=False)
        return admitted

    # -- consuming -------------------------------------------------------------------

    def get_batch(self, max_batch_size: int = 100) -> list[T]:
        """Remove and return up to ``max_batch_size`` items, oldest first.

        The ``"priority"`` strategy returns the highest priority first (FIFO within a
        priority). An empty buffer gives an empty list.

        Raises:
            ConfigError: ``max_batch_size`` is not an integer >= 1.
        """
        if type(max_batch_size) is not int or max_batch_size < 1:
            check_int("max_batch_size", max_batch_size, minimum=1)
        batch = self._core.take(max_batch_size)
        if batch and self._producers:
            self._producers.wake(len(batch))
        if self.events.active:
            self._report(force=False)
        return batch

    def process_metrics(self, max_batch_size: int = 100) -> list[T]:
        """Take the next batch to process (the seed's name for :meth:`get_batch`)."""
        return self.get_batch(max_batch_size)

    async def get_batch_async(
        self,
        max_batch_size: int = 100,
        timeout: float | None = None,  # noqa: ASYNC109 - on the injectable clock
    ) -> list[T]:
        """Wait until at least one item is buffered, then return up to ``max_batch_size``.

        Args:
            max_batch_size: most items returned.
            timeout: most seconds to wait (``None``: as long as it takes).

        Returns:
            The batch, or an empty list if ``timeout`` passed with nothing buffered.
        """
        deadline = None if timeout is None else self._clock.monotonic() + timeout
        while True:
            batch = self.get_batch(max_batch_size)
            if batch:
                return batch
            remaining = None if deadline is None else deadline - self._clock.monotonic()
            if remaining is not None and remaining <= 0:
                return batch
            await self._consumers.wait(remaining)

    def __len__(self) -> int:
        return len(self._core)

    # -- observing -------------------------------------------------------------------

    def _report(self, *, force: bool) -> None:
        core = self._core
        if not self.events.active:
            core.pending.clear()
            return
        now = self._clock.monotonic()
        if not force and now - self._last_report < self._event_interval:
            return
        with core.lock:
            pending, core.pending = core.pending, {}
            if core.latest:
                _, drops = core.counts_locked()
                total = drops.get(DropReason.OVERFLOW_OLDEST, 0)
                pending.pop(DropReason.OVERFLOW_OLDEST, None)
                if total > self._reported_overflow:
                    pending[DropReason.OVERFLOW_OLDEST] = total - self._reported_overflow
                    self._reported_overflow = total
            self._last_report = now
        at = self._clock.wall()
        for reason, count in sorted(pending.items()):
            self.events.emit(ItemsDropped(self.name, at, str(reason), count))

    def flush_events(self) -> None:
        """Report pending drops now instead of waiting for ``event_interval``."""
        self._report(force=True)

    def stats(self) -> dict[str, Any]:
        """Return a fresh snapshot of counters, fill and rates."""
        now = self._clock.monotonic()
        core = self._core
        with core.lock:
            accepted, drops = core.counts_locked()
            size = len(core)
            delivered = core.delivered
            rejected = sum(n for r, n in drops.items() if r not in EVICTIONS)
            received = accepted + rejected
            self._rates.sample(now, received, delivered)
            in_rate, out_rate = self._rates.rates(now, received, delivered)
            stride = core.stride
        return {
            "kind": self.kind,
            "name": self.name,
            "strategy": str(self.strategy),
            "max_buffer_size": self.max_buffer_size,
            "buffer_size": size,
            "fill_ratio": size / self.max_buffer_size,
            "received": received,
            "accepted": accepted,
            "rejected": rejected,
            "delivered": delivered,
            "dropped": sum(drops.values()),
            "dropped_by_reason": {str(r): n for r, n in sorted(drops.items()) if n},
            "sampling_stride": stride,
            "in_rate": in_rate,
            "out_rate": out_rate,
            "waiting_producers": len(self._producers),
            "waiting_consumers": len(self._consumers),
        }

    def __repr__(self) -> str:
        return (
            f"BackpressureHandler(name={self.name!r}, max_buffer_size={self.max_buffer_size}, "
            f"sampling_strategy={str(self.strategy)!r}, size={len(self)})"
        )


def get_backpressure_handler(name: str, **settings: Any) -> BackpressureHandler[Any]:
    """Return the handler registered as ``name``, creating it with ``settings`` first.

    >>> a = get_backpressure_handler(name="doc_metrics", max_buffer_size=100)
    >>> get_backpressure_handler("doc_metrics") is a
    True
    >>> registry.unregister("backpressure", "doc_metrics")

    Args:
        name: the handler's name.
        **settings: :class:`BackpressureHandler` keyword arguments.

    Raises:
        ConfigError: a setting is invalid, or ``name`` exists with different settings.
    """
    comparable = {k: v for k, v in settings.items() if k not in ("clock", "listeners", "rng")}
    factory: Callable[[], BackpressureHandler[Any]] = lambda: BackpressureHandler(  # noqa: E731
        name, **settings
    )
    return registry.get_or_create(BackpressureHandler.kind, name, factory, comparable)
