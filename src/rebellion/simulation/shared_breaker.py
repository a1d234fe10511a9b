"""Scenario: the Redis-shared breaker across simulated processes, Redis lost and back.

The breaker's Lua scripts run on a real Redis server (database 12, keys under a prefix
unique to the schedule, deleted afterwards); nothing is modelled. Two to four
simulated processes share one breaker (consecutive, count or time window) and one
faulty dependency, on one virtual clock.
Redis faults are injected at each process's client edge: a lost link raises redis-py's
own ``ConnectionError`` (the error a dead server gives), either for every process
(Redis down) or for one (a partition); Redis may come back with its data or empty
(restarted without persistence).

Checked at every dependency entry: never more leased probes in Redis than allowed,
never more callers probing at once through the shared state, and the shared window's
totals consistent (failures and slow calls within its calls, a count window within its
size). At the end: every
process's counts add up, and once Redis and the dependency are healthy every process
closes again.

>>> from rebellion.simulation.shared_breaker import redis_url
>>> redis_url().endswith("/12")
True
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable
from typing import Any

from ..policies.circuit_breaker import CircuitState
from ..policies.circuit_breaker.shared import SharedCircuitBreaker
from ._dependency import CALLER, Dependency
from ._loop import Stalled, run
from ._world import World

__all__ = ["SIM_DB", "redis_available", "redis_url", "run_shared_breaker"]

SIM_DB = 12
WINDOW_TOTALS = ("calls", "fails", "slow")
"""The Redis database the simulation writes to (keys under a unique prefix)."""


def redis_url() -> str:
    """Return the simulation's Redis URL (``REBELLION_SIM_REDIS_URL`` overrides it)."""
    return os.environ.get("REBELLION_SIM_REDIS_URL", f"redis://127.0.0.1:6379/{SIM_DB}")


def redis_available() -> bool:
    """Return whether a Redis server answers at :func:`redis_url`."""
    try:
        import redis  # noqa: F401
    except ImportError:
        return False
    from ..backends.redis import sync_client

    try:
        return bool(sync_client(redis_url(), timeout=0.5).ping())
    except Exception:
        return False


def _faulty(script: Callable[..., Any], link: dict[str, bool]) -> Callable[..., Any]:
    import redis.exceptions

    def call(*args: Any, **kwargs: Any) -> Any:
        if not link["up"]:
            raise redis.exceptions.ConnectionError("simulated: Redis unreachable")
        return script(*args, **kwargs)

    return call


def run_shared_breaker(world: World) -> None:
    """Run one shared-breaker schedule in ``world`` against real Redis."""
    from ..backends.redis import sync_client

    rng = world.rng
    prefix = f"rebellion:sim:{uuid.uuid4().hex}"
    name = "shared"
    admin = sync_client(redis_url(), timeout=5.0)
    reset = rng.uniform(1.0, 10.0)
    settings: dict[str, Any] = {
        "failure_threshold": rng.randint(2, 5),
        "reset_timeout": reset,
        "exponential_backoff_factor": rng.choice([1.0, 2.0]),
        "max_reset_timeout": reset * rng.uniform(1.0, 4.0),
        "half_open_max_calls": rng.randint(1, 3),
        "success_threshold": rng.randint(1, 2),
        "probe_lease": 30.0,
        "refresh_interval": rng.choice([0.0, 0.1, 1.0]),
        "resync_interval": rng.uniform(0.5, 5.0),
    }
    window = rng.choice(["consecutive", "count", "time"])
    settings["window_type"] = window
    if window != "consecutive":
        size = rng.randint(4, 20) if window == "count" else rng.uniform(5.0, 30.0)
        settings["window_size"] = size
        settings["minimum_calls"] = rng.randint(2, 4)
        settings["failure_rate_threshold"] = rng.uniform(0.2, 0.8)
    world.log(f"shared breaker on {redis_url()} (keys under a unique prefix): {settings}")
    processes: list[SharedCircuitBreaker] = []
    links: list[dict[str, bool]] = []
    try:
        for _ in range(rng.randint(2, 4)):
            breaker = SharedCircuitBreaker(
                name, redis_url(), key_prefix=prefix, clock=world.clock, **settings
            )
            link = {"up": True}
            core = breaker._core
            core._acquire = _faulty(core._acquire, link)
            core._record = _faulty(core._record, link)
            core._read = _faulty(core._read, link)
            processes.append(breaker)
            links.append(link)
        try:
            run(_drive(world, processes, links, admin, f"{prefix}:{name}"), world.clock)
        except Stalled as stall:
            world.check(False, "answered", f"the simulation deadlocked: {stall}")
    finally:
        keys = list(admin.scan_iter(match=f"{prefix}:*"))
        if keys:
            admin.delete(*keys)
        for breaker in processes:
            breaker._core.client.close()
        admin.close()


