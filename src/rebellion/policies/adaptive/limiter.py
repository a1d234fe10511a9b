"""The adaptive limiter policy: thin sync and async drivers over :class:`LimiterCore`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable, Iterable, Mapping
from inspect import isawaitable
from types import CoroutineType
from typing import Any, ClassVar, TypeVar, final

from ..._clock import Clock, SystemClock
from ..._events import EventStream, Listener
from ..._policy import Policy
from ..._registry import registry
from ..._validate import (
    check_choice,
    check_clock,
    check_exception_types,
    check_int,
    check_name,
    check_number,
)
from ...errors import ConfigError, LimitExceededError, RejectedError
from ..snapshots import AdaptiveLimiterSnapshot, PartitionSnapshot
from ._algorithms import AIMDLimit, Gradient2Limit, LimitAlgorithm, VegasLimit
from ._core import DROPPED, FAILURE, IGNORE, SHED, SUCCESS, LimiterCore, Partition, Token, Waiter
from ._events import CallShed, LimitChanged
from ._window import SampleWindow

__all__ = ["AdaptiveLimiter", "get_adaptive_limiter"]

T = TypeVar("T")
ALGORITHMS: dict[str, type[LimitAlgorithm]] = {
    "aimd": AIMDLimit,
    "vegas": VegasLimit,
    "gradient2": Gradient2Limit,
}


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@final
class AdaptiveLimiter(Policy):
    """Limit concurrent calls to a limit that follows the dependency's latency.

    The limit moves with an algorithm from Netflix's concurrency-limits (``"aimd"``,
    ``"vegas"``, ``"gradient2"``, or a configured :class:`LimitAlgorithm`), updated
    about once per round trip from averaged samples. A call beyond the limit is shed
    with :class:`~rebellion.errors.LimitExceededError`, or waits in a LIFO backlog
    (newest first; the oldest is shed when the backlog is full) for up to ``max_wait``.

    >>> from rebellion.testing import ManualClock
    >>> limiter = AdaptiveLimiter("search", algorithm="aimd", initial_limit=2,
    ...                           partitions={"live": 50}, clock=ManualClock())
    >>> a, b = limiter.acquire(), limiter.acquire("live")
    >>> limiter.try_acquire() is None, limiter.stats()["inflight"]
    (True, 2)
    >>> a.success(); b.success()
    >>> limiter.call(lambda: "ok")
    'ok'

    Args:
        name: shown in errors, events, statistics and the dashboard.
        algorithm: ``"gradient2"`` (default), ``"vegas"``, ``"aimd"`` or an instance.
        initial_limit: starting limit of a named algorithm (default 20).
        min_limit: lowest limit of a named algorithm (default 1).
        max_limit: highest limit of a named algorithm (default 1000).
        partitions: traffic class -> guaranteed percent of the limit (sum <= 100). A
            class may borrow unused capacity; at the limit it still gets its share.
        max_backlog: callers that may wait for a permit (0: shed at once).
        max_wait: seconds a waiter waits before it is shed.
        drop_on: exception types that mean "overloaded" (the limit backs off).
        min_window: shortest sample window, seconds.
        max_window: longest sample window, seconds.
        window_samples: samples a window needs before the limit may move.
        event_interval: at most one :class:`LimitChanged` per this many seconds.
        clock: time source (tests pass a ``ManualClock``).
        listeners: callables receiving this limiter's events.
    """

    kind: ClassVar[str] = "adaptive_limiter"

    def __init__(
        self,
        name: str = "adaptive_limiter",
        *,
        algorithm: str | LimitAlgorithm = "gradient2",
        initial_limit: int | None = None,
        min_limit: int | None = None,
        max_limit: int | None = None,
        partitions: Mapping[str, float] | None = None,
        max_backlog: int = 0,
        max_wait: float = 1.0,
        drop_on: type[BaseException] | Iterable[type[BaseException]] = TimeoutError,
        min_window: float = 0.0,
        max_window: float = 1.0,
        window_samples: int = 10,
        event_interval: float = 1.0,
        clock: Clock | None = None,
        listeners: Iterable[Listener] = (),
    ) -> None:
        self.name = check_name("name", name)
        self.algorithm = _algorithm(algorithm, initial_limit, min_limit, max_limit)
        shares = _shares(partitions)
        if isinstance(max_backlog, bool) or not isinstance(max_backlog, int) or max_backlog < 0:
            raise ConfigError("max_backlog", "an integer >= 0", max_backlog)
        self.max_wait = check_number("max_wait", max_wait, minimum=0.0, exclusive_minimum=True)
        self.drop_on = check_exception_types("drop_on", drop_on)
        window = SampleWindow(
            self.algorithm,
            min_window=min_window,
            max_window=max_window,
            min_samples=check_int("window_samples", window_samples, minimum=1),
        )
        self.event_interval = check_number("event_interval", event_interval, minimum=0.0)
        self._clock = check_clock(clock)
        self._real_clock = isinstance(self._clock, SystemClock)
        self.events = EventStream(self.name, listeners)
        self._reported = self.algorithm.limit
        self._reported_at = -float("inf")
        self._core = LimiterCore(
            self.algorithm, window, shares, max_backlog, self._clock.monotonic, self._changed
        )
        self._core.classify = self.outcome
        registry.track(self)

    # -- limit ---------------------------------------------------------------------

    @property
    def limit(self) -> int:
        """The current concurrency limit."""
        return self._core.limit

    @property
    def inflight(self) -> int:
        """Calls holding a permit now."""
        return self._core.inflight

    @property
    def max_limit(self) -> int:
        """The cap the limit may not exceed (see :meth:`set_max_limit`)."""
        return self.algorithm.max_limit

    @max_limit.setter
    def max_limit(self, value: int) -> None:
        self.set_max_limit(value)

    def set_max_limit(self, max_limit: int) -> None:
        """Change the cap at run time; a lower cap applies at once to new admissions.

        Calls already in flight finish; the limit grows back by itself after the cap
        is raised again.

        Raises:
            ConfigError: ``max_limit`` is not an integer >= the algorithm's ``min_limit``.
        """
        self._core.set_max_limit(max_limit)

    def _changed(self, old: int, new: int, reason: str) -> None:
        if not self.events.active:
            return
        now = self._clock.monotonic()
        if reason == "algorithm" and now - self._reported_at < self.event_interval:
            return
        previous, self._reported, self._reported_at = self._reported, new, now
        if previous != new:
            self.events.emit(
                LimitChanged(
                    source=self.name,
                    at=self._clock.wall(),
                    old_limit=previous,
                    new_limit=new,
                    reason=reason,
                )
            )

    # -- permits ---------------------------------------------------------------------

    def _partition(self, name: str | None) -> Partition:
        if name is None:
            return self._core.default
        try:
            return self._core.partitions[name]
        except (KeyError, TypeError):
            known = " | ".join(repr(n) for n in self._core.partitions) or "None (no partitions)"
            raise ConfigError("partition", f"one of {known}", name) from None

    def _shed(self, partition: Partition, reason: str) -> LimitExceededError:
        core = self._core
        if self.events.active:
            self.events.emit(
                CallShed(
                    source=self.name,
                    at=self._clock.wall(),
                    partition=partition.name,
                    reason=reason,
                    limit=core.limit,
                    inflight=core.inflight,
                )
            )
        return LimitExceededError(self.name, reason, partition.name, core.limit)

    def try_acquire(self, partition: str | None = None) -> Token | None:
        """Return a :class:`Token` if a permit is free now, else ``None`` (never waits)."""
        return self._core.try_acquire(self._partition(partition))

    def acquire(self, partition: str | None = None) -> Token:
        """Return a permit, waiting in the backlog (blocking this thread) if configured.

        Raises:
            LimitExceededError: no permit, and no backlog room or ``max_wait`` passed.
        """
        part = self._partition(partition)
        token = self._core.try_acquire(part) if not self._core.max_backlog else None
        if token is not None:
            return token
        if not self._core.max_backlog:
            raise self._shed(part, "limit")
        event = threading.Event()
        token, waiter = self._enqueue(part, event.set)
        if token is not None:
            return token
        if self._real_clock:
            event.wait(self.max_wait)
        else:
            timer = self._clock.call_later(self.max_wait, event.set)
            event.wait()
            timer.cancel()
        return self._settle(waiter)

    async def acquire_async(self, partition: str | None = None) -> Token:
        """Return a permit, waiting in the backlog (suspending this task) if configured.

        Raises:
            LimitExceededError: no permit, and no backlog room or ``max_wait`` passed.
        """
        part = self._partition(partition)
        core = self._core
        if not core.max_backlog:
            token = core.try_acquire(part)
            if token is None:
                raise self._shed(part, "limit")
            return token
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            loop.call_soon_threadsafe(_resolve, future)

        token, waiter = self._enqueue(part, wake)
        if token is not None:
            return token
        timer = self._clock.call_later(self.max_wait, wake)
        try:
            await future
        except BaseException:
            granted = core.abandon(waiter)
            if granted is not None:
                granted.ignore()
            raise
        finally:
            timer.cancel()
        return self._settle(waiter)

    def _enqueue(self, part: Partition, wake: Callable[[], object]) -> tuple[Token | None, Waiter]:
        token, waiter, shed = self._core.enqueue(part, wake)
        if shed is not None:
            shed.wake()
        if waiter is None and token is None:
            raise self._shed(part, "limit")  # pragma: no cover - backlog is configured
        assert waiter is not None or token is not None
        return token, waiter  # type: ignore[return-value]

    def _settle(self, waiter: Waiter) -> Token:
        token = self._core.abandon(waiter)
        if token is None:
            raise self._shed(waiter.partition, "backlog" if waiter.state == SHED else "max_wait")
        return token

    def outcome(self, error: BaseException) -> int:
        """Return how an exception releases a permit (drop, failure or ignore)."""
        if isinstance(error, self.drop_on):
            return DROPPED
        if isinstance(error, RejectedError) or not isinstance(error, Exception):
            return IGNORE  # never reached the dependency, or cancelled
        return FAILURE

    # -- drivers ---------------------------------------------------------------------
    # Without a backlog a permit is a slot, not a Token: the in-flight count and the
    # start time live in the driver's locals (no allocation), taken and returned by
    # call-free updates (see _core). With a backlog the drivers go through tokens.

    def _run_sync(self, part: str | None, fn: Callable[..., T], args: Any, kwargs: Any) -> T:
        core = self._core
        if not core.fast:
            with self.acquire(part):
                return fn(*args, **kwargs)
        partition = self._partition(part)
        inflight = core.take(partition)
        if not inflight:
            raise self._shed(partition, "limit")
        started = self._clock.monotonic()
        try:
            result = fn(*args, **kwargs)
        except BaseException as error:
            core.release(partition, started, inflight, self.outcome(error))
            raise
        core.release(partition, started, inflight, SUCCESS)
        return result

    async def _run_async(
        self, part: str | None, fn: Callable[..., Any], args: Any, kwargs: Any
    ) -> Any:
        core = self._core
        if core.fast:
            partition = self._partition(part)
            inflight = core.take(partition)
            if not inflight:
                raise self._shed(partition, "limit")
            started = self._clock.monotonic()
        else:
            token = await self.acquire_async(part)
            partition, started, inflight = token.partition, token.started, token.inflight
            # The token is settled here, by slot: mark it so a stray release is a no-op.
            token.released = True
        outcome = SUCCESS
        try:
            result = fn(*args, **kwargs)
            if type(result) is CoroutineType or isawaitable(result):
                result = await result
        except BaseException as error:
            outcome = self.outcome(error)
            raise
        finally:
            core.release(partition, started, inflight, outcome)
        return result

    def _sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        return self._run_sync(None, fn, args, kwargs)

    async def _async(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        return await self._run_async(None, fn, args, kwargs)

    def _wrap_sync(self, fn: Callable[..., T]) -> Callable[..., T]:
        core = self._core
        if not core.fast:
            return super()._wrap_sync(fn)
        default = core.default
        monotonic = self._clock.monotonic
        record = core.window.record
        apply = core.apply
        release = core.release
        outcome = self.outcome
        shed = self._shed

        def guarded(*args: Any, **kwargs: Any) -> T:
            # Call-free take of a slot (core.take inlined for the default partition).
            if core.inflight < core.limit:
                core.inflight += 1
                inflight = core.inflight
                default.inflight += 1
                default.admitted += 1
            else:
                default.rejected += 1
                core.n_rejected += 1
                raise shed(default, "limit")
            started = monotonic()
            try:
                value = fn(*args, **kwargs)
            except BaseException as error:
                release(default, started, inflight, outcome(error))
                raise
            rtt = monotonic() - started
            core.inflight -= 1
            default.inflight -= 1
            core.n_success += 1
            sample = record(started, rtt, inflight, False)
            if sample is not None:
                apply(sample)
            return value

        return guarded

    def _wrap_async(self, fn: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        core = self._core
        if not core.fast:
            return super()._wrap_async(fn)
        default = core.default
        monotonic = self._clock.monotonic
        record = core.window.record
        apply = core.apply
        release = core.release
        outcome = self.outcome
        shed = self._shed

        async def guarded(*args: Any, **kwargs: Any) -> T:
            # The same slot protocol as the sync closure above.
            if core.inflight < core.limit:
                core.inflight += 1
                inflight = core.inflight
                default.inflight += 1
                default.admitted += 1
            else:
                default.rejected += 1
                core.n_rejected += 1
                raise shed(default, "limit")
            started = monotonic()
            try:
                value = await fn(*args, **kwargs)
            except BaseException as error:
                release(default, started, inflight, outcome(error))
                raise
            rtt = monotonic() - started
            core.inflight -= 1
            default.inflight -= 1
            core.n_success += 1
            sample = record(started, rtt, inflight, False)
            if sample is not None:
                apply(sample)
            return value

        return guarded

    def partition(self, name: str) -> PartitionPolicy:
        """Return a policy that runs calls under this limiter as traffic class ``name``.

        Raises:
            ConfigError: ``name`` is not one of the configured partitions.
        """
        self._partition(name)
        return PartitionPolicy(self, name)

    # -- observation -----------------------------------------------------------------

    def stats(self) -> AdaptiveLimiterSnapshot:
        """Return the limit, in-flight calls, outcome counters and per-partition figures."""
        core = self._core
        with core.lock:
            partitions = {
                p.name: {
                    "share": p.share,
                    "limit": p.limit,
                    "inflight": p.inflight,
                    "admitted": p.admitted,
                    "rejected": p.rejected,
                }
                for p in (*core.partitions.values(), core.default)
                if p.name is not None
            }
            default = core.default
            algorithm = self.algorithm.snapshot()
            settings = ("algorithm", "limit", "min_limit", "max_limit")
            return AdaptiveLimiterSnapshot(
                kind=self.kind,
                name=self.name,
                algorithm=algorithm["algorithm"],
                min_limit=algorithm["min_limit"],
                max_limit=algorithm["max_limit"],
                limit=core.limit,
                in_flight=core.inflight,
                backlog=len(core.waiters),
                admitted=int(sum(p["admitted"] for p in partitions.values()) + default.admitted),
                rejections=core.n_rejected + core.n_shed_backlog + core.n_expired,
                rejected_at_limit=core.n_rejected,
                shed_from_backlog=core.n_shed_backlog,
                expired_in_backlog=core.n_expired,
                queued=core.n_queued,
                successes=core.n_success,
                dropped=core.n_dropped,
                failures=core.n_failure,
                ignored=core.n_ignored,
                estimates={k: v for k, v in algorithm.items() if k not in settings},
                partitions=partitions,
            )

    def __repr__(self) -> str:
        return (
            f"AdaptiveLimiter(name={self.name!r}, algorithm={self.algorithm.name!r}, "
            f"limit={self.limit}, inflight={self.inflight})"
        )


@final
class PartitionPolicy(Policy):
    """One traffic class of an :class:`AdaptiveLimiter`, usable as a policy."""

    kind: ClassVar[str] = "adaptive_limiter"

    def __init__(self, limiter: AdaptiveLimiter, partition: str) -> None:
        self.limiter = limiter
        self.partition = partition
        self.name = f"{limiter.name}/{partition}"

    def _sync(self, fn: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        return self.limiter._run_sync(self.partition, fn, args, kwargs)

    async def _async(
        self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        return await self.limiter._run_async(self.partition, fn, args, kwargs)

    def stats(self) -> PartitionSnapshot:
        """Return this partition's figures (its own ``limit``)."""
        figures = self.limiter.stats().partitions[self.partition]
        return PartitionSnapshot(
            kind=self.kind,
            name=self.name,
            share=figures["share"],
            limit=int(figures["limit"]),
            in_flight=int(figures["inflight"]),
            admitted=int(figures["admitted"]),
            rejections=int(figures["rejected"]),
        )


