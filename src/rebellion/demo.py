"""A simulated flaky downstream, called through a full pipeline: watch a breaker work.

``rebellion demo`` offers calls at a fixed rate to a fake service whose failure rate and
latency change in phases (healthy → degrading → outage → recovery → healthy), through
``Pipeline(Fallback, Retry, CircuitBreaker, Timeout)``. The breaker opens in the outage,
probes (HALF_OPEN) after its reset timeout and closes again in the recovery.

The simulation reads time only through its ``clock``, so tests drive it in virtual time:

>>> import asyncio
>>> from rebellion.testing import ManualClock
>>> clock = ManualClock(auto_advance=False)
>>> sim = DemoSimulation(duration=2, rate=10, seed=1, clock=clock)
>>> async def drive():
...     task = asyncio.create_task(sim.run())
...     while not task.done():
...         await clock.advance_async(0.01, settle=10)
>>> asyncio.run(drive())
>>> snap = sim.snapshot()
>>> snap.offered == sum(snap.outcomes.values())
True
"""

from __future__ import annotations

import asyncio
import contextvars
import random
from collections import deque
from dataclasses import dataclass
from typing import Any, final

from ._clock import Clock
from ._events import Event
from ._registry import registry
from ._validate import check_clock, check_int, check_number
from .errors import CircuitOpenError, ConfigError, RetryExhaustedError, TimeoutExceededError
from .policies.budget import RetryBudget
from .policies.circuit_breaker import (
    CallRejected,
    CircuitBreaker,
    CircuitStateChanged,
    get_circuit_breaker,
)
from .policies.fallback import Fallback
from .policies.pipeline import Pipeline
from .policies.retry import Retry
from .policies.timeout import Timeout

__all__ = [
    "DEFAULT_PHASES",
    "OUTCOMES",
    "DemoSimulation",
    "DemoSnapshot",
    "DownstreamError",
    "FlakyDownstream",
    "Phase",
    "Transition",
]

OUTCOMES = ("success", "fallback", "rejected", "failed")
"""How a demo call ends: answered live; answered from the stale cache after failing;
refused fast by the open breaker (answered from the cache if it could); or lost (it
failed and the cache had no answer)."""

# The calling task's "the breaker refused me" flag, set by the CallRejected listener.
_REFUSED: contextvars.ContextVar[list[bool]] = contextvars.ContextVar("rebellion_demo_refused")

_NAMES = {
    "circuit_breaker": "demo.downstream",
    "retry": "demo.retry",
    "retry_budget": "demo.retry_budget",
    "fallback": "demo.fallback",
    "timeout": "demo.timeout",
    "pipeline": "demo.pipeline",
}


class DownstreamError(ConnectionError):
    """The simulated service answered with an error."""


class CacheMissError(LookupError):
    """The fallback cache had no stale answer for the requested key."""


@final
@dataclass(frozen=True, slots=True)
class Phase:
    """A stretch of the demo: its share of the run, failure rate ramp, latency, hangs.

    ``failure_start`` ramps linearly to ``failure_end`` across the phase; ``latency`` is
    the mean response time in seconds; ``hang_rate`` is the share of calls that hang far
    past the pipeline's timeout.
    """

    name: str
    share: float
    failure_start: float
    failure_end: float
    latency: float
    hang_rate: float = 0.0


DEFAULT_PHASES: tuple[Phase, ...] = (
    Phase("healthy", 0.20, 0.01, 0.01, 0.010),
    Phase("degrading", 0.20, 0.05, 0.45, 0.030, hang_rate=0.05),
    Phase("outage", 0.20, 0.95, 0.95, 0.060, hang_rate=0.50),
    Phase("recovery", 0.15, 0.15, 0.02, 0.020, hang_rate=0.01),
    Phase("healthy", 0.25, 0.01, 0.01, 0.010),
)


@final
@dataclass(frozen=True, slots=True)
class Transition:
    """A breaker transition seen by the demo, ``elapsed`` seconds into the run."""

    elapsed: float
    old_state: str
    new_state: str
    reason: str


@final
@dataclass(frozen=True, slots=True)
class DemoSnapshot:
    """Everything the live view and the summary show, at one instant."""

    elapsed: float
    duration: float
    phase: str
    breaker_state: str
    time_until_half_open: float | None
    offered: int
    in_flight: int
    cancelled: int
    outcomes: dict[str, int]
    retries: int
    budget_withdrawn: int
    budget_refused: int
    budget_available: int
    p50: float | None
    p95: float | None
    transitions: tuple[Transition, ...]
    transition_count: int


