"""Scenario: the SQLite durable queue under process crashes between any two steps.

One to three simulated processes share one real queue file. Each step is drawn from
the seed: enqueue (some with idempotency keys), claim with a random lease, ack, nack,
extend a lease, let time pass, or crash a process. A crash abandons the process's
queue object (its leases stay in the file until they expire) and a new process opens
the file again. A crash *during* an enqueue is either before the commit (nothing was
stored) or after it (stored, but the caller never got the id): SQLite makes each
commit atomic, so these are the only two outcomes; what is tested is what the queue
adds on top -- acknowledgement, leases, retries, dead letters and counts.

After every step the file is read directly and checked: no acknowledged request is
lost, none completes twice or comes back, the counts add up, the size limit holds,
no lease is handed to two workers at once. At the end every thread is gone.

>>> from rebellion.simulation._world import World
>>> world = World(seed=5, scenario="queue")
>>> run_queue(world)
>>> world.violations
[]
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar, final

from ..durable.queue import Delivery, PersistentRequestQueue, RetryableRequest
from ..errors import QueueFullError
from ..policies._backoff import Backoff
from ._world import World

__all__ = ["run_queue", "scratch_dir"]

T = TypeVar("T")


def scratch_dir() -> str:
    """Return a new temporary directory, in memory (``/dev/shm``) where there is one."""
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() else None
    return tempfile.mkdtemp(prefix="rebellion-sim-", dir=base)


@final
@dataclass
class _Model:
    acked: dict[str, int] = field(default_factory=dict)  # id -> enqueue step
    completed: set[str] = field(default_factory=set)
    unacknowledged: int = 0  # committed by a process that crashed before replying
    keys: dict[str, str] = field(default_factory=dict)
    held: list[tuple[int, Delivery]] = field(default_factory=list)


def run_queue(world: World) -> None:
    """Run one durable-queue schedule in ``world``, recording violations there."""
    directory = scratch_dir()
    loop = asyncio.new_event_loop()
    try:
        _Run(world, Path(directory) / "queue.db", loop).go()
    finally:
        loop.close()
        shutil.rmtree(directory, ignore_errors=True)


@final
class _Run:
    def __init__(self, world: World, path: Path, loop: asyncio.AbstractEventLoop) -> None:
        self.world = world
        self.path = path
        self.loop = loop
        rng = world.rng
        self.max_size = rng.randint(3, 12)
        self.backoff = Backoff(
            initial_delay=rng.uniform(0.5, 5.0), max_delay=30.0, backoff_factor=2.0, jitter="none"
        )
        self.model = _Model()
        self.aliases: dict[str, str] = {}
        self.processes: dict[int, PersistentRequestQueue] = {}
        self.next_pid = 0
        for _ in range(rng.randint(1, 3)):
            self.start_process()
        world.log(f"queue file with max_size={self.max_size}, {len(self.processes)} process(es)")
        self.reader = sqlite3.connect(path, isolation_level=None)

    def alias(self, rid: object) -> str:
        """Name a request by its order of appearance: ids are random, traces must not be."""
        if rid is None:
            return "nothing"
        return self.aliases.setdefault(str(rid), f"r{len(self.aliases) + 1}")

    def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def start_process(self) -> None:
        pid = self.next_pid
        self.next_pid += 1
        self.processes[pid] = PersistentRequestQueue(
            self.path,
            self.max_size,
            clock=self.world.clock,
            name=f"p{pid}",
            lease_timeout=10.0,
            retry_backoff=self.backoff,
        )
        self.world.log(f"process {pid} opens the queue")

    def crash(self, pid: int) -> None:
        # The process dies: the OS closes its files; nothing it held is released.
        self.processes.pop(pid).close()
        self.model.held = [(p, d) for p, d in self.model.held if p != pid]
        self.world.step(f"process {pid} crashes")
        self.start_process()

    def go(self) -> None:
        world = self.world
        try:
            for _ in range(world.rng.randint(10, 60)):
                self.one_step()
                self.check()
        finally:
            for queue in self.processes.values():
                queue.close()
            self.reader.close()
        alive = threading.active_count()
        world.check(
            alive <= world.threads_at_start,
            "leaks",
            f"{alive - world.threads_at_start} thread(s) left after closing every queue",
        )

    def one_step(self) -> None:
        world, rng, model = self.world, self.world.rng, self.model
        pid = rng.choice(sorted(self.processes))
        queue = self.processes[pid]
        action = rng.choices(
            ["enqueue", "crash-enqueue", "claim", "ack", "nack", "extend", "wait", "crash"],
            [6, 1, 5, 4, 2, 1, 3, 1],
        )[0]
        if action in ("ack", "nack", "extend") and not model.held:
            action = "claim"
        if action == "enqueue" or action == "crash-enqueue":
            key = f"k{rng.randint(0, 5)}" if world.chance(0.3) else None
            request = RetryableRequest(
                "sim.job", [rng.randint(0, 99)], max_retries=rng.randint(0, 3)
            )
            if key is not None:
                request = RetryableRequest("sim.job", [0], max_retries=1, idempotency_key=key)
            committed = action == "enqueue" or world.chance(0.5)
            if not committed:
                world.step(f"process {pid} dies before its enqueue commits")
                self.crash(pid)
                return
            try:
                rid = self.call(queue.enqueue(request, priority=rng.randint(0, 2)))
            except QueueFullError:
                world.step(f"process {pid} enqueue rejected: full")
                return
            if action == "crash-enqueue":
                world.step(
                    f"process {pid} dies: enqueue {self.alias(rid)} commits, before its reply"
                )
                if rid not in model.acked:
                    model.unacknowledged += 1
                    model.acked[rid] = -1  # stored, not acknowledged: still must not vanish
                self.crash(pid)
                return
            world.step(f"process {pid} enqueued {self.alias(rid)} (key {key})")
            if key is not None:
                first = model.keys.setdefault(key, rid)
                # A completed or dead request's key may have been forgotten: only live ones.
                world.check(
                    first == rid or first in model.completed or self.is_dead(first),
                    "idempotent",
                    f"key {key} gave {self.alias(rid)}, first enqueue gave {self.alias(first)}",
                )
                model.keys[key] = rid
            model.acked.setdefault(rid, world.steps)
        elif action == "claim":
            lease = rng.uniform(1.0, 30.0)
            delivery = self.call(queue.claim(lease))
            world.step(
                f"process {pid} claims for {lease:.1f}s: {self.alias(delivery and delivery.id)}"
            )
            if delivery is not None:
                now = world.clock.wall()
                until = max(
                    (d.lease_until for _, d in model.held if d.id == delivery.id), default=0
                )
                world.check(
                    until <= now,
                    "exclusive-lease",
                    f"{self.alias(delivery.id)} handed out again, held until {until:g}",
                )
                world.check(
                    delivery.id not in model.completed,
                    "no-resurrection",
                    f"completed request {self.alias(delivery.id)} delivered again",
                )
                model.held.append((pid, delivery))
                if world.chance(0.08):
                    world.step(f"process {pid} dies before it hears of the claim")
                    self.crash(pid)
        elif action in ("ack", "nack", "extend"):
            index = rng.randrange(len(model.held))
            owner, delivery = model.held[index]
            queue = self.processes[owner]
            if action == "ack":
                model.held.pop(index)
                reclaimed = self.is_leased_elsewhere(delivery)
                done = self.call(queue.ack(delivery))
                world.step(f"process {owner} acks {self.alias(delivery.id)}: {done}")
                if done:
                    world.check(
                        delivery.id not in model.completed,
                        "exactly-once-ack",
                        f"{self.alias(delivery.id)} acknowledged as done twice",
                    )
                    world.check(
                        not reclaimed,
                        "exclusive-lease",
                        f"stale lease of {self.alias(delivery.id)} acked, another worker holds it",
                    )
                    model.completed.add(delivery.id)
                if world.chance(0.08):
                    world.step(f"process {owner} dies before it hears of the ack")
                    self.crash(owner)
            elif action == "nack":
                model.held.pop(index)
                self.call(queue.nack(delivery, "simulated failure"))
                world.step(f"process {owner} nacks {self.alias(delivery.id)}")
            else:
                seconds = rng.uniform(1.0, 20.0)
                kept = self.call(queue.extend_lease(delivery, seconds))
                world.step(
                    f"process {owner} extends {self.alias(delivery.id)} by {seconds:.1f}s: {kept}"
                )
                if kept:
                    model.held[index] = (owner, _extended(delivery, world.clock.wall() + seconds))
                else:
                    model.held.pop(index)
        elif action == "wait":
            seconds = rng.choice([0.5, 2.0, 10.0, 40.0])
            world.clock.advance(seconds)
            world.step(f"{seconds}s pass")
        else:
            self.crash(pid)

    def is_dead(self, rid: str) -> bool:
        return bool(
            self.reader.execute("SELECT 1 FROM dead_letters WHERE id = ?", (rid,)).fetchone()
        )

    def is_leased_elsewhere(self, delivery: Delivery) -> bool:
        row = self.reader.execute(
            "SELECT lease_token FROM requests WHERE id = ?", (delivery.id,)
        ).fetchone()
        return bool(row and row[0] and row[0] != delivery.lease_token)

    def check(self) -> None:
        world, model = self.world, self.model
        rows = [r[0] for r in self.reader.execute("SELECT id FROM requests")]
        dead = {r[0] for r in self.reader.execute("SELECT id FROM dead_letters")}
        done = self.reader.execute("SELECT value FROM meta WHERE name = 'done'").fetchone()[0]
        stored = set(rows)
        world.check(
            len(stored) == len(rows),
            "unique",
            f"duplicate request rows: {sorted(self.alias(r) for r in rows)}",
        )
        lost = [r for r in model.acked if r not in model.completed and r not in stored | dead]
        world.check(
            not lost, "no-loss", f"acknowledged requests gone: {[self.alias(r) for r in lost]}"
        )
        back = model.completed & (stored | dead)
        world.check(
            not back,
            "no-resurrection",
            f"completed requests still queued: {sorted(self.alias(r) for r in back)}",
        )
        world.check(
            done == len(model.completed),
            "counts",
            f"file counts {done} done, workers completed {len(model.completed)}",
        )
        world.check(
            len(stored) + len(dead) + done == len(model.acked),
            "counts",
            f"{len(stored)} queued + {len(dead)} dead + {done} done != "
            f"{len(model.acked)} stored requests",
        )
        world.check(
            len(stored) <= self.max_size,
            "limit",
            f"{len(stored)} requests queued, max_size {self.max_size}",
        )
        for pid, queue in sorted(self.processes.items()):
            s = queue.stats()
            queued = s["pending"] + s["delayed"] + s["leased"]
            world.check(
                (queued, s["dead"], s["done"]) == (len(stored), len(dead), done),
                "counts",
                f"process {pid} stats {queued} queued/{s['dead']} dead/{s['done']} done, "
                f"file {len(stored)}/{len(dead)}/{done}",
            )


def _extended(delivery: Delivery, until: float) -> Delivery:
    return Delivery(
        delivery.id,
        delivery.operation,
        delivery.args,
        delivery.kwargs,
        delivery.priority,
        delivery.attempt,
        delivery.max_retries,
        delivery.lease_token,
        until,
    )