def _algorithm(
    algorithm: object, initial: int | None, minimum: int | None, maximum: int | None
) -> LimitAlgorithm:
    if isinstance(algorithm, LimitAlgorithm):
        for key, value in (
            ("initial_limit", initial),
            ("min_limit", minimum),
            ("max_limit", maximum),
        ):
            if value is not None:
                raise ConfigError(
                    key, "left out when algorithm is an instance (set it there)", value
                )
        return algorithm
    kind = check_choice("algorithm", algorithm, ALGORITHMS)
    low = 1 if minimum is None else check_int("min_limit", minimum, minimum=1)
    cap = None if maximum is None else check_int("max_limit", maximum, minimum=low)
    default = max(20, low) if cap is None else min(max(20, low), cap)
    start = default if initial is None else check_int("initial_limit", initial, minimum=low)
    high = max(1000, start) if cap is None else cap
    return ALGORITHMS[kind](initial_limit=start, min_limit=low, max_limit=high)


def _shares(partitions: object) -> dict[str, float]:
    if partitions is None:
        return {}
    if not isinstance(partitions, Mapping):
        raise ConfigError("partitions", "a mapping of partition name to percent", partitions)
    shares: dict[str, float] = {}
    for key, value in partitions.items():
        name = check_name("partitions", key)
        shares[name] = check_number(
            f"partitions[{name!r}]", value, minimum=0.0, maximum=100.0, exclusive_minimum=True
        )
    if sum(shares.values()) > 100.0 + 1e-9:
        raise ConfigError("partitions", "percentages that sum to at most 100", dict(partitions))
    return shares


def get_adaptive_limiter(name: str, **settings: Any) -> AdaptiveLimiter:
    """Return the limiter registered as ``name``, creating it with ``settings`` first.

    >>> a = get_adaptive_limiter("catalog", algorithm="vegas", max_limit=200)
    >>> get_adaptive_limiter("catalog") is a
    True
    >>> from rebellion import registry
    >>> registry.unregister("adaptive_limiter", "catalog")

    Raises:
        ConfigError: ``name`` is registered with different settings.
    """
    comparable = {k: v for k, v in settings.items() if k not in ("clock", "listeners")}
    return registry.get_or_create(
        AdaptiveLimiter.kind, name, lambda: AdaptiveLimiter(name, **settings), comparable
    )
