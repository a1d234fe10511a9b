"""Scenario: the tiered cache (memory, SQLite disk, Redis) with Redis lost and back.

One simulated process writes, reads, deletes and loads keys through a
:class:`~rebellion.cache.DistributedCache`; it may restart (memory is lost, the disk
file and Redis stay). Redis, when a server answers, is real (database 12, a prefix
unique to the schedule, cleaned up); losing it is injected at the client edge as
redis-py's own ``ConnectionError``. Each operation runs to completion (background
preloads settled) before the next, so the schedule is deterministic.

After every read: the value is the last one written and not yet expired or deleted,
or a miss -- never an older value, never a deleted one, never one past its TTL (a
failing loader may get the last value within ``stale_grace``). At the end the tier
counts add up.

>>> from rebellion.simulation._world import World
>>> world = World(seed=2, scenario="cache")
>>> run_cache(world)
>>> world.violations
[]
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from typing import Any, final

from ..cache import DistributedCache
from ._world import World
from .queue import scratch_dir
from .shared_breaker import redis_available, redis_url

__all__ = ["run_cache"]

_GRACE = 30.0


class _LoaderError(RuntimeError):
    """The simulated loader failed."""


@final
class _Link:
    """The cache's Redis client, with a switch that makes every command fail."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.up = True

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.client, name)
        if self.up or name in ("aclose", "close"):
            return attribute
        import redis.exceptions

        if name == "scan_iter":
            return lambda *args, **kwargs: _BrokenScan()

        async def broken(*args: Any, **kwargs: Any) -> Any:
            raise redis.exceptions.ConnectionError("simulated: Redis unreachable")

        return broken


@final
class _BrokenScan:
    """A ``scan_iter`` over a lost connection: fails at the first step."""

    def __aiter__(self) -> _BrokenScan:
        return self

    async def __anext__(self) -> Any:
        import redis.exceptions

        raise redis.exceptions.ConnectionError("simulated: Redis unreachable")


def run_cache(world: World) -> None:
    """Run one cache schedule in ``world``, recording violations there."""
    directory = scratch_dir()
    use_redis = world.chance(0.7) and redis_available()
    world.log(f"cache tiers: memory, disk{', Redis at ' + redis_url() if use_redis else ''}")
    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(_drive(world, directory, use_redis))
    finally:
        loop.close()
        shutil.rmtree(directory, ignore_errors=True)


async def _drive(world: World, directory: str, use_redis: bool) -> None:
    rng = world.rng
    prefix = f"rebellion:sim:{uuid.uuid4().hex}"
    size = rng.randint(1, 6)
    disk = directory if world.chance(0.7) else None
    link: _Link | None = None
    outage_writes = world.family("cache-outage-writes") if use_redis else False

    def open_cache() -> DistributedCache:
        nonlocal link
        cache = DistributedCache(
            memory_cache_size=size,
            disk_cache_dir=disk,
            redis_url=redis_url() if use_redis else None,
            name="sim",
            stale_grace=_GRACE,
            redis_prefix=prefix,
            redis_failure_threshold=rng.randint(1, 3),
            redis_reset_timeout=rng.uniform(1.0, 10.0),
            preload=world.chance(0.5),
            clock=world.clock,
        )
        if cache._redis is not None:
            old = link
            link = _Link(cache._redis.client)
            link.up = old.up if old is not None else True
            cache._redis.client = link
        world.log(f"cache opened: disk={cache._disk is not None}")
        return cache

    cache = open_cache()
    # key -> (value, expires at) of the last write; None once deleted.
    model: dict[str, tuple[str, float] | None] = {}
    gets = 0
    try:
        for _ in range(rng.randint(10, 60)):
            key = f"k{rng.randint(0, 4)}"
            now = world.clock.monotonic()
            action = rng.choices(
                ["put", "get", "load", "delete", "wait", "restart", "redis"], [5, 6, 3, 2, 3, 1, 2]
            )[0]
            if action == "redis" and link is None:
                action = "wait"
            if action == "redis" and link is not None:
                if link.up and not outage_writes:
                    action = "wait"  # writes during an outage: see the family's note
                else:
                    link.up = not link.up
                    world.step(f"Redis {'back' if link.up else 'lost'}")
            if action == "put":
                ttl = rng.uniform(1.0, 30.0)
                value = f"v{world.steps}"
                await cache.put(key, value, ttl_seconds=ttl)
                model[key] = (value, now + ttl)
                world.step(f"put {key}={value} ttl {ttl:.1f}s")
            elif action == "get":
                got = await cache.get(key)
                gets += 1
                world.step(f"get {key} -> {got}")
                _check_read(world, key, got, model.get(key), now, stale_ok=False)
            elif action == "load":
                fails = world.chance(0.4)
                fresh = f"v{world.steps}"
                ttl = rng.uniform(1.0, 30.0)

                async def loader(fails: bool = fails, fresh: str = fresh) -> str:
                    if fails:
                        raise _LoaderError("simulated loader failure")
                    return fresh

                try:
                    got = await cache.get_or_load(key, loader, ttl_seconds=ttl)
                except _LoaderError:
                    got = None
                world.step(f"get_or_load {key} (loader {'fails' if fails else fresh}) -> {got}")
                if got == fresh:
                    model[key] = (fresh, now + ttl)
                else:
                    _check_read(world, key, got, model.get(key), now, stale_ok=True)
            elif action == "delete":
                await cache.delete(key)
                model[key] = None
                world.step(f"delete {key}")
            elif action == "wait":
                seconds = rng.choice([0.5, 3.0, 10.0, 40.0])
                world.clock.advance(seconds)
                world.step(f"{seconds}s pass")
            elif action == "restart":
                await cache.close()
                world.step("process restarts (memory lost)")
                cache = open_cache()
            await cache.settle()
        s = cache.stats()
        memory = s["tiers"]["memory"]
        world.check(
            memory["hits"] + memory["misses"] >= 0 and s["loads"] >= s["load_errors"],
            "counts",
            f"cache counts do not add up: {s}",
        )
    finally:
        if link is not None:
            link.up = True
            keys = [k async for k in link.client.scan_iter(match=f"{prefix}:*")]
            if keys:
                await link.client.delete(*keys)
        await cache.close()


def _check_read(
    world: World,
    key: str,
    got: object,
    last: tuple[str, float] | None,
    now: float,
    *,
    stale_ok: bool,
) -> None:
    if got is None:
        return
    if last is None:
        world.check(False, "cache-fresh", f"{key} gave {got!r}, but it was deleted or never set")
        return
    value, expires = last
    world.check(got == value, "cache-fresh", f"{key} gave {got!r}, the last write was {value!r}")
    limit = expires + (_GRACE if stale_ok else 0.0)
    world.check(
        now <= limit + 1e-9,
        "cache-fresh",
        f"{key} gave {got!r} {now - expires:.3f}s after it expired",
    )
