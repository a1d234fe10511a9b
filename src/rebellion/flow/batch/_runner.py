"""Running one batch: the call contract, retries, bisection and dead letters.

The contract of ``process_function(items: list) -> None | list``:

* it returns normally: every item succeeded. If it returns a list with one entry per
  item, an entry that is an ``Exception`` instance marks *that* item failed; the other
  entries are the items' results;
* it raises: the whole batch failed.

A failed batch is retried with backoff (``max_retries`` times). If it still fails it is
bisected: each half is tried once, and a failing half is split again, until single
items remain; a single item that fails on its own goes to the dead-letter queue. One
poison item among ``n`` costs about ``2 * log2(n)`` extra calls and never takes its
neighbours down with it. Items that reported their own failure skip bisection.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from inspect import isawaitable
from typing import Any, final

from ..._clock import Clock
from ..._events import EventStream
from .._events import BatchCompleted, BatchFailed, ItemsDeadLettered
from ._config import BatchConfig, BatchResult, DeadLetter
from ._queue import Entry

__all__ = ["BatchRunner"]

logger = logging.getLogger("rebellion.flow.batch")

CompleteCallback = Callable[[BatchResult], object]
ErrorCallback = Callable[[BaseException, list[Any]], object]


@final
class BatchRunner:
    """Executes batches for a processor and keeps the outcome counters."""

    def __init__(
        self,
        name: str,
        function: Callable[[list[Any]], object],
        config: BatchConfig,
        clock: Clock,
        events: EventStream,
    ) -> None:
        self.name = name
        self._function = function
        self._config = config
        self._clock = clock
        self._events = events
        self._in_thread = config.run_sync_in_thread and not asyncio.iscoroutinefunction(function)
        self._pool_size = config.worker_pool_size if self._in_thread else None
        self._executor: ThreadPoolExecutor | None = None
        self.dead: deque[DeadLetter] = deque()
        self.complete_callbacks: list[CompleteCallback] = []
        self.error_callbacks: list[ErrorCallback] = []
        self.processed = 0
        self.dead_lettered = 0
        self.discarded = 0
        self.failed_attempts = 0
        self.retries = 0
        self.splits = 0
        self.batches = 0
        self.latency = 0.0  # EWMA of successful call durations
        self.observe: Callable[[int, float], None] | None = None  # the adaptive tuner

    async def run(self, batch_id: int, entries: list[Entry], unsettled: set[int]) -> None:
        """Process ``entries``; ids leave ``unsettled`` as each item is settled."""
        started = self._clock.monotonic()
        succeeded: list[Entry] = []
        results: list[Any] = []
        dead: list[DeadLetter] = []
        attempt = 0
        pending = entries
        while pending:
            attempt += 1
            outcome = await self._attempt(pending, attempt)
            ok, failed = self._split_outcome(pending, outcome)
            self._settle_success(ok, outcome, pending, succeeded, results, unsettled)
            if not failed:
                break
            error = failed[0][1]
            if self._config.retry_enabled and attempt <= self._config.max_retries:
                self.retries += 1
                pending = [entry for entry, _ in failed]
                await self._clock.sleep_async(self._config.backoff.delay(attempt))
                continue
            whole = isinstance(outcome, BaseException) and len(pending) > 1
            if whole and self._config.split_on_failure:
                await self._bisect(pending, error, succeeded, results, dead, unsettled)
                break
            for entry, item_error in failed:
                dead.append(self._dead_letter(entry, item_error, unsettled))
            break
        self.batches += 1
        duration = self._clock.monotonic() - started
        if dead:
            self._report_dead(dead)
        if self._events:
            self._events.emit(
                BatchCompleted(self.name, self._clock.wall(), len(entries), attempt, duration)
            )
        if self.complete_callbacks:
            result = BatchResult(
                batch_id, [e.item for e in succeeded], results, dead, attempt, duration
            )
            for callback in list(self.complete_callbacks):
                await _call_back(callback, result)

    async def _in_pool(self, payload: list[Any]) -> object:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                self._pool_size, thread_name_prefix=f"rebellion-batch-{self.name}"
            )
        return await asyncio.get_running_loop().run_in_executor(
            self._executor, self._function, payload
        )

    def close(self) -> None:
        """Release the worker pool's threads (a later batch starts a new pool)."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)

    async def _attempt(self, entries: list[Entry], attempt: int) -> object:
        """Call the function once; return its result or the exception it raised."""
        payload = [entry.item for entry in entries]
        for entry in entries:
            entry.attempts += 1
        started = self._clock.monotonic()
        try:
            if self._pool_size is not None:
                outcome = await self._in_pool(payload)
            elif self._in_thread:
                outcome = await asyncio.to_thread(self._function, payload)
            else:
                outcome = self._function(payload)
            if isawaitable(outcome):
                outcome = await outcome
        except Exception as error:
            self.failed_attempts += 1
            if self._events:
                event = BatchFailed(
                    self.name, self._clock.wall(), len(entries), attempt, type(error).__name__
                )
                self._events.emit(event)
            for callback in list(self.error_callbacks):
                await _call_back(callback, error, payload)
            return error
        duration = self._clock.monotonic() - started
        self.latency = duration if self.batches == 0 else 0.8 * self.latency + 0.2 * duration
        if self.observe is not None:
            self.observe(len(entries), duration)
        return outcome

    @staticmethod
    def _split_outcome(
        entries: list[Entry], outcome: object
    ) -> tuple[list[Entry], list[tuple[Entry, BaseException]]]:
        if isinstance(outcome, BaseException):
            return [], [(entry, outcome) for entry in entries]
        if isinstance(outcome, list | tuple) and len(outcome) == len(entries):
            failed = [(e, r) for e, r in zip(entries, outcome, strict=True) if _is_error(r)]
            if failed:
                ok = [e for e, r in zip(entries, outcome, strict=True) if not _is_error(r)]
                return ok, failed
        return entries, []

    def _settle_success(
        self,
        ok: list[Entry],
        outcome: object,
        entries: list[Entry],
        succeeded: list[Entry],
        results: list[Any],
        unsettled: set[int],
    ) -> None:
        if not ok:
            return
        if isinstance(outcome, list | tuple) and len(outcome) == len(entries):
            by_id = {e.item_id: r for e, r in zip(entries, outcome, strict=True)}
            results.extend(by_id[e.item_id] for e in ok)
        else:
            results.extend([None] * len(ok))
        succeeded.extend(ok)
        self.processed += len(ok)
        unsettled.difference_update(e.item_id for e in ok)

    async def _bisect(
        self,
        entries: list[Entry],
        error: BaseException,
        succeeded: list[Entry],
        results: list[Any],
        dead: list[DeadLetter],
        unsettled: set[int],
    ) -> None:
        if len(entries) == 1:
            dead.append(self._dead_letter(entries[0], error, unsettled))
            return
        self.splits += 1
        middle = len(entries) // 2
        for half in (entries[:middle], entries[middle:]):
            outcome = await self._attempt(half, 1)
            ok, failed = self._split_outcome(half, outcome)
            self._settle_success(ok, outcome, half, succeeded, results, unsettled)
            if isinstance(outcome, BaseException):
                await self._bisect(half, outcome, succeeded, results, dead, unsettled)
            else:
                for entry, item_error in failed:
                    dead.append(self._dead_letter(entry, item_error, unsettled))

    def _dead_letter(self, entry: Entry, error: BaseException, unsettled: set[int]) -> DeadLetter:
        letter = DeadLetter(
            entry.item_id,
            entry.item,
            entry.priority,
            error,
            entry.attempts,
            entry.enqueued,
            self._clock.monotonic(),
        )
        self.dead.append(letter)
        if len(self.dead) > self._config.dead_letter_max_size:
            self.dead.popleft()
            self.discarded += 1
        self.dead_lettered += 1
        unsettled.discard(entry.item_id)
        return letter

    def _report_dead(self, dead: list[DeadLetter]) -> None:
        if self._events:
            error = type(dead[-1].error).__name__
            self._events.emit(ItemsDeadLettered(self.name, self._clock.wall(), len(dead), error))


def _is_error(value: object) -> bool:
    return isinstance(value, Exception)


_reported: set[int] = set()


async def _call_back(callback: Callable[..., object], *args: Any) -> None:
    """Run a user callback (sync or async); its failure is logged once, never raised."""
    try:
        outcome = callback(*args)
        if isawaitable(outcome):
            await outcome
    except Exception:
        if id(callback) not in _reported:
            _reported.add(id(callback))
            logger.exception("batch callback %r raised; it is skipped (reported once)", callback)