async def _drive(
    world: World,
    processes: list[SharedCircuitBreaker],
    links: list[dict[str, bool]],
    admin: Any,
    key: str,
) -> None:
    rng = world.rng
    dep = Dependency(world, hangs=False)
    max_probes = processes[0].config.half_open_max_calls
    probes: dict[int, tuple[str, int]] = {}  # invocation -> (epoch, caller)

    def entered(number: int, caller: int) -> None:
        world.step(f"caller {caller} enters the dependency")
        leased = admin.zcard(key + ":probes")
        world.check(
            leased <= max_probes, "half-open-probes", f"{leased} probe leases, limit {max_probes}"
        )
        calls, fails, slow = (int(v or 0) for v in admin.hmget(key + ":window", *WINDOW_TOTALS))
        cfg = processes[0].config
        bound = cfg.window_size if cfg.window_type == "count" else calls
        world.check(
            0 <= fails <= calls and 0 <= slow <= calls and calls <= bound,
            "window-totals",
            f"shared window holds {calls} calls, {fails} failed, {slow} slow "
            f"({cfg.window_type} window of {cfg.window_size:g})",
        )
        process = processes[caller // 100]
        state, epoch = admin.hmget(key, "state", "epoch")
        if process.degraded or state != b"HALF_OPEN":
            return
        for gone in [n for n in probes if n not in dep.in_flight]:
            del probes[gone]
        probes[number] = (epoch, caller)
        probing = {c for e, c in probes.values() if e == epoch}
        world.check(
            len(probing) <= max_probes,
            "half-open-probes",
            f"{len(probing)} callers probing the shared breaker at once, limit {max_probes}",
        )

    dep.on_enter = entered
    answered = [{"ok": 0, "failed": 0, "rejected": 0} for _ in processes]

    async def caller(process: int, number: int) -> None:
        CALLER.set(process * 100 + number)
        breaker = processes[process]
        pause = rng.uniform(0.0, 2.0)
        for _ in range(rng.randint(3, 10)):
            await world.clock.sleep_async(pause)
            pause = rng.uniform(0.0, 2.0)
            world.step(f"process {process} caller {number} calls")
            try:
                answer: str = await breaker.execute(dep.invoke)
            except Exception as error:
                pause = _honour_retry_after(world, error, pause)
                kind = "rejected" if type(error).__name__ == "CircuitOpenError" else "failed"
                answered[process][kind] += 1
                world.log(f"process {process} caller {number}: {type(error).__name__}")
            else:
                answered[process]["ok"] += 1
                world.log(f"process {process} caller {number}: {answer}")

    async def redis_faults() -> None:
        for _ in range(rng.randint(0, 3)):
            await world.clock.sleep_async(rng.uniform(1.0, 20.0))
            whom = range(len(links)) if world.chance(0.5) else [rng.randrange(len(links))]
            for i in whom:
                links[i]["up"] = False
            world.step(f"Redis lost for process(es) {list(whom)}")
            await world.clock.sleep_async(rng.uniform(0.5, 15.0))
            if len(whom) == len(links) and world.chance(0.5):
                admin.delete(key, key + ":probes")
                world.step("Redis returns empty (restarted without persistence)")
            for i in whom:
                links[i]["up"] = True
            world.step(f"Redis back for process(es) {list(whom)}")

    tasks = [asyncio.create_task(redis_faults())]
    for process in range(len(processes)):
        for number in range(rng.randint(1, 4)):
            tasks.append(asyncio.create_task(caller(process, number)))
    await asyncio.gather(*tasks)
    for i, breaker in enumerate(processes):
        s = breaker.stats()  # shared and local (degraded) calls together
        counted = s.successes + s.failures + s.rejections
        total = sum(answered[i].values())
        world.check(
            counted == total,
            "counts",
            f"process {i} counted {counted} calls ({s}), callers saw {total} ({answered[i]})",
        )
    await _recover(world, processes, dep)


def _honour_retry_after(world: World, error: Exception, pause: float) -> float:
    """Return when to call again: a well-behaved client waits ``retry_after`` when told."""
    retry_after = getattr(error, "retry_after", None)
    if isinstance(retry_after, float) and 0 < retry_after < 1e6 and world.chance(0.7):
        return retry_after
    return pause


async def _recover(world: World, processes: list[SharedCircuitBreaker], dep: Dependency) -> None:
    """Heal Redis and the dependency: every process must see the breaker close."""
    dep.heal()
    cfg = processes[0].config
    window = cfg.max_reset_timeout + 600.0
    healed = world.clock.monotonic()
    CALLER.set(-2)
    for i, breaker in enumerate(processes):
        while breaker.state is not CircuitState.CLOSED:
            if world.clock.monotonic() - healed > window:
                world.check(
                    False,
                    "breaker-liveness",
                    f"process {i} still {breaker.state.value} {window:.0f}s after all healed",
                )
                return
            try:
                answer: str = await breaker.execute(dep.invoke)
            except Exception as error:
                world.log(f"process {i} recovery call: {type(error).__name__}")
            else:
                world.log(f"process {i} recovery call: {answer}")
            await world.clock.sleep_async(cfg.reset_timeout / 2)
    world.step("every process sees the breaker closed again")
