"""Scenario: concurrent callers through retry, breaker, bulkhead, timeout and hedge.

The pipeline's shape and settings, the callers' arrivals and the dependency's fault
plan are all drawn from the seed. Invariants are checked when the dependency is
entered (bulkhead limit, half-open probes), when each call is answered (deadline,
fail-fast rejections) and at the end (counts add up, no leaked slot or task, and the
breaker closes again once the dependency heals).

>>> from rebellion.simulation._world import World
>>> world = World(seed=3, scenario="pipeline")
>>> run_pipeline(world)
>>> world.violations
[]
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any, final

from ..errors import TimeoutExceededError
from ..policies.bulkhead import Bulkhead
from ..policies.circuit_breaker import CallRejected, CircuitBreaker, CircuitState
from ..policies.hedge import Hedge
from ..policies.pipeline import Pipeline
from ..policies.retry import Retry
from ..policies.timeout import Timeout
from ._dependency import CALLER, HANG, Dependency, DependencyError
from ._loop import Stalled, run
from ._world import World

__all__ = ["run_pipeline"]

_SLACK = 1e-6

PROBE: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "rebellion_sim_probe", default=None
)
"""The breaker epoch of the half-open probe permit the current attempt holds, if any."""


@final
@dataclass
class _Shape:
    pipeline: Pipeline | None = None
    retry: Retry | None = None
    breaker: CircuitBreaker | None = None
    bulkhead: Bulkhead | None = None
    timeout: Timeout | None = None
    hedge: Hedge | None = None
    bound: float = float("inf")
    probe_limit: int = 1
    rejected_at: dict[int, list[float]] = field(default_factory=dict)


def _build(world: World) -> _Shape:
    rng, clock = world.rng, world.clock
    shape = _Shape()
    policies: list[Any] = []
    per_attempt = 0.0
    if world.chance(0.7):
        retry_rejections = world.family("retry-rejections") if world.chance(0.5) else False
        shape.retry = Retry(
            max_attempts=rng.randint(2, 4),
            initial_delay=rng.uniform(0.05, 0.5),
            max_delay=2.0,
            deadline=rng.uniform(3.0, 20.0),
            retry_on=None if retry_rejections else (DependencyError, TimeoutExceededError),
            clock=clock,
            seed=rng.randrange(2**32),
        )
        policies.append(shape.retry)
    reset = rng.uniform(1.0, 10.0)
    shape.probe_limit = rng.randint(1, 3)
    shape.breaker = CircuitBreaker(
        "sim",
        failure_threshold=rng.randint(2, 5),
        reset_timeout=reset,
        exponential_backoff_factor=rng.choice([1.0, 1.5, 2.0]),
        max_reset_timeout=reset * rng.uniform(1.0, 6.0),
        half_open_max_calls=shape.probe_limit,
        success_threshold=rng.randint(1, 2),
        clock=clock,
        seed=rng.randrange(2**32),
        listeners=[lambda e: _on_breaker_event(shape, clock.monotonic(), e)],
    )
    policies.append(shape.breaker)
    if world.chance(0.6):
        queue = rng.randint(0, 3)
        wait = rng.uniform(0.1, 2.0)
        shape.bulkhead = Bulkhead(
            "sim", max_concurrent=rng.randint(1, 4), max_queue=queue, max_wait=wait, clock=clock
        )
        per_attempt += wait if queue else 0.0
        policies.append(shape.bulkhead)
    if world.chance(0.8):
        seconds = rng.uniform(0.3, 3.0)
        shape.timeout = Timeout(seconds, name="sim", clock=clock)
        per_attempt += seconds
        policies.append(shape.timeout)
    if world.chance(0.3):
        shape.hedge = Hedge(
            "sim",
            delay=rng.uniform(0.05, 1.0),
            max_hedged_attempts=rng.randint(1, 2),
            clock=clock,
        )
        policies.append(shape.hedge)
    if shape.timeout is not None:
        deadline = shape.retry.deadline if shape.retry is not None else 0.0
        shape.bound = (deadline or 0.0) + per_attempt + _SLACK
    world.log("pipeline: " + " -> ".join(repr(p) for p in policies))
    world.log(f"every caller answered within {shape.bound:.3f}s")
    shape.pipeline = Pipeline(*policies, name="sim", warn=False)
    return shape


def _on_breaker_event(shape: _Shape, now: float, event: object) -> None:
    if isinstance(event, CallRejected) and not event.shadow:
        shape.rejected_at.setdefault(CALLER.get(), []).append(now)


def run_pipeline(world: World) -> None:
    """Run one pipeline schedule in ``world``, recording violations there."""
    shape = _build(world)
    hangs = shape.timeout is not None or world.family("hung-probe")
    if hangs and shape.timeout is not None:
        world.family("hangs")
    dep = Dependency(world, hangs=hangs)
    breaker = shape.breaker
    assert breaker is not None
    core = breaker._core

    probes: dict[int, tuple[int, int]] = {}  # invocation -> (epoch, caller)
    acquire = core.acquire

    def tagged_acquire() -> int:
        # Tag the attempt with its probe permit; hedged attempts inherit the context.
        permit = acquire()
        PROBE.set(permit >> 1 if permit >= 0 and permit & 1 else None)
        return permit

    core.acquire = tagged_acquire  # type: ignore[method-assign]

    def entered(number: int, caller: int) -> None:
        world.step(f"caller {caller} enters the dependency")
        bulkhead = shape.bulkhead
        if bulkhead is not None:
            active = bulkhead.stats()["active"]
            world.check(
                active <= bulkhead.max_concurrent,
                "bulkhead-limit",
                f"{active} admitted calls, limit {bulkhead.max_concurrent}",
            )
        if core.state is not CircuitState.HALF_OPEN or PROBE.get() != core.epoch:
            return
        for gone in [n for n in probes if n not in dep.in_flight]:
            del probes[gone]
        probes[number] = (core.epoch, caller)
        # Hedged attempts of one probe share its permit: count callers, not invocations.
        probing = {c for e, c in probes.values() if e == core.epoch}
        limit = shape.probe_limit
        world.check(
            len(probing) <= limit and core.in_flight <= limit,
            "half-open-probes",
            f"{len(probing)} callers probing at once ({core.in_flight} permits), limit {limit}",
        )

    dep.on_enter = entered
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            run(_drive(world, shape, dep), world.clock, horizon=HANG / 2)
        except Stalled as stall:
            world.check(False, "answered", f"the simulation deadlocked: {stall}")


async def _drive(world: World, shape: _Shape, dep: Dependency) -> None:
    rng = world.rng
    pipeline = shape.pipeline
    assert pipeline is not None
    outcomes = {"ok": 0, "failed": 0}
    patient = shape.timeout is None
    tasks: list[asyncio.Task[None]] = []

    async def caller(number: int) -> None:
        CALLER.set(number)
        pause = rng.uniform(0.0, 4.0)
        for _ in range(rng.randint(1, 6)):
            await world.clock.sleep_async(pause)
            pause = rng.uniform(0.0, 4.0)
            started = world.clock.monotonic()
            world.step(f"caller {number} calls")
            try:
                result: str = await pipeline.execute(dep.invoke)
            except Exception as error:  # every failure is an answer
                pause = _honour_retry_after(world, error, pause)
                outcomes["failed"] += 1
                answer = f"{type(error).__name__}"
                if error.__cause__ is not None:
                    answer += f" from {type(error.__cause__).__name__}"
            else:
                outcomes["ok"] += 1
                answer = result
            now = world.clock.monotonic()
            world.step(f"caller {number} answered after {now - started:.3f}s: {answer}")
            world.check(
                now - started <= shape.bound,
                "deadline",
                f"caller {number} waited {now - started:.3f}s, bound {shape.bound:.3f}s",
            )
            rejections = [t for t in shape.rejected_at.pop(number, []) if t >= started]
            world.check(
                len(rejections) <= 1 and all(t == now for t in rejections),
                "rejection-fails-fast",
                f"caller {number} was rejected {len(rejections)} time(s) at "
                f"{[round(t, 3) for t in rejections]} and answered at {now:.3f}",
            )

    for number in range(rng.randint(2, 8)):
        tasks.append(asyncio.create_task(caller(number)))
    if patient:
        # Patient callers may hang for ever on a hung dependency: give them a day.
        done, _ = await asyncio.wait(tasks, timeout=86_400.0)
        hung = [t for t in tasks if t not in done]
    else:
        await asyncio.gather(*tasks)
        hung = []
    world.log(f"{len(hung)} caller(s) still waiting")
    _check_counts(world, shape, dep, outcomes, hung_callers=len(hung))
    await _check_recovery(world, shape, dep)
    for task in hung:
        task.cancel()
    await asyncio.gather(*hung, return_exceptions=True)
    _check_leaks(world, shape, dep)


def _honour_retry_after(world: World, error: BaseException, pause: float) -> float:
    """Return when to call again: a well-behaved client waits ``retry_after`` when told."""
    while error.__cause__ is not None and getattr(error, "retry_after", None) is None:
        error = error.__cause__
    retry_after = getattr(error, "retry_after", None)
    if isinstance(retry_after, float) and 0 < retry_after < 1e6 and world.chance(0.7):
        return retry_after
    return pause


def _check_counts(
    world: World, shape: _Shape, dep: Dependency, outcomes: dict[str, int], hung_callers: int
) -> None:
    assert shape.breaker is not None
    b = shape.breaker.stats()
    answered = outcomes["ok"] + outcomes["failed"]
    attempts = answered + hung_callers
    if shape.retry is not None:
        r = shape.retry.stats()
        world.check(
            r["calls"] == answered and r["successes"] == outcomes["ok"],
            "counts",
            f"retry counted {r['calls']} calls ({r['successes']} ok), callers saw "
            f"{answered} ({outcomes['ok']} ok)",
        )
        attempts = r["calls"] + r["retries"] + hung_callers
    seen = b["successful_calls"] + b["failed_calls"] + b["ignored_calls"] + b["rejected_calls"]
    world.check(
        seen + hung_callers >= attempts >= seen,
        "counts",
        f"breaker saw {seen} calls ({b}), callers made {attempts} attempts",
    )
    world.check(
        b["successful_calls"] == outcomes["ok"],
        "counts",
        f"breaker counted {b['successful_calls']} successes, callers got {outcomes['ok']}",
    )
    passed = seen - b["rejected_calls"]
    if shape.bulkhead is not None:
        s = shape.bulkhead.stats()
        reached = s["admitted"] + s["rejected"] + s["cancelled"]
        world.check(
            passed <= reached <= passed + hung_callers,
            "counts",
            f"bulkhead counted {reached} arrivals ({s}), breaker let {passed} through",
        )
        passed = s["admitted"]
    if shape.timeout is not None:
        t = shape.timeout.stats()
        world.check(
            t["calls"] == passed,
            "counts",
            f"timeout counted {t['calls']} calls, {passed} reached it",
        )
    if shape.hedge is not None:
        h = shape.hedge.stats()
        if shape.timeout is not None:
            world.family("hedge-cancel-counts")  # the timeout cancels hedged calls from outside
        # A call still hanging is not in the tally yet; every other one is, cancelled too.
        unfinished = hung_callers * (1 + shape.hedge.max_hedged_attempts)
        world.check(
            h["attempts"] <= dep.invocations <= h["attempts"] + unfinished,
            "counts",
            f"hedge counted {h['attempts']} attempts, the dependency saw {dep.invocations}",
        )
        world.check(
            h["calls"] == sum(h["wins_by_attempt"]) + h["failures"] + h["cancelled"],
            "counts",
            f"hedge calls are not wins + failures + cancelled: {h}",
        )
    else:
        world.check(
            passed <= dep.invocations <= passed + hung_callers,
            "counts",
            f"the dependency saw {dep.invocations} invocations, {passed} were let through",
        )


async def _check_recovery(world: World, shape: _Shape, dep: Dependency) -> None:
    """Heal the dependency: the breaker must close within its longest open wait."""
    assert shape.breaker is not None
    cfg = shape.breaker.config
    dep.heal()
    window = cfg.max_reset_timeout + 3600.0
    healed = world.clock.monotonic()
    CALLER.set(-2)
    while world.clock.monotonic() - healed <= window:
        try:
            answer: str = await shape.breaker.execute(dep.invoke)
        except Exception as error:
            world.log(f"recovery call: {type(error).__name__}: {error}")
        else:
            world.step(f"recovery call succeeded: {answer}")
            return
        await world.clock.sleep_async(cfg.reset_timeout)
    world.check(
        False,
        "breaker-liveness",
        f"still rejecting {window:.0f}s after the dependency healed: {shape.breaker!r}",
    )


def _check_leaks(world: World, shape: _Shape, dep: Dependency) -> None:
    if shape.bulkhead is not None:
        s = shape.bulkhead.stats()
        world.check(
            s["active"] == 0 and s["queued"] == 0,
            "leaks",
            f"bulkhead holds {s['active']} slots and {s['queued']} waiters after the run",
        )
    assert shape.breaker is not None
    core = shape.breaker._core
    world.check(
        core.state is not CircuitState.HALF_OPEN or core.in_flight == 0,
        "leaks",
        f"breaker holds {shape.breaker._core.in_flight} probe permits after the run",
    )
    world.check(not dep.in_flight, "leaks", f"{len(dep.in_flight)} invocations still running")
    current = asyncio.current_task()
    others = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    world.check(not others, "leaks", f"{len(others)} tasks left behind: {others[:3]}")
    threads = threading.active_count() - world.threads_at_start
    world.check(threads <= 0, "leaks", f"{threads} thread(s) started and left behind")
