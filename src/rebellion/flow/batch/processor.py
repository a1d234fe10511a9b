"""BatchProcessor: group submitted items into batches and process them resiliently.

A dispatcher task on the event loop forms batches by the configured strategy and runs
up to ``max_concurrent_batches`` of them at once; failures are retried, bisected and
dead-lettered (see :mod:`rebellion.flow.batch._runner` for the call contract).

Submitting: ``await submit(item)`` waits for queue space when ``backpressure_enabled``
(else raises :class:`~rebellion.errors.QueueFullError`); ``submit_nowait`` never waits
and may be called from any thread. Accounting, once drained::

    submitted + replayed == processed + dead_lettered

>>> import asyncio
>>> async def demo():
...     seen = []
...     processor = BatchProcessor("doc_batches", seen.extend, BatchConfig(max_batch_size=2))
...     await processor.start()
...     await processor.submit_batch(["a", "b", "c"])
...     await processor.stop()
...     return seen
>>> asyncio.run(demo())
['a', 'b', 'c']
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, final

from ..._clock import Clock
from ..._events import EventStream, Listener
from ..._registry import registry
from ..._validate import check_callable, check_clock, check_name
from ...errors import ConfigError, QueueFullError, RejectedError
from .._rates import RateWindow
from .._waiters import Waiters
from ._config import BatchConfig, BatchPriority, DeadLetter
from ._plan import Planner
from ._queue import Entry, PendingQueue
from ._runner import BatchRunner, CompleteCallback, ErrorCallback

__all__ = ["BatchProcessor"]


@final
class BatchProcessor:
    """Batch items for ``process_function``, with retries, bisection and a dead-letter queue.

    Args:
        name: name in events, statistics and the registry census.
        process_function: ``fn(items: list) -> None | list`` (sync or async); see the
            module docstring of ``_runner`` for per-item results.
        config: a :class:`BatchConfig` (defaults if omitted).
        clock: time source (max_wait, aging, backoff, timeouts).
        listeners: event listeners.

    Raises:
        ConfigError: a parameter is invalid; the message names it.
    """

    kind: ClassVar[str] = "batch_processor"

    def __init__(
        self,
        name: str,
        process_function: Callable[[list[Any]], object],
        config: BatchConfig | None = None,
        *,
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.name = check_name("name", name)
        check_callable("process_function", process_function, "a callable taking a list")
        if config is None:
            config = BatchConfig()
        if not isinstance(config, BatchConfig):
            raise ConfigError("config", "a BatchConfig", config)
        self.config = config
        self._clock = check_clock(clock)
        self.events = EventStream(self.name, listeners)
        self._runner = BatchRunner(self.name, process_function, config, self._clock, self.events)
        aging = config.aging_interval if config.uses_priority else None
        self._queue = PendingQueue(len(BatchPriority), aging)
        self._lock = threading.Lock()
        self._ids = 0
        self._submitted = 0
        self._replayed = 0
        self._dispatched = 0
        self._plan = Planner(config)
        if self._plan.tuner is not None:
            self._runner.observe = self._plan.tuner.observe
        self._space = Waiters(self._clock)  # producers waiting for queue space
        self._signal = Waiters(self._clock)  # the dispatcher waiting for work or a slot
        self._tasks: dict[asyncio.Task[None], tuple[list[Entry], set[int]]] = {}
        self._dispatcher: asyncio.Task[None] | None = None
        self._stopping = False
        self._rates = RateWindow(10.0)
        registry.track(self)

    # -- submitting ------------------------------------------------------------------

    def submit_nowait(self, item: Any, priority: int = BatchPriority.NORMAL) -> int:
        """Queue ``item`` without waiting; safe from any thread.

        Returns:
            The item's id (also in its dead letter, if it comes to that).

        Raises:
            QueueFullError: ``max_queue_size`` items are already waiting.
            RejectedError: the processor is stopping or stopped.
            ConfigError: ``priority`` is not a :class:`BatchPriority` level.
        """
        level = self._level(priority)
        with self._lock:
            self._admissible(1)
            return self._enqueue(item, level)

    async def submit(
        self,
        item: Any,
        priority: int = BatchPriority.NORMAL,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - on the injectable clock
    ) -> int:
        """Queue ``item``; with ``backpressure_enabled``, wait for space while full.

        Args:
            item: anything ``process_function`` accepts in its list.
            priority: a :class:`BatchPriority` (used with priority ordering).
            timeout: most seconds to wait for space (``None``: as long as it takes).

        Returns:
            The item's id.

        Raises:
            QueueFullError: full, and backpressure is off or ``timeout`` passed.
            RejectedError: the processor is stopping or stopped.
        """
        level = self._level(priority)
        deadline = None if timeout is None else self._clock.monotonic() + timeout
        while True:
            with self._lock:
                if (
                    self._stopping
                    or len(self._queue) < self.config.max_queue_size
                    or not self.config.backpressure_enabled
                ):
                    self._admissible(1)
                    return self._enqueue(item, level)
            remaining = None if deadline is None else deadline - self._clock.monotonic()
            if remaining is not None and remaining <= 0:
                raise self._full()
            await self._space.wait(remaining)

    async def submit_batch(
        self, items: Iterable[Any], priority: int = BatchPriority.NORMAL
    ) -> list[int]:
        """Queue every item of ``items`` in order; returns their ids.

        With backpressure the call waits for space item by item; without it the whole
        list is refused (QueueFullError) unless it fits, so nothing is half-queued.
        """
        level = self._level(priority)
        batch = list(items)
        if not self.config.backpressure_enabled:
            with self._lock:
                self._admissible(len(batch))
                return [self._enqueue(item, level) for item in batch]
        return [await self.submit(item, level) for item in batch]

    def _level(self, priority: object) -> int:
        if type(priority) is int and 0 <= priority < len(BatchPriority):
            return priority
        if isinstance(priority, BatchPriority):
            return int(priority)
        names = " | ".join(p.name for p in BatchPriority)
        raise ConfigError("priority", f"a BatchPriority ({names}) or 0-3", priority)

    def _admissible(self, count: int) -> None:
        if self._stopping:
            raise RejectedError(self.name, f"batch processor {self.name!r} is stopping")
        if len(self._queue) + count > self.config.max_queue_size:
            raise self._full()

    def _full(self) -> QueueFullError:
        size = self.config.max_queue_size
        return QueueFullError(self.name, f"batch queue {self.name!r} is full ({size} items)")

    def _enqueue(self, item: Any, level: int) -> int:
        self._ids += 1
        self._submitted += 1
        queue = self._queue
        queue.push(Entry(self._ids, item, level, self._clock.monotonic()))
        # Wake the dispatcher only when its decision can change: not once per item.
        if self._signal and (len(queue) == 1 or len(queue) >= self._plan.wake_at):
            self._signal.wake(1)
        return self._ids

    # -- running ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start the dispatcher on the running event loop (no-op if running)."""
        if self._dispatcher is not None and not self._dispatcher.done():
            return
        self._stopping = False
        self._plan.next_flush = self._clock.monotonic() + self.config.max_wait
        self._dispatcher = asyncio.get_running_loop().create_task(self._dispatch())

    async def stop(self, timeout: float | None = None) -> int:  # noqa: ASYNC109 - clock
        """Stop accepting items, drain the queue and wait for running batches.

        Args:
            timeout: most seconds to drain; then running batches are cancelled and
                their unfinished items go back to the queue (nothing is lost).

        Returns:
            How many items are left unprocessed (0 after a full drain).
        """
        self._stopping = True
        self._space.wake_all()
        dispatcher = self._dispatcher
        if dispatcher is None:
            return len(self._queue)
        self._signal.wake_all()
        if timeout is None:
            await dispatcher
        else:
            loop = asyncio.get_running_loop()
            done: asyncio.Future[None] = loop.create_future()
            dispatcher.add_done_callback(lambda _: _finish(done))
            handle = self._clock.call_later(
                timeout, lambda: loop.call_soon_threadsafe(_finish, done)
            )
            await done
            handle.cancel()
            if not dispatcher.done():
                await self._abort(dispatcher)
        self._dispatcher = None
        self._runner.close()
        return len(self._queue)

    async def _abort(self, dispatcher: asyncio.Task[None]) -> None:
        dispatcher.cancel()
        running = list(self._tasks)
        for task in running:
            task.cancel()
        await asyncio.gather(dispatcher, *running, return_exceptions=True)

    async def _dispatch(self) -> None:
        config = self.config
        while True:
            if len(self._tasks) >= config.max_concurrent_batches:
                await self._signal.wait(None)
                continue
            now = self._clock.monotonic()
            with self._lock:
                size, wait = self._plan.decide(self._queue, now, self._stopping)
                entries = self._queue.take(size, now) if size else []
            if entries:
                self._launch(entries)
                if self._space:
                    self._space.wake(len(entries))
                delay = self._plan.pause()
                if delay > 0 and not self._stopping:
                    await self._clock.sleep_async(delay)
                continue
            if self._stopping and not self._queue:
                break
            await self._signal.wait(wait)
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def target_batch_size(self) -> int:
        """Return the size the next batch aims for under the current strategy."""
        return self._plan.target()

    def _launch(self, entries: list[Entry]) -> None:
        self._dispatched += 1
        unsettled = {entry.item_id for entry in entries}
        task = asyncio.get_running_loop().create_task(
            self._runner.run(self._dispatched, entries, unsettled)
        )
        self._tasks[task] = (entries, unsettled)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        entries, unsettled = self._tasks.pop(task)
        if unsettled:  # cancelled mid-batch: unfinished items go back, first in line
            with self._lock:
                self._queue.push_front(e for e in entries if e.item_id in unsettled)
        self._signal.wake(1)

    # -- callbacks and dead letters ----------------------------------------------------

    def add_batch_complete_callback(self, callback: CompleteCallback) -> None:
        """Call ``callback(result: BatchResult)`` after every batch (sync or async)."""
        check_callable("callback", callback)
        self._runner.complete_callbacks.append(callback)

    def add_error_callback(self, callback: ErrorCallback) -> None:
        """Call ``callback(error, items)`` after every failed attempt (sync or async)."""
        check_callable("callback", callback)
        self._runner.error_callbacks.append(callback)

    def dead_letters(self) -> list[DeadLetter]:
        """Return the dead letters kept, oldest first."""
        return list(self._runner.dead)

    def replay_dead_letters(self, predicate: Callable[[DeadLetter], bool] | None = None) -> int:
        """Queue dead letters (those matching ``predicate``) again; return how many.

        Letters that do not fit in the queue stay in the dead-letter queue.
        """
        dead = self._runner.dead
        # The predicate is user code: choose outside the lock.
        chosen = [x for x in list(dead) if predicate is None or predicate(x)]
        replayed: set[int] = set()
        with self._lock:
            for letter in chosen:
                if len(self._queue) >= self.config.max_queue_size or self._stopping:
                    break
                self._ids += 1
                entry = Entry(self._ids, letter.item, letter.priority, self._clock.monotonic())
                self._queue.push(entry)
                replayed.add(id(letter))
            self._replayed += len(replayed)
        keep = [x for x in dead if id(x) not in replayed]
        dead.clear()
        dead.extend(keep)
        if replayed:
            self._signal.wake(1)
        return len(replayed)

    def purge_dead_letters(self, predicate: Callable[[DeadLetter], bool] | None = None) -> int:
        """Forget dead letters (those matching ``predicate``); return how many."""
        dead = self._runner.dead
        keep = [x for x in dead if predicate is not None and not predicate(x)]
        purged = len(dead) - len(keep)
        dead.clear()
        dead.extend(keep)
        return purged

    # -- observing -------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Return a fresh snapshot of counters, sizes and rates."""
        runner = self._runner
        now = self._clock.monotonic()
        self._rates.sample(now, runner.processed, runner.dead_lettered)
        throughput, _ = self._rates.rates(now, runner.processed, runner.dead_lettered)
        batches = runner.batches
        return {
            "kind": self.kind,
            "name": self.name,
            "strategy": str(self.config.strategy),
            "running": self._dispatcher is not None and not self._dispatcher.done(),
            "submitted": self._submitted,
            "replayed": self._replayed,
            "processed": runner.processed,
            "dead_lettered": runner.dead_lettered,
            "dead_letters": len(runner.dead),
            "dead_letters_discarded": runner.discarded,
            "batches_dispatched": self._dispatched,
            "batches_completed": batches,
            "failed_attempts": runner.failed_attempts,
            "retries": runner.retries,
            "splits": runner.splits,
            "queue_size": len(self._queue),
            "in_flight_batches": len(self._tasks),
            "target_batch_size": self.target_batch_size(),
            "avg_batch_size": (runner.processed + runner.dead_lettered) / batches if batches else 0,
            "avg_latency": runner.latency,
            "throughput": throughput,
            "performance_target": self.config.performance_target,
            "load": self._plan.load,
        }

    async def get_metrics(self) -> dict[str, Any]:
        """Return :meth:`stats` (awaitable, as in the seed documents)."""
        return self.stats()

    async def get_queue_status(self) -> dict[str, Any]:
        """Return the queue's shape: sizes per priority, oldest wait, in-flight work."""
        now = self._clock.monotonic()
        with self._lock:
            counts = self._queue.counts()
            oldest = self._queue.oldest()
            size = len(self._queue)
        by_priority = {p.name: counts[p] if p < len(counts) else 0 for p in BatchPriority}
        if len(counts) == 1:
            by_priority = {"ALL": counts[0]}
        return {
            "queue_size": size,
            "max_queue_size": self.config.max_queue_size,
            "by_priority": by_priority,
            "oldest_wait": 0.0 if oldest is None else now - oldest,
            "in_flight_batches": len(self._tasks),
            "in_flight_items": sum(len(u) for _, u in self._tasks.values()),
            "waiting_producers": len(self._space),
            "dead_letters": len(self._runner.dead),
            "stopping": self._stopping,
        }

    def __repr__(self) -> str:
        return f"BatchProcessor(name={self.name!r}, strategy={str(self.config.strategy)!r})"


def _finish(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
