"""The limiter's state machine: permits, partitions, LIFO waiters, samples.

Nothing here calls user code, sleeps or emits: the drivers in ``limiter.py`` wake
waiters and emit events after the lock is released. Without a backlog (``fast``) a
permit is taken and returned by call-free sequences of attribute updates, atomic under
the GIL (see ``policies/_atomic.py``), and the lock is taken only once per sample
window, to feed the algorithm. With a backlog every admission and release takes the
lock: a lock-free release could miss a waiter being queued at that moment.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable
from typing import final

from .._atomic import GIL_ATOMIC
from ._algorithms import LimitAlgorithm
from ._window import SampleWindow

__all__ = ["DROPPED", "FAILURE", "IGNORE", "SUCCESS", "LimiterCore", "Partition", "Token", "Waiter"]

SUCCESS, DROPPED, FAILURE, IGNORE = 0, 1, 2, 3
WAITING, GRANTED, SHED, ABANDONED = 0, 1, 2, 3


@final
class Partition:
    """A traffic class: a guaranteed share of the limit, counted separately."""

    __slots__ = ("admitted", "inflight", "limit", "name", "rejected", "share")

    def __init__(self, name: str | None, share: float) -> None:
        self.name = name
        self.share = share
        self.limit = 0
        self.inflight = 0
        self.admitted = 0
        self.rejected = 0

    def resize(self, total: int) -> None:
        self.limit = max(1, math.ceil(total * self.share / 100.0)) if self.share > 0 else 0


@final
class Token:
    """One admitted call: release it exactly once with an outcome.

    ``success()`` feeds the round-trip time to the limit algorithm; ``dropped()`` tells
    it the call timed out or was shed downstream (it backs off); ``failure()`` and
    ``ignore()`` release the permit without a sample (a failure says nothing about
    capacity; ``ignore`` is for calls that never reached the dependency). A second
    release is a no-op.
    """

    __slots__ = ("_core", "inflight", "partition", "released", "started")

    def __init__(
        self, core: LimiterCore, partition: Partition, started: float, inflight: int
    ) -> None:
        self._core = core
        self.partition = partition
        self.started = started
        self.inflight = inflight
        self.released = False

    def success(self) -> None:
        """Release: the call succeeded (its latency is a sample)."""
        self._core.on_release(self, SUCCESS)

    def dropped(self) -> None:
        """Release: the call timed out or was dropped (the limit backs off)."""
        self._core.on_release(self, DROPPED)

    def failure(self) -> None:
        """Release: the call failed for a reason unrelated to load (no sample)."""
        self._core.on_release(self, FAILURE)

    def ignore(self) -> None:
        """Release without any sample (cancelled, or never reached the dependency)."""
        self._core.on_release(self, IGNORE)

    def __enter__(self) -> Token:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
        self._core.on_release(self, SUCCESS if exc is None else self._core.classify(exc))

    def __repr__(self) -> str:
        state = "released" if self.released else "held"
        return f"Token(partition={self.partition.name!r}, started={self.started!r}, {state})"


@final
class Waiter:
    """A caller queued for a permit; ``wake`` is set by the driver (thread or task)."""

    __slots__ = ("partition", "state", "token", "wake")

    def __init__(self, partition: Partition) -> None:
        self.partition = partition
        self.state = WAITING
        self.token: Token | None = None
        self.wake: Callable[[], object] = _nothing


def _nothing() -> None:
    return None


@final
class LimiterCore:
    """Permits, partitions and the LIFO backlog of one adaptive limiter."""

    def __init__(
        self,
        algorithm: LimitAlgorithm,
        window: SampleWindow,
        shares: dict[str, float],
        max_backlog: int,
        monotonic: Callable[[], float],
        on_change: Callable[[int, int, str], None],
    ) -> None:
        self.lock = threading.Lock()
        self.algorithm = algorithm
        self.window = window
        self.monotonic = monotonic
        self.on_change = on_change
        self.classify: Callable[[BaseException], int] = lambda error: FAILURE
        self.limit = algorithm.limit
        self.inflight = 0
        self.partitions = {name: Partition(name, share) for name, share in shares.items()}
        self.default = Partition(None, 0.0)
        self.partitioned = bool(shares)
        self.max_backlog = max_backlog
        self.fast = GIL_ATOMIC and not max_backlog
        self.waiters: deque[Waiter] = deque()
        self.n_success = self.n_dropped = self.n_failure = self.n_ignored = 0
        self.n_rejected = self.n_queued = self.n_shed_backlog = self.n_expired = 0
        self._resize()

    def _resize(self) -> None:
        for partition in self.partitions.values():
            partition.resize(self.limit)

    def _admits(self, partition: Partition) -> bool:
        # Below the total limit anyone may borrow; at it, a class still gets its share.
        if self.inflight < self.limit:
            return True
        return self.partitioned and partition.inflight < partition.limit

    def _admit(self, partition: Partition) -> Token:
        self.inflight += 1
        partition.inflight += 1
        partition.admitted += 1
        return Token(self, partition, self.monotonic(), self.inflight)

    def take(self, partition: Partition) -> int:
        """Take a permit for ``partition``: the in-flight count including it, or 0 if refused.

        Call-free from check to update: in ``fast`` mode it needs no lock (else hold it).
        """
        # Below the total limit anyone may borrow; at it, a class still gets its share.
        if self.inflight < self.limit or (
            self.partitioned and partition.inflight < partition.limit
        ):
            self.inflight += 1
            partition.inflight += 1
            partition.admitted += 1
            return self.inflight
        partition.rejected += 1
        self.n_rejected += 1
        return 0

    def try_acquire(self, partition: Partition) -> Token | None:
        """Return a token if a permit is free for ``partition`` (counts a rejection if not)."""
        if self.fast:
            inflight = self.take(partition)
        else:
            with self.lock:
                inflight = self.take(partition)
        return Token(self, partition, self.monotonic(), inflight) if inflight else None

    def enqueue(
        self, partition: Partition, wake: Callable[[], object]
    ) -> tuple[Token | None, Waiter | None, Waiter | None]:
        """Admit now, or queue a waiter: ``(token, waiter, shed_waiter)``.

        With a full backlog the *oldest* waiter is shed to make room: under LIFO it is
        the one least likely to be served in time. ``waiter`` is None when there is no
        backlog at all (the call is rejected).
        """
        with self.lock:
            if self._admits(partition):
                return self._admit(partition), None, None
            if self.max_backlog == 0:
                partition.rejected += 1
                self.n_rejected += 1
                return None, None, None
            shed = None
            if len(self.waiters) >= self.max_backlog:
                shed = self.waiters.popleft()
                shed.state = SHED
                shed.partition.rejected += 1
                self.n_shed_backlog += 1
            waiter = Waiter(partition)
            waiter.wake = wake  # set before it is visible: a release may wake it at once
            self.waiters.append(waiter)
            self.n_queued += 1
            return None, waiter, shed

    def abandon(self, waiter: Waiter) -> Token | None:
        """Settle a waiter that stopped waiting: its token if granted meanwhile, else None."""
        with self.lock:
            if waiter.state == GRANTED:
                return waiter.token
            if waiter.state == WAITING:
                waiter.state = ABANDONED
                self.waiters.remove(waiter)
                waiter.partition.rejected += 1
                self.n_expired += 1
            return None

    def _grant_waiters(self) -> list[Waiter]:
        granted: list[Waiter] = []
        if not self.waiters:
            return granted
        # LIFO: the newest waiter is served first (it is the likeliest to still matter).
        index = len(self.waiters) - 1
        while index >= 0 and self.waiters:
            waiter = self.waiters[index]
            if self._admits(waiter.partition):
                del self.waiters[index]
                waiter.state = GRANTED
                waiter.token = self._admit(waiter.partition)
                granted.append(waiter)
                index = min(index, len(self.waiters)) - 1
            elif not self.partitioned:
                break
            else:
                index -= 1
        return granted

    def on_release(self, token: Token, outcome: int) -> None:
        with self.lock:
            if token.released:
                return
            token.released = True
        self.release(token.partition, token.started, token.inflight, outcome)

    def _count(self, partition: Partition, outcome: int) -> None:
        # Call-free: safe without the lock in fast mode.
        self.inflight -= 1
        partition.inflight -= 1
        if outcome == SUCCESS:
            self.n_success += 1
        elif outcome == DROPPED:
            self.n_dropped += 1
        elif outcome == FAILURE:
            self.n_failure += 1
        else:
            self.n_ignored += 1

    def release(self, partition: Partition, started: float, inflight: int, outcome: int) -> None:
        """Return a permit taken at ``started`` with ``inflight`` calls in flight.

        ``SUCCESS`` and ``DROPPED`` release with a round-trip sample; the others without.
        """
        now = self.monotonic()
        if self.fast:
            self._count(partition, outcome)
            if outcome <= DROPPED:
                sample = self.window.record(started, now - started, inflight, outcome == DROPPED)
                if sample is not None:
                    self.apply(sample)
            return
        with self.lock:
            self._count(partition, outcome)
            old = self.limit
            if outcome <= DROPPED:
                sample = self.window.record(started, now - started, inflight, outcome == DROPPED)
                if sample is not None:
                    self._update(sample)
            granted = self._grant_waiters()
        for waiter in granted:
            waiter.wake()
        if self.limit != old:
            self.on_change(old, self.limit, "algorithm")

    def apply(self, sample: tuple[float, int, bool, float]) -> None:
        """Feed the algorithm one closed window (``SampleWindow.record``'s result)."""
        with self.lock:
            old = self.limit
            self._update(sample)
            granted = self._grant_waiters()
        for waiter in granted:
            waiter.wake()
        if self.limit != old:
            self.on_change(old, self.limit, "algorithm")

    def _update(self, sample: tuple[float, int, bool, float]) -> None:
        average, peak, dropped, started = sample
        old = self.limit
        self.algorithm.update(average, peak, dropped, started=started)
        self.limit = self.algorithm.limit
        if self.limit != old:
            self._resize()

    def set_max_limit(self, max_limit: int) -> None:
        with self.lock:
            old = self.limit
            self.limit = self.algorithm.set_max_limit(max_limit)
            self._resize()
            granted = self._grant_waiters()
        for waiter in granted:
            waiter.wake()
        if self.limit != old:
            self.on_change(old, self.limit, "max_limit")