@final
class FlakyDownstream:
    """A fake service whose behaviour follows ``phases`` over ``duration`` seconds.

    Args:
        duration: seconds the phases are spread over (> 0).
        clock: time source; latency is slept on it.
        rng: random source for failures and latencies (seed it for a repeatable run).
        phases: the schedule; shares are normalised to sum to 1.
        hang: how long a hanging call would take (the pipeline's timeout cuts it short).
    """

    def __init__(
        self,
        duration: float,
        clock: Clock,
        rng: random.Random,
        phases: tuple[Phase, ...] = DEFAULT_PHASES,
        hang: float = 5.0,
    ) -> None:
        self.duration = check_number("duration", duration, minimum=0.0, exclusive_minimum=True)
        if not phases:
            raise ConfigError("phases", "at least one Phase", phases)
        total = sum(p.share for p in phases)
        if total <= 0:
            raise ConfigError("phases", "shares that sum to more than 0", phases)
        self.phases = phases
        ends: list[float] = []
        acc = 0.0
        for phase in phases:
            acc += phase.share / total * self.duration
            ends.append(acc)
        self._ends = tuple(ends)
        self._clock = clock
        self._rng = rng
        self._hang = hang
        self._started = clock.monotonic()
        self.calls = 0

    def start(self) -> None:
        """Restart the phase schedule from now."""
        self._started = self._clock.monotonic()

    def phase_at(self, elapsed: float) -> tuple[Phase, float]:
        """Return the phase at ``elapsed`` seconds and how far into it (0..1) we are."""
        begin = 0.0
        for phase, end in zip(self.phases, self._ends, strict=True):
            if elapsed < end:
                return phase, (elapsed - begin) / (end - begin) if end > begin else 0.0
            begin = end
        return self.phases[-1], 1.0

    async def fetch(self, key: int) -> str:
        """Answer for ``key`` after the phase's latency, or raise :class:`DownstreamError`."""
        self.calls += 1
        phase, progress = self.phase_at(self._clock.monotonic() - self._started)
        rng = self._rng
        failure_rate = phase.failure_start + (phase.failure_end - phase.failure_start) * progress
        if rng.random() < phase.hang_rate:
            delay = self._hang
        else:
            delay = phase.latency * (0.5 + rng.random())
        fails = rng.random() < failure_rate
        await self._clock.sleep_async(delay)
        if fails:
            raise DownstreamError(f"downstream failed in phase {phase.name!r}")
        return f"live:{key}"


