"""Scenario: the in-process rate limiter with waiting, impatient and cancelled callers.

Callers arrive on virtual time and either try once (``try_acquire``), or wait for a
turn (``acquire_async``, some with a ``max_wait``); some waiters are cancelled before
their turn. Every admission is recorded with its instant.

Checked after every admission: no window ``[a, b]`` holds more than
``burst + rate * (b - a)`` admissions. With the ``cancelled-waiters`` family, also
checked after every refusal while nobody waits: the refusal agrees with a token bucket
replaying only the admissions that really happened, so capacity reserved by a
cancelled waiter is handed back to everyone.

>>> from rebellion.simulation._world import World
>>> world = World(seed=4, scenario="limiter")
>>> run_limiter(world)
>>> world.violations
[]
"""

from __future__ import annotations

import asyncio

from ..errors import RateLimitedError
from ..policies.ratelimit import RateLimiter
from ._loop import Stalled, run
from ._world import World

__all__ = ["run_limiter"]

_EPSILON = 1e-9


def run_limiter(world: World) -> None:
    """Run one rate-limiter schedule in ``world``, recording violations there."""
    try:
        run(_drive(world), world.clock)
    except Stalled as stall:
        world.check(False, "answered", f"the simulation deadlocked: {stall}")


async def _drive(world: World) -> None:
    rng, clock = world.rng, world.clock
    rate = rng.choice([1.0, 2.0, 5.0, 10.0])
    burst = float(rng.randint(1, 5))
    limiter = RateLimiter(rate, burst=burst, clock=clock, name="sim")
    interval = 1.0 / rate
    world.log(f"rate limiter: {rate}/s, burst {burst:g}")
    conserving = world.family("cancelled-waiters")
    admissions: list[float] = []
    waiting: set[int] = set()

    def admitted(who: str) -> None:
        now = clock.monotonic()
        admissions.append(now)
        world.step(f"{who} admitted")
        for start in admissions:
            inside = sum(1 for t in admissions if start <= t <= now)
            allowed = burst + rate * (now - start)
            world.check(
                inside <= allowed + _EPSILON,
                "limit",
                f"{inside} admissions in [{start:.3f}, {now:.3f}], at most {allowed:.3f} allowed",
            )

    def replay_allows(now: float) -> bool:
        tat = float("-inf")
        for t in sorted(admissions):
            tat = max(tat, t) + interval
        return max(tat, now) + interval - now <= burst * interval + _EPSILON

    async def waiter(number: int, max_wait: float | None) -> None:
        waiting.add(number)
        try:
            await limiter.acquire_async(max_wait=max_wait)
        except RateLimitedError:
            world.step(f"waiter {number} refused (max_wait {max_wait})")
            return
        except asyncio.CancelledError:
            world.step(f"waiter {number} cancelled")
            raise
        finally:
            waiting.discard(number)
        admitted(f"waiter {number}")

    tasks: list[asyncio.Task[None]] = []
    for number in range(rng.randint(5, 40)):
        await clock.sleep_async(rng.choice([0.0, 0.0, 0.05, 0.3, 1.0, 3.0]))
        kind = rng.choices(["try", "wait", "wait-cancelled"], [4, 3, 2])[0]
        if kind == "try":
            if limiter.try_acquire():
                admitted(f"try {number}")
            else:
                world.step(f"try {number} refused")
                if conserving and not waiting:
                    now = clock.monotonic()
                    world.check(
                        not replay_allows(now),
                        "cancelled-waiters",
                        f"try_acquire refused at {now:.3f} with nobody waiting, but only "
                        f"{len(admissions)} admissions happened: reserved capacity leaked",
                    )
            continue
        max_wait = rng.choice([None, 0.5, 2.0])
        task = asyncio.create_task(waiter(number, max_wait))
        tasks.append(task)
        world.step(f"waiter {number} queues (max_wait {max_wait})")
        if kind == "wait-cancelled":
            delay = rng.uniform(0.0, 2.0)
            clock.call_later(delay, task.cancel)
    await asyncio.gather(*tasks, return_exceptions=True)
    stats = limiter.stats()
    world.log(f"limiter stats: {stats}")
    attempts = number + 1
    counted = stats["admitted"] + stats["rejected"] + stats["cancelled"]
    world.check(
        counted == attempts and stats["admitted"] >= len(admissions),
        "counts",
        f"limiter counted {counted} requests ({stats}), callers made {attempts} and saw "
        f"{len(admissions)} admissions",
    )
    current = asyncio.current_task()
    others = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
    world.check(not others, "leaks", f"{len(others)} tasks left behind")