@final
class DemoSimulation:
    """Offer ``rate`` calls per second for ``duration`` seconds through the pipeline.

    Args:
        duration: seconds to run (> 0).
        rate: calls offered per second (> 0, at most 10 000).
        seed: seed for the downstream, jitter and cache (None: a fresh random run).
        clock: time source (default: the real clock; tests pass a ``ManualClock``).
        history: how many recent breaker transitions :meth:`snapshot` keeps.

    Raises:
        ConfigError: a parameter is out of range; the message names it.
    """

    def __init__(
        self,
        duration: float = 30.0,
        rate: float = 200.0,
        *,
        seed: int | None = None,
        clock: Clock | None = None,
        history: int = 8,
    ) -> None:
        self.duration = check_number("duration", duration, minimum=0.0, exclusive_minimum=True)
        self.rate = check_number("rate", rate, minimum=0.0, maximum=10_000, exclusive_minimum=True)
        self._history = check_int("history", history, minimum=1, maximum=1000)
        self.clock = clock = check_clock(clock)
        rng = random.Random(seed)
        self.downstream = FlakyDownstream(self.duration, clock, random.Random(rng.random()))
        self._cache_rng = random.Random(rng.random())
        self.breaker, self.retry, self.budget, self.fallback, self.timeout, self.pipeline = (
            self._build(clock, rng.randrange(2**32))
        )
        self._guarded = self.pipeline(self.downstream.fetch)
        self.outcomes = dict.fromkeys(OUTCOMES, 0)
        self.offered = 0
        self.cancelled = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._latencies: deque[float] = deque(maxlen=2000)
        self.transitions: list[Transition] = []
        self._started = clock.monotonic()
        self.breaker.events.subscribe(self._on_event)

    def _build(
        self, clock: Clock, seed: int
    ) -> tuple[CircuitBreaker, Retry, RetryBudget, Fallback, Timeout, Pipeline]:
        # A new run replaces the previous demo's registrations (its settings may differ).
        for kind, name in _NAMES.items():
            registry.unregister(kind, name)
        reset = max(0.05, self.duration / 20)
        breaker = get_circuit_breaker(
            _NAMES["circuit_breaker"],
            window_type="count",
            window_size=20,
            minimum_calls=10,
            failure_rate_threshold=0.5,
            reset_timeout=reset,
            exponential_backoff_factor=1.5,
            max_reset_timeout=reset * 3,
            half_open_max_calls=3,
            success_threshold=3,
            clock=clock,
            seed=seed,
        )
        budget = RetryBudget(
            ratio=0.2, min_retries_per_second=5, ttl=2.0, name=_NAMES["retry_budget"], clock=clock
        )
        retry = Retry(
            max_attempts=3,
            initial_delay=0.01,
            max_delay=0.1,
            jitter="full",
            retry_on=(DownstreamError, TimeoutExceededError),
            budget=budget,
            name=_NAMES["retry"],
            clock=clock,
            seed=seed,
        )
        # Failed and refused calls get a stale answer when the cache has one.
        fallback = Fallback(
            self._stale_answer,
            should_fallback_on=[
                DownstreamError,
                TimeoutExceededError,
                RetryExhaustedError,
                CircuitOpenError,
            ],
            name=_NAMES["fallback"],
            clock=clock,
        )
        timeout = Timeout(0.1, name=_NAMES["timeout"], clock=clock)
        pipeline = Pipeline(fallback, retry, breaker, timeout, name=_NAMES["pipeline"])
        for primitive in (budget, retry, fallback, timeout, pipeline):
            registry.register(primitive)
        return breaker, retry, budget, fallback, timeout, pipeline

    # -- the run -------------------------------------------------------------------

    def _stale_answer(self, key: int) -> str:
        if self._cache_rng.random() < _CACHE_MISS_RATE:
            raise CacheMissError(f"no stale answer cached for key {key}")
        return f"stale:{key}"

    def _on_event(self, event: Event) -> None:
        if isinstance(event, CallRejected):
            # Delivered inline, in the task of the refused call.
            refused = _REFUSED.get(None)
            if refused is not None:
                refused[0] = True
        elif isinstance(event, CircuitStateChanged) and not event.shadow:
            elapsed = self.clock.monotonic() - self._started
            self.transitions.append(
                Transition(elapsed, event.old_state, event.new_state, event.reason)
            )

    async def _one_call(self, key: int) -> None:
        clock = self.clock
        start = clock.monotonic()
        refused = [False]
        _REFUSED.set(refused)  # this task's own context: _on_event marks this call
        try:
            answer = await self._guarded(key)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        except Exception:
            outcome = "rejected" if refused[0] else "failed"
        else:
            if answer.startswith("live:"):
                outcome = "success"
            else:
                outcome = "rejected" if refused[0] else "fallback"
        self.outcomes[outcome] += 1
        self._latencies.append(clock.monotonic() - start)

    async def run(self, grace: float = 2.0) -> None:
        """Offer calls at :attr:`rate` until :attr:`duration` has passed, then drain.

        Calls still running ``grace`` seconds after the last one was offered are
        cancelled (counted in ``cancelled``); cancelling :meth:`run` cancels every call
        it started.
        """
        clock = self.clock
        self._started = clock.monotonic()
        self.downstream.start()
        interval = 1.0 / self.rate
        total = max(1, round(self.duration * self.rate))
        start = self._started
        try:
            while self.offered < total:
                now = clock.monotonic()
                # Index-based due times: no drift, and a slow tick catches up at once.
                while self.offered < total and start + self.offered * interval <= now:
                    self._spawn()
                if self.offered < total:
                    await clock.sleep_async(start + self.offered * interval - now)
            await self._drain(grace)
        finally:
            for task in list(self._tasks):
                task.cancel()

    def _spawn(self) -> None:
        self.offered += 1
        task = asyncio.get_running_loop().create_task(self._one_call(self.offered))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, grace: float) -> None:
        clock = self.clock
        deadline = clock.monotonic() + grace
        while self._tasks and clock.monotonic() < deadline:
            await clock.sleep_async(0.01)

    # -- observation ---------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        """Seconds since :meth:`run` started (capped at the duration)."""
        return min(self.duration, self.clock.monotonic() - self._started)

    def snapshot(self, *, all_transitions: bool = False) -> DemoSnapshot:
        """Return counts, breaker state, latency percentiles and recent transitions.

        Args:
            all_transitions: include every transition seen, not only the last
                ``history`` (the final summary lists them all).
        """
        elapsed = self.elapsed
        breaker: dict[str, Any] = self.breaker.stats().as_dict()
        retry: dict[str, Any] = self.retry.stats().as_dict()
        budget: dict[str, Any] = self.budget.stats().as_dict()
        latencies = sorted(self._latencies)
        return DemoSnapshot(
            elapsed=elapsed,
            duration=self.duration,
            phase=self.downstream.phase_at(elapsed)[0].name,
            breaker_state=str(breaker["state"]),
            time_until_half_open=breaker["time_until_half_open"],
            offered=self.offered,
            in_flight=len(self._tasks),
            cancelled=self.cancelled,
            outcomes=dict(self.outcomes),
            retries=int(retry["retries"]),
            budget_withdrawn=int(budget["withdrawn"]),
            budget_refused=int(budget["refused"]),
            budget_available=int(budget["available"]),
            p50=_percentile(latencies, 0.50),
            p95=_percentile(latencies, 0.95),
            transitions=tuple(
                self.transitions if all_transitions else self.transitions[-self._history :]
            ),
            transition_count=len(self.transitions),
        )


_CACHE_MISS_RATE = 0.2


def _percentile(ordered: list[float], q: float) -> float | None:
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]
